// Internal to the planners: gap placement that looks only at buffers overlapping in time. Time
// is cut into sections at every lifetime boundary; each section keeps the placed buffers live in
// it, so placing a short-lived buffer costs about (buffers it overlaps) x log rather than (all
// placed buffers); long-lived ones are listed once, not per section, and are placed with one
// pass over all placed buffers in offset order.
#pragma once

#include <cstdint>
#include <vector>

#include "plan/memory_planner.h"

namespace pbmem {
namespace plan_detail {

class GapPlacer {
 public:
  // `roots`: planned buffers (alias_of == -1, sizes aligned). Only their lifetimes are read here;
  // place() may then be called many times with any order.
  explicit GapPlacer(const std::vector<UsageRecord>& roots);

  // Places roots[order[0]], roots[order[1]], ... each into the gap chosen by `fit` among the
  // already-placed buffers overlapping it in time (else on top of them); sets every offset in
  // `order` and returns the arena size. Adds the buffers scanned to *work when given.
  int64_t place(std::vector<UsageRecord>& roots, const std::vector<int>& order, GapFit fit,
                int64_t* work = nullptr);

 private:
  std::vector<int> section_begin_;  // per root: its first section
  std::vector<int> section_end_;    // per root: one past its last section
  std::vector<std::vector<int>> live_in_section_;
  std::vector<int> seen_;           // per root: the placement that last collected it
  std::vector<int> by_offset_;      // placed buffers by offset (ties: placement order)
  std::vector<int> long_placed_;    // placed buffers spanning too many sections to list
  std::vector<int> overlapping_;
};

}  // namespace plan_detail
}  // namespace pbmem
