// `pbmem run MODEL --input NAME=FILE.npy ... [--output NAME[=FILE.npy] ...] [--output-dir DIR]
// [--input-shape NAME=d0,d1,...] [--stats-json FILE] [--trace FILE.json] [--threads N]
// [--memory-limit SIZE]`.
//
// Every flag is validated before the model runs, and output files are written only after the
// whole run succeeded, so a failure never leaves a partial set of outputs behind. After a run, a
// one-line memory summary goes to stderr (stdout stays the outputs' summaries).
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "cli/commands.h"
#include "cli/input_args.h"
#include "cli/memory_report.h"
#include "io/npy.h"
#include "runtime/model.h"
#include "runtime/trace.h"

namespace pbmem::cli {

namespace {

namespace fs = std::filesystem;

// "conv/out:1" -> "conv_out_1", a safe file name.
std::string sanitize(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (c == '/' || c == ':') c = '_';
  }
  return out;
}

struct Feeds {
  std::map<std::string, Tensor> tensors;  // by canonical input name
  std::map<std::string, Shape> shapes;    // --input-shape, by canonical input name
};

Result<Feeds> read_feeds(const Model& model, const RunArgs& args) {
  Feeds feeds;
  PBMEM_ASSIGN_OR_RETURN(feeds.shapes, parse_input_shapes(model, args.input_shapes));
  for (const std::string& text : args.inputs) {
    PBMEM_ASSIGN_OR_RETURN(NameValue arg, split_arg("--input", text, true, "NAME=FILE.npy"));
    PBMEM_ASSIGN_OR_RETURN(TensorSpec spec, find_input(model, "--input", arg.name));
    if (feeds.tensors.count(spec.name)) {
      return invalid_argument("--input: input '", spec.name, "' is given twice");
    }
    auto tensor = read_npy(arg.value);
    if (!tensor.ok()) return tensor.status().with_context("--input " + text);
    if (spec.dtype != DType::kInvalid && tensor->dtype() != spec.dtype) {
      return invalid_argument("--input ", text, ": file '", arg.value, "' holds ",
                              dtype_name(tensor->dtype()), " ", tensor->shape().str(),
                              " but input ", describe_spec(spec), " needs ",
                              dtype_name(spec.dtype));
    }
    auto fixed = feeds.shapes.find(spec.name);
    if (fixed != feeds.shapes.end() && fixed->second != tensor->shape()) {
      return invalid_argument("--input ", text, ": file '", arg.value, "' has shape ",
                              tensor->shape().str(), " but --input-shape sets ",
                              fixed->second.str());
    }
    feeds.tensors.emplace(spec.name, std::move(tensor).value());
  }
  return feeds;
}

// Fails, naming the input, when a Placeholder the outputs depend on has no --input.
Status check_required_inputs(const Model& model, const Session& session, const Feeds& feeds) {
  const Graph& graph = model.graph();
  std::vector<int> targets;
  for (const std::string& name : session.output_names()) {
    PBMEM_ASSIGN_OR_RETURN(TensorRef ref, graph.resolve(name));
    targets.push_back(ref.node);
  }
  PBMEM_ASSIGN_OR_RETURN(std::vector<int> order, graph.schedule(targets));
  for (int index : order) {
    const Node& node = graph.node(index);
    if (node.op != "Placeholder" || feeds.tensors.count(node.name)) continue;
    for (const TensorSpec& spec : model.inputs()) {
      if (spec.name == node.name) {
        return invalid_argument("missing input ", describe_spec(spec), ": give it with --input ",
                                node.name, "=FILE.npy");
      }
    }
    return invalid_argument("missing input '", node.name, "': give it with --input ", node.name,
                            "=FILE.npy");
  }
  return ok_status();
}

struct OutputPlan {
  std::vector<std::string> names;            // requested names, in flag order (empty: sinks)
  std::map<std::string, std::string> files;  // output name -> file given with --output NAME=FILE
};

Result<OutputPlan> plan_outputs(const RunArgs& args) {
  OutputPlan plan;
  for (const std::string& text : args.outputs) {
    PBMEM_ASSIGN_OR_RETURN(NameValue arg,
                           split_arg("--output", text, false, "NAME or NAME=FILE.npy"));
    for (const std::string& seen : plan.names) {
      if (seen == arg.name)
        return invalid_argument("--output: output '", arg.name, "' is given twice");
    }
    plan.names.push_back(arg.name);
    if (!arg.has_value) continue;
    fs::path parent = fs::path(arg.value).parent_path();
    std::error_code ec;
    if (!parent.empty() && !fs::is_directory(parent, ec)) {
      return invalid_argument("--output ", text, ": directory '", parent.string(),
                              "' does not exist");
    }
    plan.files[arg.name] = arg.value;
  }
  if (!args.output_dir.empty()) {
    std::error_code ec;
    if (fs::exists(args.output_dir, ec) && !fs::is_directory(args.output_dir, ec)) {
      return invalid_argument("--output-dir '", args.output_dir, "' exists and is not a directory");
    }
  }
  return plan;
}

// Where each output goes: the --output file, else DIR/<sanitized name>.npy, else nowhere.
Result<std::vector<std::pair<std::string, std::string>>> destinations(
    const std::vector<std::string>& names, const OutputPlan& plan, const std::string& output_dir) {
  std::vector<std::pair<std::string, std::string>> out;
  std::map<std::string, std::string> owner;  // normalised path -> output name
  for (const std::string& name : names) {
    std::string path;
    auto file = plan.files.find(name);
    if (file != plan.files.end()) {
      path = file->second;
    } else if (!output_dir.empty()) {
      path = (fs::path(output_dir) / (sanitize(name) + ".npy")).string();
    } else {
      continue;
    }
    std::string key = fs::path(path).lexically_normal().string();
    auto [it, inserted] = owner.emplace(key, name);
    if (!inserted) {
      return invalid_argument("outputs '", it->second, "' and '", name,
                              "' would both be written to '", path, "'");
    }
    out.emplace_back(name, path);
  }
  return out;
}

Status write_outputs(const std::vector<std::pair<std::string, std::string>>& files,
                     const std::map<std::string, Tensor>& results, const std::string& output_dir) {
  if (files.empty()) return ok_status();
  for (const auto& [name, path] : files) {
    const Tensor& t = results.at(name);
    if (!npy_can_store(t.dtype())) {
      return unimplemented("output '", name, "' is ", dtype_name(t.dtype()),
                           ", which cannot be saved as .npy; nothing was written");
    }
  }
  if (!output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(output_dir, ec);
    if (ec) return io_error("--output-dir: cannot create '", output_dir, "': ", ec.message());
  }
  for (const auto& [name, path] : files) {
    Status status = write_npy(results.at(name), path);
    if (!status.ok()) return status.with_context("output '" + name + "'");
    std::printf("wrote %s\n", path.c_str());
  }
  return ok_status();
}

// --stats-json / --trace FILE: its directory must exist, and it must be neither a directory nor
// one of the output files.
Status check_stats_path(const std::string& path,
                        const std::vector<std::pair<std::string, std::string>>& files,
                        const char* flag = "--stats-json") {
  if (path.empty()) return ok_status();
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    return invalid_argument(flag, " '", path, "': directory '", parent.string(),
                            "' does not exist");
  }
  if (fs::is_directory(path, ec)) {
    return invalid_argument(flag, " '", path, "' is a directory");
  }
  std::string key = fs::path(path).lexically_normal().string();
  for (const auto& [name, file] : files) {
    if (fs::path(file).lexically_normal().string() == key) {
      return invalid_argument(flag, " '", path, "' is also where output '", name,
                              "' would be written");
    }
  }
  return ok_status();
}

