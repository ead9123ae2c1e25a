// A Chrome trace of one run in the Trace Event Format (loads in chrome://tracing and Perfetto),
// for `pbmem run --trace FILE.json` and Python's Model.run(..., trace=PATH).
//
// TraceRecorder is the session's StepObserver: it keeps one slot per step, sized when the run
// starts, and stores the step's start and end times (steady clock, from the run's start) and the
// accounted bytes in use after it. Nothing is formatted while the model runs; trace_json() then
// joins the times with the session's plan:
//   - one complete event ("ph":"X") per step on one thread track: name = node, cat = op, args =
//     op, step, output shapes and bytes, live activation bytes;
//   - a stacked counter "planned bytes" at each step's start: packed weights, scratch, I/O
//     (constant over the run), the arena's live activation bytes at the step and the rest of the
//     arena. Their sum is what the allocators hold, so its maximum is max_bytes_in_use;
//   - a counter "bytes_in_use" with the accountant's measured value after each step.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/model.h"

namespace pbmem {

class TraceRecorder : public StepObserver {
 public:
  explicit TraceRecorder(const Session& session) : session_(session) {}

  void run_started(int num_steps) override;
  void step_started(int step) override;
  void step_finished(int step) override;

  // The trace of the last run; call after a successful run. `model_path` names the process
  // track.
  nlohmann::json trace_json(const std::string& model_path) const;
  // trace_json() as compact text (invalid UTF-8 in node names replaced).
  std::string trace_text(const std::string& model_path) const;

 private:
  struct StepTime {
    int64_t start_ns = 0;
    int64_t end_ns = 0;
    int64_t bytes_in_use = 0;  // measured after the step
  };
  int64_t now_ns() const;

  const Session& session_;
  std::chrono::steady_clock::time_point origin_;
  std::vector<StepTime> times_;
};

}  // namespace pbmem
