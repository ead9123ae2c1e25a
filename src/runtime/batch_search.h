// The batch search behind fit_batch(), shared with Session's over-the-limit errors (which
// report the largest batch that fits using this same search on the failing session).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/fit.h"

namespace pbmem {

struct BatchSearchParams {
  // A concrete shape for every input to plan with; the first dim of the batched ones is
  // replaced by each candidate batch.
  std::map<std::string, Shape> shapes;
  std::vector<std::string> batched;  // non-empty
  int64_t memory_limit = 0;          // > 0
  int64_t max_batch = 0;             // >= 1
};

// Runs the search on `session` (whose memory limit must be params.memory_limit). Leaves the
// session unprepared.
Result<FitResult> search_max_batch(Session& session, const BatchSearchParams& params);

// The inputs of `model` the batch applies to: required inputs whose first dim is unknown in
// the graph, or in `input_shapes` when that gives one.
std::vector<std::string> batched_input_names(const Model& model,
                                             const std::map<std::string, Shape>& input_shapes);

}  // namespace pbmem