// --trace FILE.json: checked like --stats-json, and not the stats file itself.
Status check_trace_path(const RunArgs& args,
                        const std::vector<std::pair<std::string, std::string>>& files) {
  if (args.trace.empty()) return ok_status();
  PBMEM_RETURN_IF_ERROR(check_stats_path(args.trace, files, "--trace"));
  if (!args.stats_json.empty() && fs::path(args.trace).lexically_normal() ==
                                      fs::path(args.stats_json).lexically_normal()) {
    return invalid_argument("--trace '", args.trace, "' is also the --stats-json file");
  }
  return ok_status();
}

// After a successful run: the stats file (when asked for) and the one-line summary on stderr.
Status report_memory(const Session& session, const std::string& stats_path) {
  SessionStats stats = session.stats();
  std::optional<int64_t> peak_rss = peak_rss_bytes();
  if (!stats_path.empty()) {
    Status status = write_json_file(stats_path, stats_json(stats, peak_rss));
    if (!status.ok()) return status.with_context("--stats-json");
  }
  std::fflush(stdout);
  std::fprintf(stderr, "%s\n", run_summary_line(stats, session.last_plan(), peak_rss).c_str());
  return ok_status();
}

}  // namespace

Status run_command(const RunArgs& args) {
  if (args.threads < 0) {
    return invalid_argument("--threads must be >= 0 (0 = all cores), got ", args.threads);
  }
  int64_t memory_limit = 0;
  if (args.has_memory_limit) {
    PBMEM_ASSIGN_OR_RETURN(memory_limit, parse_memory_limit_flag(args.memory_limit));
  }
  PBMEM_ASSIGN_OR_RETURN(OutputPlan plan, plan_outputs(args));
  PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(args.model));
  PBMEM_ASSIGN_OR_RETURN(Feeds feeds, read_feeds(*model, args));

  SessionOptions options;
  options.num_threads = args.threads;
  PBMEM_ASSIGN_OR_RETURN(options.weights, parse_weights_flag(args.weights));
  options.outputs = plan.names;
  options.input_shapes = feeds.shapes;
  options.memory_limit = memory_limit;
  PBMEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, options));
  PBMEM_RETURN_IF_ERROR(check_required_inputs(*model, *session, feeds));
  const std::vector<std::string>& names = session->output_names();
  PBMEM_ASSIGN_OR_RETURN(auto files, destinations(names, plan, args.output_dir));
  PBMEM_RETURN_IF_ERROR(check_stats_path(args.stats_json, files));
  PBMEM_RETURN_IF_ERROR(check_trace_path(args, files));

  TraceRecorder trace(*session);
  RunOptions run_options;
  if (!args.trace.empty()) run_options.observer = &trace;
  PBMEM_ASSIGN_OR_RETURN(auto results, session->run(feeds.tensors, run_options));
  for (const std::string& name : names) {
    auto it = results.find(name);
    if (it == results.end())
      return internal_error("the session returned no value for output '", name, "'");
    print_tensor_summary(name, it->second);
  }
  PBMEM_RETURN_IF_ERROR(write_outputs(files, results, args.output_dir));
  if (!args.trace.empty()) {
    Status written = write_json_file(args.trace, trace.trace_json(model->path()));
    if (!written.ok()) return written.with_context("--trace");
    std::printf("wrote %s\n", args.trace.c_str());
  }
  return report_memory(*session, args.stats_json);
}

}  // namespace pbmem::cli
