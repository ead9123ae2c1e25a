// The `pbmem` command line: inspect, run, plan, fit, bench, report, example, ops. Every
// failure — a bad flag, a bad file, a failed run, even an unexpected exception — ends as one
// line "pbmem: error: <message>" on stderr and exit code 1. `run --input-dir` that skipped bad
// input files exits with 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iterator>
#include <new>
#include <string>

#include "cli/commands.h"
#include "cli/version.h"
#include "example/mobilenet_example.h"
#include "kernels/dnnl_adapter.h"
#include "kernels/kernel.h"

namespace pbmem::cli {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr uint64_t kDefaultExampleSeed = 1;
constexpr char kMemoryLimitHelp[] =
    "SIZE: hard cap on the bytes pbmem allocates, e.g. 512MiB, 1.5GiB (binary, 1024-based) or "
    "64MB, 2G, 512k (decimal: a bare k/M/G/T means KB/MB/GB/TB = 10^3/10^6/10^9/10^12), or plain "
    "bytes; a plan that does not fit is refused before anything runs";
constexpr char kWeightsHelp[] =
    "packed|mapped: constant conv/matmul weights reordered into packed copies (default, fastest) "
    "or read in place from the mapped file in TF's layout where oneDNN allows it (less memory; "
    "the rest is packed)";

// Status messages may span lines (lists of unsupported ops); the CLI prints exactly one line.
std::string one_line(const std::string& message) {
  std::string out;
  bool first_break = true;
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] != '\n') {
      out += message[i];
      continue;
    }
    while (i + 1 < message.size() && (message[i + 1] == ' ' || message[i + 1] == '\t')) ++i;
    if (!out.empty() && out.back() != ' ') out += first_break && out.back() == ':' ? " " : "; ";
    first_break = false;
  }
  return out;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "pbmem: error: %s\n", one_line(message).c_str());
  return kExitError;
}

int finish(const Status& status) {
  std::fflush(stdout);
  return status.ok() ? kExitOk : fail(status.message());
}

int finish_batch(const Result<BatchRunOutcome>& outcome) {
  if (!outcome.ok()) return finish(outcome.status());
  std::fflush(stdout);
  return outcome->skipped_files > 0 ? kExitSkippedInputs : kExitOk;
}

Status ops_command() {
  for (const std::string& op : OpRegistry::global().ops()) std::printf("%s\n", op.c_str());
  return ok_status();
}

// CLI11 would accept "-5" for a uint64_t and wrap it around; seeds are plain decimal numbers.
Result<uint64_t> parse_seed(const std::string& text) {
  uint64_t value = 0;
  constexpr uint64_t kBase = 10;
  for (char c : text) {
    if (c < '0' || c > '9' || __builtin_mul_overflow(value, kBase, &value) ||
        __builtin_add_overflow(value, static_cast<uint64_t>(c - '0'), &value)) {
      return invalid_argument("--seed must be an integer in [0, 2^64), got '", text, "'");
    }
  }
  if (text.empty()) return invalid_argument("--seed must not be empty");
  return value;
}

Status example_command(const std::string& path, uint64_t seed) {
  PBMEM_RETURN_IF_ERROR(write_example_model(path, seed));
  std::printf("wrote %s (MobileNet v1 shaped, 224x224x3 input, seed %llu)\n", path.c_str(),
              static_cast<unsigned long long>(seed));
  return ok_status();
}

// Vector options take every following value, so `run --input a=x.npy model.pb ...` puts the
// model path into --input. Values of `with_equals` flags (--input, --input-shape) always contain
// '=', so a value without one is the model (several such values stay in the first list, to be
// reported as malformed); for --output (whose values may be bare names) a trailing value of the
// last flag on the command line is the model, else the value that names an existing file.
void recover_model_positional(const CLI::App& command, std::string* model,
                              const std::vector<std::vector<std::string>*>& with_equals,
                              std::vector<std::string>* outputs) {
  if (!model->empty()) return;
  std::vector<std::string> stray;
  for (std::vector<std::string>* values : with_equals) {
    for (auto it = values->begin(); it != values->end();) {
      if (it->find('=') == std::string::npos) {
        stray.push_back(*it);
        it = values->erase(it);
      } else {
        ++it;
      }
    }
  }
  if (stray.size() == 1) {
    *model = stray[0];
    return;
  }
  if (!stray.empty()) {
    with_equals.front()->insert(with_equals.front()->end(), stray.begin(), stray.end());
    return;
  }
  if (outputs == nullptr || outputs->empty() || outputs->back().find('=') != std::string::npos) return;
  if (!command.parse_order().empty() && command.parse_order().back()->check_name("--output")) {
    *model = outputs->back();
    outputs->pop_back();
    return;
  }
  // `plan --output probs model.pb --batch 1`: the model is the --output value that is a file.
  for (auto it = outputs->rbegin(); it != outputs->rend(); ++it) {
    std::error_code ec;
    if (it->find('=') == std::string::npos && std::filesystem::is_regular_file(*it, ec)) {
      *model = *it;
      outputs->erase(std::next(it).base());
      return;
    }
  }
}

