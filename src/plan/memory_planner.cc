// The planners' shared add/alias/plan bookkeeping, the linear baseline, the greedy orderings and
// gap placement.
#include "plan/memory_planner.h"

#include "plan/placement.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <utility>

namespace pbmem {
namespace {

constexpr int64_t kNoGap = std::numeric_limits<int64_t>::max();
// Buffers spanning more sections are not listed per section (memory stays O(n)); they are kept in
// one list that every placement checks.
constexpr int kMaxListedSections = 64;

// Ties in every ordering: earlier first_step, then lower index, so results are deterministic.
bool size_then_first(const std::vector<UsageRecord>& r, int a, int b) {
  if (r[a].size != r[b].size) return r[a].size > r[b].size;
  if (r[a].first_step != r[b].first_step) return r[a].first_step < r[b].first_step;
  return a < b;
}

__int128 size_times_lifetime(const UsageRecord& r) {
  const __int128 steps = static_cast<__int128>(r.last_step) - r.first_step + 1;
  return static_cast<__int128>(r.size) * steps;
}

// For each record, the most bytes live at one step of its lifetime. Live bytes only rise at a
// first_step, so the maximum over [first, last] is reached at some first_step inside it: a range
// maximum (sparse table) over the distinct first_steps.
std::vector<int64_t> lifetime_pressure(const std::vector<UsageRecord>& r) {
  const size_t n = r.size();
  std::vector<int> firsts(n);
  std::vector<std::pair<int64_t, int64_t>> ends(n);  // (last_step + 1, size)
  std::vector<std::pair<int, int64_t>> starts(n);    // (first_step, size)
  for (size_t i = 0; i < n; ++i) {
    firsts[i] = r[i].first_step;
    starts[i] = {r[i].first_step, r[i].size};
    ends[i] = {static_cast<int64_t>(r[i].last_step) + 1, r[i].size};
  }
  std::sort(firsts.begin(), firsts.end());
  firsts.erase(std::unique(firsts.begin(), firsts.end()), firsts.end());
  std::sort(starts.begin(), starts.end());
  std::sort(ends.begin(), ends.end());
  const size_t k = firsts.size();
  std::vector<std::vector<int64_t>> table(1, std::vector<int64_t>(k));
  int64_t live = 0;  // the caller guarantees the total fits
  size_t s = 0, e = 0;
  for (size_t i = 0; i < k; ++i) {
    for (; s < n && starts[s].first <= firsts[i]; ++s) live += starts[s].second;
    for (; e < n && ends[e].first <= firsts[i]; ++e) live -= ends[e].second;
    table[0][i] = live;
  }
  for (size_t len = 2; len <= k; len *= 2) {
    const std::vector<int64_t>& prev = table.back();
    std::vector<int64_t> next(k - len + 1);
    for (size_t i = 0; i + len <= k; ++i) next[i] = std::max(prev[i], prev[i + len / 2]);
    table.push_back(std::move(next));
  }
  std::vector<int64_t> pressure(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t lo =
        std::lower_bound(firsts.begin(), firsts.end(), r[i].first_step) - firsts.begin();
    const size_t hi =
        std::upper_bound(firsts.begin(), firsts.end(), r[i].last_step) - firsts.begin();
    size_t level = 0;
    while ((size_t{2} << level) <= hi - lo) ++level;
    pressure[i] = std::max(table[level][lo], table[level][hi - (size_t{1} << level)]);
  }
  return pressure;
}

std::vector<int> placement_order(const std::vector<UsageRecord>& r, GreedyOrder order) {
  std::vector<int> ids(r.size());
  std::iota(ids.begin(), ids.end(), 0);
  switch (order) {
    case GreedyOrder::kSize:
      std::sort(ids.begin(), ids.end(), [&](int a, int b) { return size_then_first(r, a, b); });
      break;
    case GreedyOrder::kSizeTimesLifetime:
      std::sort(ids.begin(), ids.end(), [&](int a, int b) {
        const __int128 wa = size_times_lifetime(r[a]), wb = size_times_lifetime(r[b]);
        if (wa != wb) return wa > wb;
        return size_then_first(r, a, b);
      });
      break;
    case GreedyOrder::kFirstStep:
      std::sort(ids.begin(), ids.end(), [&](int a, int b) {
        if (r[a].first_step != r[b].first_step) return r[a].first_step < r[b].first_step;
        return size_then_first(r, a, b);
      });
      break;
    case GreedyOrder::kPressure: {
      const std::vector<int64_t> pressure = lifetime_pressure(r);
      std::sort(ids.begin(), ids.end(), [&](int a, int b) {
        if (pressure[a] != pressure[b]) return pressure[a] > pressure[b];
        return size_then_first(r, a, b);
      });
      break;
    }
  }
  return ids;
}

const char* order_name(GreedyOrder order) {
  switch (order) {
    case GreedyOrder::kSize: return "size";
    case GreedyOrder::kSizeTimesLifetime: return "size*lifetime";
    case GreedyOrder::kFirstStep: return "first-step";
    case GreedyOrder::kPressure: return "pressure";
  }
  return "?";
}

}  // namespace

bool align_plan_size(int64_t size, int64_t* aligned) {
  if (size < 0 || size > std::numeric_limits<int64_t>::max() - (kPlanAlignment - 1)) return false;
  *aligned = (size + kPlanAlignment - 1) / kPlanAlignment * kPlanAlignment;
  return true;
}

void MemoryPlanner::note_error(Status status) {
  if (first_error_.ok()) first_error_ = std::move(status);
}

int MemoryPlanner::add_buffer(int64_t size, int first_step, int last_step) {
  const int id = num_records();
  int64_t aligned = 0;
  if (!align_plan_size(size, &aligned)) {
    note_error(invalid_argument("buffer ", id, ": size ", size, " must be >= 0 and at most ",
                                std::numeric_limits<int64_t>::max() - (kPlanAlignment - 1)));
    return -1;
  }
  if (first_step < 0 || first_step > last_step) {
    note_error(invalid_argument("buffer ", id, ": lifetime [", first_step, ", ", last_step,
                                "] must have 0 <= first_step <= last_step"));
    return -1;
  }
  UsageRecord record;
  record.first_step = first_step;
  record.last_step = last_step;
  record.size = size;
  records_.push_back(record);
  planned_ = false;
  return id;
}

int MemoryPlanner::add_alias(int of_buffer, int first_step, int last_step) {
  const int id = num_records();
  if (of_buffer < 0 || of_buffer >= id) {
    note_error(invalid_argument("alias ", id, ": of_buffer ", of_buffer,
                                " is not the id of an earlier buffer (there are ", id, ")"));
    return -1;
  }
  if (first_step < 0 || first_step > last_step) {
    note_error(invalid_argument("alias ", id, " of buffer ", of_buffer, ": lifetime [", first_step,
                                ", ", last_step, "] must have 0 <= first_step <= last_step"));
    return -1;
  }
  UsageRecord record;
  record.first_step = first_step;
  record.last_step = last_step;
  record.alias_of = of_buffer;
  int root = of_buffer;
  while (records_[root].alias_of >= 0) root = records_[root].alias_of;
  record.size = records_[root].size;  // informational: an alias occupies its root's bytes
  records_.push_back(record);
  planned_ = false;
  return id;
}

Status MemoryPlanner::plan() {
  PBMEM_RETURN_IF_ERROR(first_error_);
  planned_ = false;
  arena_size_ = 0;
  const int n = num_records();
  // alias_of always names an earlier record, so one forward pass resolves chains to roots.
  std::vector<int> root_of(n);
  std::vector<int> compact_of(n, -1);
  std::vector<UsageRecord> roots;
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    const UsageRecord& r = records_[i];
    if (r.alias_of >= 0) {
      root_of[i] = root_of[r.alias_of];
      UsageRecord& root = roots[compact_of[root_of[i]]];
      root.first_step = std::min(root.first_step, r.first_step);
      root.last_step = std::max(root.last_step, r.last_step);
      continue;
    }
    root_of[i] = i;
    compact_of[i] = static_cast<int>(roots.size());
    UsageRecord planned = r;
    planned.offset = -1;
    if (!align_plan_size(r.size, &planned.size) ||
        __builtin_add_overflow(total, planned.size, &total)) {
      return out_of_range("buffer ", i, ": the buffers' total size overflows int64 (",
                          r.size, " bytes on top of ", total, ")");
    }
    roots.push_back(planned);
  }
  assign_offsets(roots);
  for (int i = 0; i < n; ++i) {
    UsageRecord& r = records_[i];
    const UsageRecord& root = roots[compact_of[root_of[i]]];
    r.offset = root.offset;
    if (r.alias_of >= 0) continue;
    r.first_step = root.first_step;
    r.last_step = root.last_step;
    int64_t end = 0;
    if (root.offset < 0 || root.offset % kPlanAlignment != 0 ||
        __builtin_add_overflow(root.offset, root.size, &end)) {
      return internal_error(name(), " planner gave buffer ", i, " the invalid offset ",
                            root.offset);
    }
    arena_size_ = std::max(arena_size_, end);
  }
  Status check = check_no_overlap(records_, arena_size_);
  if (!check.ok()) return internal_error(name(), " planner: ", check.message());
  planned_ = true;
  return ok_status();
}

