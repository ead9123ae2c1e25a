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

}  // namespace

Status plan_command(const PlanArgs& args) {
  PBMEM_RETURN_IF_ERROR(check_flags(args));
  int64_t memory_limit = 0;
  if (args.has_memory_limit) {
    PBMEM_ASSIGN_OR_RETURN(memory_limit, parse_memory_limit_flag(args.memory_limit));
  }
  int64_t batch = 0;
  if (args.has_batch) {
    PBMEM_ASSIGN_OR_RETURN(batch, parse_batch_flag(args.batch));
  }
  PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(args.model));
  PBMEM_ASSIGN_OR_RETURN(auto shapes, parse_input_shapes(*model, args.input_shapes));
  if (batch > 0) PBMEM_RETURN_IF_ERROR(apply_batch(*model, batch, &shapes));

  SessionOptions options;
  options.num_threads = args.threads;
  PBMEM_ASSIGN_OR_RETURN(options.weights, parse_weights_flag(args.weights));
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
