// `pbmem fit MODEL --memory-limit SIZE [--input-shape NAME=d0,d1,...]... [--output NAME]...
// [--json] [--threads N]`: the largest batch whose predicted peak fits the limit, found over the
// static plan (runtime/fit.h) without running the model, with the peaks at that batch and the
// next. A limit that even batch 1 exceeds is an error that says what batch 1 needs.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/input_args.h"
#include "core/byte_size.h"
#include "runtime/fit.h"

namespace pbmem::cli {

namespace {

constexpr int kJsonIndent = 2;

}  // namespace

Result<int64_t> parse_memory_limit_flag(const std::string& text) {
  ByteSizeOptions options;
  options.what = "--memory-limit";
  return parse_byte_size(text, options);
}

Result<WeightsMode> parse_weights_flag(const std::string& text) {
  return parse_weights_mode(text, "--weights");
}

Status fit_command(const FitArgs& args) {
  if (args.threads < 0) {
    return invalid_argument("--threads must be >= 0 (0 = all cores), got ", args.threads);
  }
  for (const std::string& output : args.outputs) {
    if (output.empty()) return invalid_argument("--output: an output name is empty");
  }
  PBMEM_ASSIGN_OR_RETURN(int64_t limit, parse_memory_limit_flag(args.memory_limit));
  PBMEM_ASSIGN_OR_RETURN(WeightsMode weights, parse_weights_flag(args.weights));
  PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(args.model));
  PBMEM_ASSIGN_OR_RETURN(auto shapes, parse_input_shapes(*model, args.input_shapes));
  // --input-shape gives a batched input's other dims; its first dim is what fit searches.
  for (const TensorSpec& spec : model->inputs()) {
    auto it = shapes.find(spec.name);
    if (it != shapes.end() && spec.shape.known_rank() && spec.shape.rank() > 0 &&
        spec.shape.dim(0) == kUnknownDim) {
      it->second.dim(0) = kUnknownDim;
    }
  }
  FitOptions options;
  options.memory_limit = limit;
  options.input_shapes = shapes;
  options.outputs = args.outputs;
  options.num_threads = args.threads;
  options.weights = weights;
  PBMEM_ASSIGN_OR_RETURN(FitResult fit, fit_batch(model, options));
  if (fit.max_batch == 0) {
    return resource_exhausted("--memory-limit ", args.memory_limit, " = ", describe_bytes(limit),
                              " is below what batch 1 of ", fit.batched_inputs, " needs: ",
                              describe_bytes(fit.peak_bytes_at_1), "; raise the limit to at least that");
  }
  const bool at_ceiling = fit.max_batch == options.max_batch;
  if (args.json) {
    nlohmann::json out = {{"max_batch", fit.max_batch},
                          {"peak_bytes_at_max", fit.peak_bytes_at_max},
                          {"peak_bytes_at_next", fit.peak_bytes_at_next},
                          {"memory_limit", limit},
                          {"peak_bytes_at_1", fit.peak_bytes_at_1},
                          {"batched_inputs", fit.batched_inputs}};
    std::printf("%s\n", out.dump(kJsonIndent, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return ok_status();
  }
  std::printf("%s: memory limit %s\n", model->path().c_str(), describe_bytes(limit).c_str());
  std::printf("  largest batch that fits: %lld (inputs: %s)%s\n", static_cast<long long>(fit.max_batch),
              fit.batched_inputs.c_str(), at_ceiling ? " — the search ceiling; larger batches were not tried" : "");
  std::printf("  predicted peak at batch %lld: %s\n", static_cast<long long>(fit.max_batch),
              describe_bytes(fit.peak_bytes_at_max).c_str());
  if (!at_ceiling) {
    std::printf("  predicted peak at batch %lld: %s (over the limit)\n", static_cast<long long>(fit.max_batch + 1),
                describe_bytes(fit.peak_bytes_at_next).c_str());
  }
  std::printf("  predicted peak at batch 1: %s\n", describe_bytes(fit.peak_bytes_at_1).c_str());
  return ok_status();
}

}  // namespace pbmem::cli
