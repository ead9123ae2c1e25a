// `pbmem bench MODEL [--input-shape NAME=d0,...]... [--batch N] [--runs N] [--warmup N]
// [--threads N] [--json]`: times load (mmap + parse + prepare for the given shapes) and repeated
// runs on seeded random inputs, and prints the median, p10 and p90 latency, throughput and the
// conv/matmul GFLOP/s achieved. Runs are timed one by one with a monotonic clock; percentiles are
// nearest-rank over the timed runs, so a noisy machine shows in p90, not in the median.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/commands.h"
#include "cli/input_args.h"
#include "cli/memory_report.h"
#include "runtime/model.h"

namespace pbmem::cli {

namespace {

constexpr int kJsonIndent = 2;
constexpr int kMaxRuns = 1000000;
constexpr double kP10 = 0.10;
constexpr double kP90 = 0.90;
constexpr double kMillisPerSecond = 1000.0;
constexpr double kFlopsPerGiga = 1e9;
constexpr uint32_t kInputSeed = 20261128;
// Random float inputs lie in [-1, 1), as normalised images do.
constexpr float kInputLow = -1.0f;
constexpr float kInputHigh = 1.0f;

using Clock = std::chrono::steady_clock;

double elapsed_ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double fraction) {
  size_t rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

double median(const std::vector<double>& sorted) {
  size_t n = sorted.size();
  return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

Status check_flags(const BenchArgs& args) {
  if (args.threads < 0) {
    return invalid_argument("--threads must be >= 0 (0 = all cores), got ", args.threads);
  }
  if (args.runs < 1 || args.runs > kMaxRuns) {
    return invalid_argument("--runs must be in [1, ", kMaxRuns, "], got ", args.runs);
  }
  if (args.warmup < 0 || args.warmup > kMaxRuns) {
    return invalid_argument("--warmup must be in [0, ", kMaxRuns, "], got ", args.warmup);
  }
  return ok_status();
}

// Seeded inputs of each fed input's dtype: floats uniform in [-1, 1), integers and bools zero
// (indices and masks of any range could be out of bounds for the graph).
Result<std::map<std::string, Tensor>> make_inputs(const Model& model,
                                                  const std::map<std::string, Shape>& shapes) {
  std::mt19937 rng(kInputSeed);
  std::uniform_real_distribution<float> uniform(kInputLow, kInputHigh);
  std::map<std::string, Tensor> inputs;
  for (const TensorSpec& spec : model.inputs()) {
    if (spec.has_default) continue;
    auto given = shapes.find(spec.name);
    Shape shape = given != shapes.end() ? given->second : spec.shape;
    if (!shape.fully_defined()) {
      return invalid_argument("input ", describe_spec(spec),
                              " has unknown dims: give --batch N or --input-shape ", spec.name,
                              "=d0,d1,...");
    }
    PBMEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(spec.dtype, shape));
    if (spec.dtype == DType::kFloat) {
      float* data = t.data<float>();
      for (int64_t i = 0; i < t.num_elements(); ++i) data[i] = uniform(rng);
    } else {
      std::fill_n(static_cast<uint8_t*>(t.raw_data()), t.num_bytes(), uint8_t{0});
    }
    inputs.emplace(spec.name, std::move(t));
  }
  return inputs;
}

// The batch the numbers are per: the first dim of the first input (1 for scalars).
int64_t batch_of(const std::map<std::string, Tensor>& inputs) {
  for (const auto& [name, t] : inputs) {
    if (t.shape().rank() > 0) return t.shape().dim(0);
  }
  return 1;
}

}  // namespace

Status bench_command(const BenchArgs& args) {
  PBMEM_RETURN_IF_ERROR(check_flags(args));
  int64_t batch = 0;
  if (args.has_batch) {
    PBMEM_ASSIGN_OR_RETURN(batch, parse_batch_flag(args.batch));
  }
  Clock::time_point load_start = Clock::now();
  PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(args.model));
  double parse_ms = elapsed_ms(load_start);
  PBMEM_ASSIGN_OR_RETURN(auto shapes, parse_input_shapes(*model, args.input_shapes));
  if (batch > 0) PBMEM_RETURN_IF_ERROR(apply_batch(*model, batch, &shapes));
  SessionOptions options;
  options.num_threads = args.threads;
  PBMEM_ASSIGN_OR_RETURN(options.weights, parse_weights_flag(args.weights));
  options.fuse = !args.no_fuse;
  PBMEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, options));
  PBMEM_ASSIGN_OR_RETURN(auto inputs, make_inputs(*model, shapes));
  std::map<std::string, Shape> fed_shapes;
  for (const auto& [name, t] : inputs) fed_shapes.emplace(name, t.shape());
  Clock::time_point prepare_start = Clock::now();
  PBMEM_ASSIGN_OR_RETURN(MemoryPlanReport plan, session->plan(fed_shapes));
  double prepare_ms = elapsed_ms(prepare_start);
  double load_ms = elapsed_ms(load_start);

  for (int i = 0; i < args.warmup; ++i) PBMEM_RETURN_IF_ERROR(session->run(inputs).status());
  std::vector<double> times;
  times.reserve(static_cast<size_t>(args.runs));
  for (int i = 0; i < args.runs; ++i) {
    Clock::time_point start = Clock::now();
    PBMEM_RETURN_IF_ERROR(session->run(inputs).status());
    times.push_back(elapsed_ms(start));
  }
  std::sort(times.begin(), times.end());
  PBMEM_ASSIGN_OR_RETURN(double flops, session->flops());
  const int64_t batch_size = batch_of(inputs);
  const double median_ms = median(times);
  const double throughput = static_cast<double>(batch_size) * kMillisPerSecond / median_ms;
  const double gflops_per_s = flops / kFlopsPerGiga / (median_ms / kMillisPerSecond);

  if (args.json) {
    nlohmann::json out = {
        {"model", model->path()},          {"batch", batch_size},
        {"threads", args.threads},         {"runs", args.runs},
        {"warmup", args.warmup},           {"load_ms", load_ms},
        {"parse_ms", parse_ms},            {"prepare_ms", prepare_ms},
        {"median_ms", median_ms},          {"p10_ms", percentile(times, kP10)},
        {"p90_ms", percentile(times, kP90)}, {"min_ms", times.front()},
        {"max_ms", times.back()},          {"throughput_per_s", throughput},
        {"gflops", flops / kFlopsPerGiga}, {"gflops_per_s", gflops_per_s},
        {"max_bytes_in_use", session->max_bytes_in_use()},
        {"weights", args.weights},
        {"weights_packed_bytes", plan.weights_packed_bytes},
        {"weights_mapped_bytes", plan.weights_mapped_bytes},
        {"steps", plan.num_steps},         {"fused_nodes", plan.fused_nodes}};
    std::printf("%s\n",
                out.dump(kJsonIndent, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return ok_status();
  }
  std::printf("model       %s (batch %lld, %d runs after %d warm-up)\n", model->path().c_str(),
              static_cast<long long>(batch_size), args.runs, args.warmup);
  std::printf("load        %.1f ms (parse %.1f ms, prepare %.1f ms)\n", load_ms, parse_ms,
              prepare_ms);
  std::printf("latency     median %.3f ms, p10 %.3f ms, p90 %.3f ms\n", median_ms,
              percentile(times, kP10), percentile(times, kP90));
  std::printf("throughput  %.1f samples/s\n", throughput);
  std::printf("compute     %.2f GFLOP per run (conv/matmul), %.1f GFLOP/s\n",
              flops / kFlopsPerGiga, gflops_per_s);
  std::printf("memory      max_bytes_in_use %s\n", human_bytes(session->max_bytes_in_use()).c_str());
  std::printf("weights     %s: %s mapped (%d layers) + %s packed (%d layers)\n", args.weights.c_str(),
              human_bytes(plan.weights_mapped_bytes).c_str(), plan.weights_mapped_layers,
              human_bytes(plan.weights_packed_bytes).c_str(), plan.weights_packed_layers);
  std::printf("graph       %d steps, %d nodes computed by a neighbour (fusion)\n",
              plan.num_steps, plan.fused_nodes);
  return ok_status();
}

}  // namespace pbmem::cli
