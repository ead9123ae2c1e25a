// The largest batch whose predicted peak fits a memory limit.
//
// The search runs over the static plan (Session::predict at candidate batches), never by trial
// runs: batch 1, then doubling until a batch does not fit or the ceiling is passed, then
// binary search between the last batch that fits and the first that does not. Each candidate
// packs the weights under the limit and allocates nothing else, so the search itself never
// holds more than the limit. Assumes the peak grows with the batch (activations scale with
// it); the returned max_batch is verified to fit and max_batch + 1 verified not to.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/shape.h"
#include "core/status.h"
#include "runtime/model.h"

namespace pbmem {

struct FitOptions {
  int64_t memory_limit = 0;                   // bytes, must be > 0
  std::map<std::string, Shape> input_shapes;  // as SessionOptions::input_shapes; inputs whose first dim is unknown are the batched ones
  std::vector<std::string> outputs;           // empty: the model's default outputs
  int num_threads = 0;
  WeightsMode weights = WeightsMode::kPacked;  // as SessionOptions::weights
  int64_t max_batch = int64_t{1} << 20;       // search ceiling
};

struct FitResult {
  int64_t max_batch = 0;           // 0 when even batch 1 does not fit
  int64_t peak_bytes_at_1 = 0;     // predicted peak at batch 1
  int64_t peak_bytes_at_max = 0;   // predicted peak at max_batch (0 if max_batch == 0)
  int64_t peak_bytes_at_next = 0;  // predicted peak at max_batch + 1 (0 if max_batch == max_batch ceiling)
  std::string batched_inputs;      // comma-separated names of the inputs the batch applies to
};

// A candidate whose sizes overflow int64, or whose weights alone cannot be packed under the
// limit (oneDNN may choose batch-dependent layouts), does not fit; if that is max_batch + 1,
// peak_bytes_at_next is only a bound: INT64_MAX or memory_limit + 1.
// Fails (InvalidArgument) when no input has an unknown first dim, when the limit or ceiling is
// not positive, or when an input needs a shape; ResourceExhausted when the weights alone do not
// fit the limit (no batch can).
Result<FitResult> fit_batch(std::shared_ptr<const Model> model, const FitOptions& options);

}  // namespace pbmem
