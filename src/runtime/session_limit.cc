// The hard memory limit at prepare: session_plan.cc refuses a plan whose predicted peak exceeds
// the limit before allocating the arena, scratch or I/O buffers; this file turns that refusal
// into an error that says what would fit. The largest batch is found by the fit search on the
// same session (so under the same limit, re-packing weights in place), which leaves the session
// unprepared but usable: a later run with a smaller batch prepares again.
#include "core/byte_size.h"
#include "runtime/batch_search.h"
#include "runtime/session_impl.h"

namespace pbmem {

namespace {

std::string describe_shapes(const Session::Impl& s, const std::vector<FedSpec>& specs) {
  std::string text;
  for (size_t k = 0; k < specs.size(); ++k) {
    if (!specs[k].fed) continue;
    text += (text.empty() ? "" : ", ") + s.model->graph().node(s.fed_nodes[k]).name + specs[k].shape.str();
  }
  return text.empty() ? std::string("the model's fixed shapes") : text;
}

// "; the largest batch that fits is N (...)" or why there is none.
std::string batch_advice(Session& session, Session::Impl& s, const std::vector<FedSpec>& specs,
                         int64_t* max_batch) {
  *max_batch = -1;
  const Graph& graph = s.model->graph();
  BatchSearchParams params;
  params.memory_limit = s.options.memory_limit;
  params.max_batch = 0;
  for (size_t k = 0; k < specs.size(); ++k) {
    if (specs[k].fed) params.shapes[graph.node(s.fed_nodes[k]).name] = specs[k].shape;
  }
  for (const std::string& name : batched_input_names(*s.model, s.options.input_shapes)) {
    auto it = params.shapes.find(name);
    if (it == params.shapes.end() || it->second.rank() == 0) continue;
    params.batched.push_back(name);
    // Only batches below the one that failed can fit.
    params.max_batch = std::max(params.max_batch, it->second.dim(0) - 1);
  }
  if (params.batched.empty()) {
    return "; the model has no batch dimension (no input with an unknown first dim), so no smaller batch is suggested";
  }
  if (params.max_batch < 1) {
    return str_cat("; batch 1 needs ", describe_bytes(s.report.predicted_peak_bytes), " (weights ",
                   describe_bytes(s.report.weights_packed_bytes), "): no batch fits");
  }
  Result<FitResult> fit = search_max_batch(session, params);
  if (!fit.ok()) return "; the search for a batch that fits failed: " + fit.status().message();
  *max_batch = fit->max_batch;
  if (fit->max_batch == 0) {
    return str_cat("; no batch fits: batch 1 of ", fit->batched_inputs, " needs ",
                   describe_bytes(fit->peak_bytes_at_1));
  }
  return str_cat("; the largest batch of ", fit->batched_inputs, " that fits is ", fit->max_batch,
                 " (needs ", describe_bytes(fit->peak_bytes_at_max), ")");
}

bool same_specs(const std::vector<FedSpec>& a, const std::vector<FedSpec>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].fed != b[k].fed || a[k].dtype != b[k].dtype || a[k].shape != b[k].shape) return false;
  }
  return true;
}

}  // namespace

Status prepare_within_limit(Session& session, Session::Impl& s, const std::vector<FedSpec>& specs) {
  if (!s.refused_status.ok() && same_specs(specs, s.refused_specs)) return s.refused_status;
  Status status = s.prepare(specs, PrepareMode::kRun);
  const int64_t limit = s.options.memory_limit;
  if (status.ok() || status.code() != StatusCode::kResourceExhausted || limit <= 0 ||
      s.report.predicted_peak_bytes <= limit) {
    return status;
  }
  const MemoryPlanReport over = s.report;
  std::string message = str_cat(
      "memory limit: running with ", describe_shapes(s, specs), " needs ", describe_bytes(over.predicted_peak_bytes),
      " but the limit is ", describe_bytes(limit), "; the activation peak is at step ", over.peak_step, " of ",
      over.num_steps, " (node '", over.peak_node, "'; weights ", human_bytes(over.weights_packed_bytes),
      " + activations ", human_bytes(over.arena_bytes), " + scratch ", human_bytes(over.scratch_bytes),
      " + outputs ", human_bytes(over.io_bytes), "); nothing was run");
  int64_t max_batch = -1;
  message += batch_advice(session, s, specs, &max_batch);
  message += ". To fit: ";
  if (max_batch > 0) message += str_cat("use a batch of at most ", max_batch, ", ");
  if (!s.options.in_place) message += "enable in-place reuse, ";
  if (!s.options.memory_aware_schedule) message += "enable the memory-aware schedule, ";
  message += str_cat("request fewer outputs, or raise the limit to at least ", describe_bytes(over.predicted_peak_bytes));
  s.report = over;  // last_plan() shows the plan that did not fit
  s.refused_specs = specs;
  s.refused_status = resource_exhausted(message);
  return s.refused_status;
}

}  // namespace pbmem