int64_t MemoryPlanner::offset_of(int buffer) const {
  if (!planned_ || buffer < 0 || buffer >= num_records()) return -1;
  return records_[buffer].offset;
}

void LinearPlanner::assign_offsets(std::vector<UsageRecord>& roots) {
  int64_t next = 0;
  for (UsageRecord& r : roots) {
    r.offset = next;
    next += r.size;
  }
}

namespace plan_detail {

GapPlacer::GapPlacer(const std::vector<UsageRecord>& roots)
    : section_begin_(roots.size()), section_end_(roots.size()), seen_(roots.size(), -1) {
  std::vector<int64_t> bounds;
  bounds.reserve(2 * roots.size());
  for (const UsageRecord& r : roots) {
    bounds.push_back(r.first_step);
    bounds.push_back(static_cast<int64_t>(r.last_step) + 1);
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  auto section_of = [&](int64_t step) {
    return static_cast<int>(std::lower_bound(bounds.begin(), bounds.end(), step) - bounds.begin());
  };
  for (size_t i = 0; i < roots.size(); ++i) {
    section_begin_[i] = section_of(roots[i].first_step);
    section_end_[i] = section_of(static_cast<int64_t>(roots[i].last_step) + 1);
  }
  live_in_section_.resize(bounds.empty() ? 0 : bounds.size() - 1);
}

int64_t GapPlacer::place(std::vector<UsageRecord>& roots, const std::vector<int>& order,
                         GapFit fit, int64_t* work) {
  for (std::vector<int>& live : live_in_section_) live.clear();
  by_offset_.clear();
  long_placed_.clear();
  std::fill(seen_.begin(), seen_.end(), -1);
  int64_t scanned = 0;
  int64_t arena = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const int id = order[k];
    UsageRecord& r = roots[id];
    if (r.size == 0) {  // occupies nothing, conflicts with nothing
      r.offset = 0;
      continue;
    }
    // Short-lived buffers collect their neighbours through their sections and the long-lived
    // list, then sort them; when that would cost more than a pass over every placed buffer (kept
    // in offset order), or the buffer is long-lived itself, take the pass.
    const int span = section_end_[id] - section_begin_[id];
    const bool long_lived = span > kMaxListedSections;
    const std::vector<int>* candidates = &by_offset_;
    int64_t listed = static_cast<int64_t>(long_placed_.size());
    if (!long_lived) {
      for (int s = section_begin_[id]; s < section_end_[id]; ++s) {
        listed += static_cast<int64_t>(live_in_section_[s].size());
      }
      scanned += span;
    }
    int64_t sort_cost = listed;
    for (int64_t n = listed; n > 1; n /= 2) sort_cost += listed;
    if (!long_lived && sort_cost <= static_cast<int64_t>(by_offset_.size())) {
      overlapping_.clear();
      for (int s = section_begin_[id]; s < section_end_[id]; ++s) {
        for (int other : live_in_section_[s]) {
          if (seen_[other] == static_cast<int>(k)) continue;
          seen_[other] = static_cast<int>(k);
          overlapping_.push_back(other);
        }
      }
      for (int other : long_placed_) {
        if (roots[other].first_step <= r.last_step && r.first_step <= roots[other].last_step) {
          overlapping_.push_back(other);
        }
      }
      std::sort(overlapping_.begin(), overlapping_.end(), [&](int a, int b) {
        return roots[a].offset != roots[b].offset ? roots[a].offset < roots[b].offset : a < b;
      });
      candidates = &overlapping_;
      scanned += sort_cost;
    } else {
      scanned += static_cast<int64_t>(by_offset_.size());
    }
    int64_t cursor = 0;  // end of the overlapping buffers seen so far (in offset order)
    int64_t best_offset = -1;
    int64_t best_gap = kNoGap;
    for (int other : *candidates) {
      const UsageRecord& p = roots[other];
      if (p.first_step > r.last_step || r.first_step > p.last_step) continue;
      if (p.offset > cursor) {
        const int64_t gap = p.offset - cursor;
        if (gap >= r.size && gap < best_gap) {
          best_gap = gap;
          best_offset = cursor;
          if (fit == GapFit::kFirst) break;
        }
      }
      cursor = std::max(cursor, p.offset + p.size);
    }
    r.offset = best_offset >= 0 ? best_offset : cursor;
    arena = std::max(arena, r.offset + r.size);
    if (long_lived) {
      long_placed_.push_back(id);
    } else {
      for (int s = section_begin_[id]; s < section_end_[id]; ++s) live_in_section_[s].push_back(id);
    }
    const auto at = std::upper_bound(by_offset_.begin(), by_offset_.end(), id, [&](int a, int b) {
      return roots[a].offset < roots[b].offset;
    });
    by_offset_.insert(at, id);
  }
  if (work) *work += scanned;
  return arena;
}

}  // namespace plan_detail

int64_t place_in_order(std::vector<UsageRecord>& roots, const std::vector<int>& order,
                       GapFit fit) {
  return plan_detail::GapPlacer(roots).place(roots, order, fit);
}

int64_t place_greedy(std::vector<UsageRecord>& roots, GreedyOrder order, GapFit fit) {
  return place_in_order(roots, placement_order(roots, order), fit);
}

std::string GreedyPlanner::name() const {
  return std::string("greedy(") + order_name(order_) +
         (fit_ == GapFit::kBest ? ", best-fit)" : ", first-fit)");
}

void GreedyPlanner::assign_offsets(std::vector<UsageRecord>& roots) {
  place_greedy(roots, order_, fit_);
}

}  // namespace pbmem
