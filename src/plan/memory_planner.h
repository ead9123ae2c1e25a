// Static arena planning: every intermediate buffer gets an offset in one arena, chosen ahead of
// time from the buffers' lifetimes (schedule steps), so the peak is known before the first run.
// Plain data and algorithms only: no dependency on the graph or the runtime.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace pbmem {

// Every offset and every planned size is a multiple of this (a cache line; enough for AVX-512).
inline constexpr int64_t kPlanAlignment = 64;

// One buffer's lifetime in schedule steps (inclusive) and its place in the arena.
struct UsageRecord {
  int first_step = 0;
  int last_step = 0;
  int64_t size = 0;     // bytes requested (the planner rounds up to kPlanAlignment)
  int64_t offset = -1;  // assigned by the planner
  int alias_of = -1;    // >= 0: shares that (earlier) record's bytes (in-place / view)
};

// `size` rounded up to kPlanAlignment; false when that overflows or size < 0.
bool align_plan_size(int64_t size, int64_t* aligned);

// Accumulates buffers and aliases, then assigns offsets. Subclasses only choose the offsets of
// the root buffers (aliases resolved, sizes aligned, lifetimes merged) in assign_offsets().
class MemoryPlanner {
 public:
  virtual ~MemoryPlanner() = default;
  virtual std::string name() const = 0;

  // Returns the buffer's id (its index in records()), or -1 for invalid arguments (then plan()
  // reports the first such error).
  int add_buffer(int64_t size, int first_step, int last_step);
  // A view of / in-place reuse of `of_buffer` (itself maybe an alias: chains resolve to the root).
  // The root's lifetime is extended to cover [first_step, last_step]. Returns its id or -1.
  int add_alias(int of_buffer, int first_step, int last_step);

  // Merges alias lifetimes into their roots, assigns offsets and self-checks the result. After
  // it, each root's first/last_step cover its aliases and an alias's offset is its root's.
  Status plan();

  // Offset of a buffer or alias after plan(); -1 for an unknown id or before plan().
  int64_t offset_of(int buffer) const;
  // Bytes of arena needed: the largest offset + aligned size. 0 before plan().
  int64_t arena_size() const { return arena_size_; }
  const std::vector<UsageRecord>& records() const { return records_; }
  int num_records() const { return static_cast<int>(records_.size()); }
  bool planned() const { return planned_; }

 protected:
  // `roots`: planned buffers only, sizes already aligned, alias_of == -1. Sets every offset (a
  // multiple of kPlanAlignment, >= 0). The sum of all sizes is known to fit in int64_t.
  virtual void assign_offsets(std::vector<UsageRecord>& roots) = 0;

 private:
  void note_error(Status status);

  std::vector<UsageRecord> records_;
  Status first_error_;
  bool planned_ = false;
  int64_t arena_size_ = 0;
};

// No reuse: each buffer right after the previous one (in id order). The baseline.
class LinearPlanner : public MemoryPlanner {
 public:
  std::string name() const override { return "linear"; }

 protected:
  void assign_offsets(std::vector<UsageRecord>& roots) override;
};

// The order in which the greedy planner places buffers; the first placed get the low offsets.
enum class GreedyOrder {
  kSize,               // size descending (TFLite Micro / XNNPACK style)
  kSizeTimesLifetime,  // size x number of steps descending
  kFirstStep,          // first_step ascending, then size descending
  kPressure,           // the most bytes live at once during its lifetime first, then size
};
// Which gap between already-placed, time-overlapping buffers a buffer goes into.
enum class GapFit {
  kBest,   // the smallest gap that fits (lowest offset on ties)
  kFirst,  // the lowest gap that fits
};

// Greedy: take buffers in `order` (ties: earlier first_step, then id); place each in a gap
// between the already-placed buffers whose lifetimes overlap its own, else on top of them.
// Short-lived buffers find those through per-section lists; long-lived ones take one pass over
// all placed buffers: O(n^2) at worst, about O(n * overlap * log) for CNN lifetimes.
class GreedyPlanner : public MemoryPlanner {
 public:
  explicit GreedyPlanner(GreedyOrder order = GreedyOrder::kSize, GapFit fit = GapFit::kBest)
      : order_(order), fit_(fit) {}
  std::string name() const override;

 protected:
  void assign_offsets(std::vector<UsageRecord>& roots) override;

 private:
  GreedyOrder order_;
  GapFit fit_;
};

// Which waiting buffer the skyline planner puts into the lowest stretch of the skyline.
enum class SkylinePick {
  kLongestLifetime,  // then size
  kLargestSize,      // then lifetime
  kLargestArea,      // size x steps, then size
};