int run_cli(int argc, char** argv) {
  CLI::App app("pbmem: runs frozen TensorFlow models (.pb GraphDef) on the CPU", "pbmem");
  // A lambda, so that oneDNN looks at the CPU only when --version is asked for.
  app.set_version_flag("--version", [] {
    const dnnl_adapter::LibraryInfo dnnl = dnnl_adapter::library_info();
    return std::string("pbmem ") + kPbmemVersion + " (oneDNN " + dnnl.version + ", CPU ISA " +
           dnnl.cpu_isa + ")";
  });
  app.require_subcommand(1);

  InspectArgs inspect_args;
  CLI::App* inspect = app.add_subcommand("inspect", "Show a model's inputs, outputs, ops and size");
  inspect->add_option("model", inspect_args.model, "Frozen GraphDef (.pb)")->required();
  inspect->add_flag("--json", inspect_args.json, "Print JSON instead of text");

  RunArgs run_args;
  CLI::App* run = app.add_subcommand("run", "Run a model on .npy inputs");
  run->add_option("model", run_args.model, "Frozen GraphDef (.pb)");
  run->add_option("--input,-i", run_args.inputs, "NAME=FILE.npy (name or name:0), one per input");
  run->add_option("--output,-o", run_args.outputs,
                  "NAME or NAME=FILE.npy: outputs to compute (default: the graph's sinks)");
  run->add_option("--output-dir", run_args.output_dir,
                  "Write each output as DIR/<name with / and : replaced by _>.npy");
  run->add_option("--input-shape", run_args.input_shapes,
                  "NAME=d0,d1,...: concrete shape for an input with unknown dims");
  run->add_option("--stats-json", run_args.stats_json,
                  "Write the run's memory stats (max_bytes_in_use, ..., by_category) as JSON");
  run->add_option("--trace", run_args.trace,
                  "Write a Chrome trace of the run (chrome://tracing, Perfetto): one event per "
                  "op, bytes in use as counters");
  run->add_option("--threads", run_args.threads, "Worker threads (0 = all cores)");
  run->add_option("--weights", run_args.weights, kWeightsHelp);
  CLI::Option* run_limit = run->add_option("--memory-limit", run_args.memory_limit, kMemoryLimitHelp);
  run->add_option("--input-dir", run_args.input_dir,
                  "DIR: run every .npy in DIR (one sample, or stacked samples with a leading batch "
                  "dim) in batches; one output file per input in --output-dir, named after it "
                  "(<stem>.npy, or <stem>.<output>.npy for several outputs). Bad files are reported "
                  "and skipped: exit code 2 when any was");
  run->add_option("--batch", run_args.batch,
                  "N or auto, with --input-dir: samples per batch (default 1); auto = the largest "
                  "that fits --memory-limit; capped at the number of samples");

  PlanArgs plan_args;
  CLI::App* plan = app.add_subcommand(
      "plan", "Show the memory plan for given input shapes (predicted peak), without running");
  plan->add_option("model", plan_args.model, "Frozen GraphDef (.pb)");
  plan->add_option("--input-shape", plan_args.input_shapes,
                   "NAME=d0,d1,...: concrete shape for an input (overrides --batch)");
  CLI::Option* batch = plan->add_option(
      "--batch", plan_args.batch, "N: the first dim of every input whose first dim is unknown");
  plan->add_option("--output,-o", plan_args.outputs,
                   "NAME: outputs to plan for (default: the graph's sinks)");
  plan->add_flag("--json", plan_args.json, "Print JSON instead of text");
  plan->add_flag("--ascii", plan_args.ascii, "Add the plan picture (one line per step)");
  plan->add_option("--threads", plan_args.threads, "Worker threads (0 = all cores)");
  plan->add_option("--weights", plan_args.weights, kWeightsHelp);
  CLI::Option* plan_limit = plan->add_option("--memory-limit", plan_args.memory_limit, kMemoryLimitHelp);

  FitArgs fit_args;
  CLI::App* fit = app.add_subcommand(
      "fit", "Find the largest batch whose predicted peak fits a memory limit (plans only, never runs)");
  fit->add_option("model", fit_args.model, "Frozen GraphDef (.pb)");
  fit->add_option("--memory-limit", fit_args.memory_limit, kMemoryLimitHelp)->required();
  fit->add_option("--input-shape", fit_args.input_shapes,
                  "NAME=d0,d1,...: shape of an input; the first dim of a batched input is searched");
  fit->add_option("--output,-o", fit_args.outputs, "NAME: outputs to plan for (default: the graph's sinks)");
  fit->add_flag("--json", fit_args.json, "Print JSON instead of text");
  fit->add_option("--threads", fit_args.threads, "Worker threads (0 = all cores)");
  fit->add_option("--weights", fit_args.weights, kWeightsHelp);

  BenchArgs bench_args;
  CLI::App* bench = app.add_subcommand(
      "bench", "Time load and runs on random inputs: median/p10/p90 latency, throughput, GFLOP/s");
  bench->add_option("model", bench_args.model, "Frozen GraphDef (.pb)");
  bench->add_option("--input-shape", bench_args.input_shapes,
                    "NAME=d0,d1,...: concrete shape for an input (overrides --batch)");
  CLI::Option* bench_batch = bench->add_option(
      "--batch", bench_args.batch, "N: the first dim of every input whose first dim is unknown");
  bench->add_option("--runs", bench_args.runs, "Timed runs (default 20)");
  bench->add_option("--warmup", bench_args.warmup, "Untimed runs first (default 3)");
  bench->add_option("--threads", bench_args.threads, "Worker threads (0 = all cores)");
  bench->add_option("--weights", bench_args.weights, kWeightsHelp);
  bench->add_flag("--json", bench_args.json, "Print JSON instead of text");
  bench->add_flag("--no-fuse", bench_args.no_fuse,
                  "Run every op on its own (no conv/matmul epilogue fusion), for comparison");

  ReportArgs report_args;
  CLI::App* report = app.add_subcommand(
      "report", "Write a self-contained HTML memory report: plan plot, live tensors, weights, fit");
  report->add_option("model", report_args.model, "Frozen GraphDef (.pb)");
  report->add_option("--input-shape", report_args.input_shapes,
                     "NAME=d0,d1,...: concrete shape for an input (overrides --batch)");
  CLI::Option* report_batch = report->add_option(
      "--batch", report_args.batch,
      "N: the first dim of every input whose first dim is unknown (default 1)");
  report->add_option("--out,-o", report_args.out, "The HTML file to write")->required();
  report->add_option("--threads", report_args.threads, "Worker threads (0 = all cores)");
  report->add_option("--weights", report_args.weights, kWeightsHelp);

  std::string example_path;
  std::string example_seed_text = std::to_string(kDefaultExampleSeed);
  CLI::App* example =
      app.add_subcommand("example", "Write the built-in MobileNet-v1-shaped example model");
  example->add_option("out", example_path, "Output .pb path")->required();
  example->add_option("--seed", example_seed_text, "Seed of the random weights (default 1)");

  CLI::App* ops = app.add_subcommand("ops", "List the supported TensorFlow ops");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    return fail(e.what());
  }

  if (inspect->parsed()) return finish(inspect_command(inspect_args));
  if (run->parsed()) {
    recover_model_positional(*run, &run_args.model, {&run_args.inputs, &run_args.input_shapes},
                             &run_args.outputs);
    if (run_args.model.empty()) return fail("run: the MODEL argument is required");
    run_args.has_memory_limit = run_limit->count() > 0;
    if (!run_args.input_dir.empty()) return finish_batch(batch_run_command(run_args));
    if (!run_args.batch.empty()) return fail("--batch needs --input-dir (batch processing of a directory)");
    return finish(run_command(run_args));
  }
  if (plan->parsed()) {
    recover_model_positional(*plan, &plan_args.model, {&plan_args.input_shapes},
                             &plan_args.outputs);
    if (plan_args.model.empty()) return fail("plan: the MODEL argument is required");
    plan_args.has_batch = batch->count() > 0;
    plan_args.has_memory_limit = plan_limit->count() > 0;
    return finish(plan_command(plan_args));
  }
  if (fit->parsed()) {
    recover_model_positional(*fit, &fit_args.model, {&fit_args.input_shapes}, &fit_args.outputs);
    if (fit_args.model.empty()) return fail("fit: the MODEL argument is required");
    return finish(fit_command(fit_args));
  }
  if (bench->parsed()) {
    recover_model_positional(*bench, &bench_args.model, {&bench_args.input_shapes}, nullptr);
    if (bench_args.model.empty()) return fail("bench: the MODEL argument is required");
    bench_args.has_batch = bench_batch->count() > 0;
    return finish(bench_command(bench_args));
  }
  if (report->parsed()) {
    std::vector<std::string> no_outputs;
    recover_model_positional(*report, &report_args.model, {&report_args.input_shapes},
                             &no_outputs);
    if (report_args.model.empty()) return fail("report: the MODEL argument is required");
    report_args.has_batch = report_batch->count() > 0;
    return finish(report_command(report_args));
  }
  if (example->parsed()) {
    Result<uint64_t> seed = parse_seed(example_seed_text);
    return finish(seed.ok() ? example_command(example_path, *seed) : seed.status());
  }
  if (ops->parsed()) return finish(ops_command());
  return fail("a subcommand is required (inspect, run, plan, fit, bench, report, example, ops)");
}

}  // namespace

}  // namespace pbmem::cli

int main(int argc, char** argv) {
  try {
    return pbmem::cli::run_cli(argc, argv);
  } catch (const std::bad_alloc&) {
    return pbmem::cli::fail("out of memory");
  } catch (const std::exception& e) {
    return pbmem::cli::fail(std::string("unexpected failure: ") + e.what());
  } catch (...) {
    return pbmem::cli::fail("unexpected failure");
  }
}
