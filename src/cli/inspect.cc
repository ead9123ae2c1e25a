// `pbmem inspect MODEL [--json]`: what is in a model, without running it. Loads with the op check
// off, so a model with unsupported ops is reported rather than refused; never reads weight bytes.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/memory_report.h"
#include "runtime/model.h"

namespace pbmem::cli {

namespace {

constexpr double kBytesPerMiB = 1024.0 * 1024.0;
constexpr int kJsonIndent = 2;

// Inputs also say whether they have a default (PlaceholderWithDefault: feeding is optional).
nlohmann::json specs_json(const std::vector<TensorSpec>& specs, bool are_inputs) {
  nlohmann::json out = nlohmann::json::array();
  for (const TensorSpec& spec : specs) {
    nlohmann::json entry = {{"name", spec.name},
                            {"dtype", dtype_name(spec.dtype)},
                            {"shape", shape_json(spec.shape)}};
    if (are_inputs) entry["has_default"] = spec.has_default;
    out.push_back(std::move(entry));
  }
  return out;
}

nlohmann::json summary_json(const ModelSummary& s) {
  nlohmann::json ops = nlohmann::json::array();
  for (const OpCount& c : s.op_histogram) ops.push_back({{"op", c.op}, {"count", c.count}});
  return {
      {"path", s.path},
      {"file_bytes", s.file_bytes},
      {"num_nodes", s.num_nodes},
      {"inputs", specs_json(s.inputs, true)},
      {"outputs", specs_json(s.outputs, false)},
      {"op_histogram", ops},
      {"num_params", s.num_params},
      {"weight_bytes", s.weight_bytes},
      {"unsupported", s.unsupported},
  };
}

void print_specs(const char* title, const std::vector<TensorSpec>& specs) {
  std::printf("%s (%zu):\n", title, specs.size());
  for (const TensorSpec& spec : specs) {
    std::printf("  %-32s %-8s %s%s\n", spec.name.c_str(), dtype_name(spec.dtype),
                spec.shape.str().c_str(), spec.has_default ? "  (optional: has a default)" : "");
  }
}

void print_summary(const ModelSummary& s) {
  std::printf("model: %s\n", s.path.c_str());
  std::printf("file size: %llu bytes (%.1f MiB)\n", static_cast<unsigned long long>(s.file_bytes),
              static_cast<double>(s.file_bytes) / kBytesPerMiB);
  std::printf("nodes: %lld\n", static_cast<long long>(s.num_nodes));
  std::printf("params: %lld\n", static_cast<long long>(s.num_params));
  std::printf("weight bytes: %lld (%.1f MiB)\n", static_cast<long long>(s.weight_bytes),
              static_cast<double>(s.weight_bytes) / kBytesPerMiB);
  print_specs("inputs", s.inputs);
  print_specs("outputs", s.outputs);
  std::printf("ops (%zu types):\n", s.op_histogram.size());
  for (const OpCount& c : s.op_histogram) {
    std::printf("  %-32s %lld\n", c.op.c_str(), static_cast<long long>(c.count));
  }
  if (s.unsupported.empty()) {
    std::printf("unsupported ops: none\n");
  } else {
    std::printf("unsupported ops (%zu types):\n", s.unsupported.size());
    for (const std::string& line : s.unsupported) std::printf("  %s\n", line.c_str());
  }
}

}  // namespace

Status inspect_command(const InspectArgs& args) {
  Model::Options options;
  options.require_supported_ops = false;
  PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(args.model, options));
  ModelSummary summary = model->summary();
  if (args.json) {
    std::printf("%s\n", summary_json(summary)
                            .dump(kJsonIndent, ' ', false, nlohmann::json::error_handler_t::replace)
                            .c_str());
  } else {
    print_summary(summary);
  }
  return ok_status();
}

}  // namespace pbmem::cli