// Skyline (best-fit strip packing, as in Sekiyama et al. 2018): keep the top of the placed
// buffers per step; repeatedly take the lowest stretch of steps and put there the first buffer
// (by `pick`) whose lifetime lies inside it, else raise the stretch to its lower neighbour.
// Then compact_down(). O(n * (n + steps)).
class SkylinePlanner : public MemoryPlanner {
 public:
  explicit SkylinePlanner(SkylinePick pick = SkylinePick::kLongestLifetime) : pick_(pick) {}
  std::string name() const override;

 protected:
  void assign_offsets(std::vector<UsageRecord>& roots) override;

 private:
  SkylinePick pick_;
};

struct BestPlannerOptions {
  // Work (buffers scanned while re-placing) the local search may spend once the fixed heuristics
  // have run; 0 turns it off. Counted, not timed, so a given input always gets the same plan.
  // The default costs about 15 ms of search at most.
  int64_t search_work = 5'000'000;
  uint32_t seed = 1;  // of the local search's random moves
};

// The planner for production: greedy by size (best fit), every skyline pick, then the other
// greedy orderings x gap fits, each compacted down, keeping the smallest arena (ties: the first
// tried) and stopping once one meets the live-bytes lower bound; then, if none did, an iterated
// local search over the placement order (move a buffer that reaches the top earlier, or swap
// two; keep the change unless the arena or the number of buffers at the top grows; random kicks
// when stuck) within options.search_work. name() reports the winner.
class BestOfPlanner : public MemoryPlanner {
 public:
  explicit BestOfPlanner(BestPlannerOptions options = {}) : options_(options) {}
  std::string name() const override { return "best-of(" + winner_ + ")"; }

 protected:
  void assign_offsets(std::vector<UsageRecord>& roots) override;

 private:
  BestPlannerOptions options_;
  std::string winner_ = "none";
};

std::unique_ptr<MemoryPlanner> make_best_planner(const BestPlannerOptions& options = {});
// By name, for flags: "linear", "greedy" (by size, best fit), "skyline" (longest lifetime) or
// "best"; an InvalidArgument error names the choices otherwise.
Result<std::unique_ptr<MemoryPlanner>> make_planner(const std::string& name);

// The placement steps behind the planners, on `roots` (alias_of == -1, sizes aligned); each
// sets every offset and returns the arena size. Exposed for measurements and tests.
int64_t place_greedy(std::vector<UsageRecord>& roots, GreedyOrder order, GapFit fit);
// Places roots[order[0]], roots[order[1]], ... each into the gap chosen by `fit`.
int64_t place_in_order(std::vector<UsageRecord>& roots, const std::vector<int>& order, GapFit fit);
int64_t place_skyline(std::vector<UsageRecord>& roots, SkylinePick pick);
// Re-places every buffer as low as it fits, lowest first (valid offsets in, valid out): no
// buffer moves up, so the arena never grows.
int64_t compact_down(std::vector<UsageRecord>& roots);

// The self-check: no two planned records (alias_of < 0) that overlap in time overlap in aligned
// bytes; offsets are >= 0 and multiples of kPlanAlignment; with arena_size >= 0, every record
// ends within it; aliases point at an earlier record and carry its root's offset. A sweep over
// first_step: O(n log n + n * live).
Status check_no_overlap(const std::vector<UsageRecord>& records, int64_t arena_size = -1);

// The most aligned bytes of planned records (alias_of < 0) live at one step, and that step
// (-1 when nothing is ever live). No arena for these lifetimes can be smaller. Records with
// invalid fields are skipped; sums saturate at INT64_MAX. Event sweep, O(n log n).
struct LiveBytesPeak {
  int64_t bytes = 0;
  int step = -1;
};
LiveBytesPeak live_bytes_peak(const std::vector<UsageRecord>& records);
inline int64_t live_bytes_lower_bound(const std::vector<UsageRecord>& records) {
  return live_bytes_peak(records).bytes;
}

// The aligned bytes of planned records (alias_of < 0) live at each step 0..num_steps-1, the
// series whose maximum live_bytes_peak() finds (same skipping and saturation rules). Parts of
// lifetimes outside [0, num_steps) are ignored. Difference array, O(n + num_steps).
std::vector<int64_t> live_bytes_per_step(const std::vector<UsageRecord>& records, int num_steps);

// ASCII picture of a plan (like TFLite Micro's PrintMemoryPlan): a header line with the arena
// size and the lower bound, a legend line per record ("  a (10): 4096 bytes at 8192, steps
// 3..7"), then one line per step, "step 3 |..aaa11...| 4096" (the bytes live at the step), the
// arena scaled to `width` columns, each live buffer drawn with the character of its id (0-9,
// a-z, A-Z, then '*'), free bytes as '.'. At most 10,000 steps are drawn.
std::string dump_plan_ascii(const std::vector<UsageRecord>& records, int width = 80);

}  // namespace pbmem
