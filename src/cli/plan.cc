// `pbmem plan MODEL [--input-shape NAME=d0,d1,...]... [--batch N] [--output NAME...] [--json]
// [--ascii] [--threads N] [--memory-limit SIZE]`: prepares a session for concrete input shapes without running it and
// shows the memory plan, i.e. what a run with those shapes will hold (`pbmem run --stats-json`
// then reports max_bytes_in_use equal to predicted_peak_bytes).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/input_args.h"
#include "cli/memory_report.h"
#include "runtime/model.h"

namespace pbmem::cli {

namespace {

constexpr int kJsonIndent = 2;

// A plain decimal number in [1, 2^63); CLI11 would saturate "99999999999999999999".
Result<int64_t> parse_batch(const std::string& text) {
  constexpr int64_t kBase = 10;
  int64_t value = 0;
  bool valid = !text.empty();
  for (char c : text) {
    if (c < '0' || c > '9' || __builtin_mul_overflow(value, kBase, &value) ||
        __builtin_add_overflow(value, static_cast<int64_t>(c - '0'), &value)) {
      valid = false;
      break;
    }
  }
  if (!valid || value < 1) {
    return invalid_argument("--batch must be an integer in [1, 2^63), got '", text, "'");
  }
  return value;
}

Status check_flags(const PlanArgs& args) {
  if (args.threads < 0) {
    return invalid_argument("--threads must be >= 0 (0 = all cores), got ", args.threads);
  }
  for (size_t i = 0; i < args.outputs.size(); ++i) {
    if (args.outputs[i].empty()) return invalid_argument("--output: an output name is empty");
    for (size_t j = 0; j < i; ++j) {
      if (args.outputs[j] == args.outputs[i]) {
        return invalid_argument("--output: output '", args.outputs[i], "' is given twice");
      }
    }
  }
  return ok_status();
}

// --batch N: every required input (no default) whose first dim is unknown gets N there, unless
// --input-shape already gave its shape. Other unknown dims stay unknown (Session::plan then
// says which input needs a concrete shape).
Status apply_batch(const Model& model, int64_t batch, std::map<std::string, Shape>* shapes) {
  bool any_unknown_batch = false;
  for (const TensorSpec& spec : model.inputs()) {
    if (spec.has_default || !spec.shape.known_rank() || spec.shape.rank() == 0 ||
        spec.shape.dim(0) != kUnknownDim) {
      continue;
    }
    any_unknown_batch = true;
    if (shapes->count(spec.name)) continue;
    Shape shape = spec.shape;
    shape.dim(0) = batch;
    (*shapes)[spec.name] = shape;
  }
  if (!any_unknown_batch) {
    return invalid_argument("--batch ", batch, ": no input of '", model.path(),
                            "' has an unknown first dimension (", list_inputs(model),
                            "); give shapes with --input-shape NAME=d0,d1,... instead");
  }
  return ok_status();
}

}  // namespace

Status plan_command(const PlanArgs& args) {
  PBMEM_RETURN_IF_ERROR(check_flags(args));
  int64_t memory_limit = 0;
  if (args.has_memory_limit) {
    PBMEM_ASSIGN_OR_RETURN(memory_limit, parse_memory_limit_flag(args.memory_limit));
  }
  int64_t batch = 0;
  if (args.has_batch) {
    PBMEM_ASSIGN_OR_RETURN(batch, parse_batch(args.batch));
  }
  PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(args.model));
  PBMEM_ASSIGN_OR_RETURN(auto shapes, parse_input_shapes(*model, args.input_shapes));
  if (batch > 0) PBMEM_RETURN_IF_ERROR(apply_batch(*model, batch, &shapes));

  SessionOptions options;
  options.num_threads = args.threads;
  options.outputs = args.outputs;
  options.memory_limit = memory_limit;
  PBMEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, options));
  PBMEM_ASSIGN_OR_RETURN(MemoryPlanReport report, session->plan(shapes));
  if (args.json) {
    std::printf("%s\n", plan_json(report, args.ascii)
                            .dump(kJsonIndent, ' ', false, nlohmann::json::error_handler_t::replace)
                            .c_str());
  } else {
    print_plan(model->path(), report, args.ascii);
  }
  return ok_status();
}

}  // namespace pbmem::cli
