// The Chrome trace of a run: see trace.h for what is recorded and how it is laid out.
#include "runtime/trace.h"

#include <algorithm>

namespace pbmem {

namespace {

constexpr double kNanosPerMicro = 1000.0;  // the format's timestamps are in microseconds
constexpr int kProcessId = 1;
constexpr int kStepThreadId = 1;
constexpr char kPlannedCounter[] = "planned bytes";
constexpr char kMeasuredCounter[] = "bytes_in_use";

double micros(int64_t nanos) { return static_cast<double>(nanos) / kNanosPerMicro; }

nlohmann::json metadata_event(const char* name, int tid, const std::string& value) {
  return {{"ph", "M"}, {"name", name}, {"pid", kProcessId}, {"tid", tid}, {"args", {{"name", value}}}};
}

nlohmann::json counter_event(const char* name, double ts, nlohmann::json args) {
  return {{"ph", "C"}, {"name", name}, {"ts", ts}, {"pid", kProcessId}, {"args", std::move(args)}};
}

}  // namespace

int64_t TraceRecorder::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              origin_)
      .count();
}

void TraceRecorder::run_started(int num_steps) {
  times_.assign(static_cast<size_t>(num_steps > 0 ? num_steps : 0), StepTime());
  origin_ = std::chrono::steady_clock::now();
}

void TraceRecorder::step_started(int step) {
  if (step >= 0 && static_cast<size_t>(step) < times_.size()) {
    times_[static_cast<size_t>(step)].start_ns = now_ns();
  }
}

void TraceRecorder::step_finished(int step) {
  if (step < 0 || static_cast<size_t>(step) >= times_.size()) return;
  StepTime& time = times_[static_cast<size_t>(step)];
  time.end_ns = now_ns();
  time.bytes_in_use = session_.bytes_in_use();
}

nlohmann::json TraceRecorder::trace_json(const std::string& model_path) const {
  const MemoryPlanReport& plan = session_.last_plan();
  nlohmann::json events = nlohmann::json::array();
  events.push_back(metadata_event("process_name", kStepThreadId, "pbmem run " + model_path));
  events.push_back(metadata_event("thread_name", kStepThreadId, "steps"));
  const size_t num_steps = std::min(times_.size(), plan.steps.size());
  for (size_t k = 0; k < num_steps; ++k) {
    const PlanStep& step = plan.steps[k];
    const StepTime& time = times_[k];
    nlohmann::json shapes = nlohmann::json::array();
    for (const Shape& shape : step.output_shapes) shapes.push_back(shape.str());
    events.push_back({{"ph", "X"},
                      {"name", step.node},
                      {"cat", step.op},
                      {"ts", micros(time.start_ns)},
                      {"dur", micros(time.end_ns - time.start_ns)},
                      {"pid", kProcessId},
                      {"tid", kStepThreadId},
                      {"args",
                       {{"op", step.op},
                        {"step", k},
                        {"output_shapes", shapes},
                        {"output_bytes", step.output_bytes},
                        {"live_activation_bytes", step.live_bytes},
                        {"alias_only", step.alias_only}}}});
    events.push_back(counter_event(kPlannedCounter, micros(time.start_ns),
                                   {{"weights_packed", plan.weights_packed_bytes},
                                    {"scratch", plan.scratch_bytes},
                                    {"io", plan.io_bytes},
                                    {"activations_live", step.live_bytes},
                                    {"arena_free", plan.arena_bytes - step.live_bytes}}));
    events.push_back(counter_event(kMeasuredCounter, micros(time.end_ns),
                                   {{"bytes_in_use", time.bytes_in_use}}));
  }
  return {{"traceEvents", events},
          {"displayTimeUnit", "ms"},
          {"otherData",
           {{"model", model_path},
            {"num_steps", plan.num_steps},
            {"predicted_peak_bytes", plan.predicted_peak_bytes},
            {"max_bytes_in_use", session_.max_bytes_in_use()},
            {"peak_step", plan.peak_step},
            {"peak_node", plan.peak_node}}}};
}

std::string TraceRecorder::trace_text(const std::string& model_path) const {
  return trace_json(model_path).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace pbmem
