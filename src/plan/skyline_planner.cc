// Skyline placement (the best-fit heuristic for 2-D strip packing applied to buffers: time is
// the strip's width, bytes its height) and the downward compaction pass.
#include <algorithm>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "plan/memory_planner.h"

namespace pbmem {
namespace {

constexpr int64_t kNoNeighbour = std::numeric_limits<int64_t>::max();

__int128 area_of(const UsageRecord& r) {
  return static_cast<__int128>(r.size) * (static_cast<__int128>(r.last_step) - r.first_step + 1);
}

// Priority of the buffers competing for a stretch of the skyline; ties: earlier first_step, id.
std::vector<int> pick_order(const std::vector<UsageRecord>& r, SkylinePick pick) {
  std::vector<int> ids(r.size());
  std::iota(ids.begin(), ids.end(), 0);
  auto length = [&](int i) { return static_cast<int64_t>(r[i].last_step) - r[i].first_step; };
  std::sort(ids.begin(), ids.end(), [&](int a, int b) {
    switch (pick) {
      case SkylinePick::kLongestLifetime:
        if (length(a) != length(b)) return length(a) > length(b);
        if (r[a].size != r[b].size) return r[a].size > r[b].size;
        break;
      case SkylinePick::kLargestSize:
        if (r[a].size != r[b].size) return r[a].size > r[b].size;
        if (length(a) != length(b)) return length(a) > length(b);
        break;
      case SkylinePick::kLargestArea:
        if (area_of(r[a]) != area_of(r[b])) return area_of(r[a]) > area_of(r[b]);
        if (r[a].size != r[b].size) return r[a].size > r[b].size;
        break;
    }
    if (r[a].first_step != r[b].first_step) return r[a].first_step < r[b].first_step;
    return a < b;
  });
  return ids;
}

}  // namespace

int64_t place_skyline(std::vector<UsageRecord>& roots, SkylinePick pick) {
  // Time compressed to elementary intervals between consecutive lifetime boundaries.
  std::vector<int64_t> bounds;
  for (const UsageRecord& r : roots) {
    bounds.push_back(r.first_step);
    bounds.push_back(static_cast<int64_t>(r.last_step) + 1);
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  const int slots = std::max(0, static_cast<int>(bounds.size()) - 1);
  auto slot_of = [&](int64_t step) {
    return static_cast<int>(std::lower_bound(bounds.begin(), bounds.end(), step) - bounds.begin());
  };
  std::vector<int> begin(roots.size()), end(roots.size());
  std::vector<int> pending;  // in pick order
  for (int id : pick_order(roots, pick)) {
    UsageRecord& r = roots[id];
    if (r.size == 0) {
      r.offset = 0;
      continue;
    }
    begin[id] = slot_of(r.first_step);
    end[id] = slot_of(static_cast<int64_t>(r.last_step) + 1);
    pending.push_back(id);
  }
  std::vector<int64_t> height(slots, 0);
  int64_t arena = 0;
  while (!pending.empty()) {
    // The lowest stretch of the skyline (leftmost on ties).
    const int lo =
        static_cast<int>(std::min_element(height.begin(), height.end()) - height.begin());
    int hi = lo + 1;
    while (hi < slots && height[hi] == height[lo]) ++hi;
    const int64_t level = height[lo];
    auto fits = std::find_if(pending.begin(), pending.end(),
                             [&](int id) { return begin[id] >= lo && end[id] <= hi; });
    if (fits == pending.end()) {  // nothing fits: fill the stretch up to its lower neighbour
      const int64_t left = lo > 0 ? height[lo - 1] : kNoNeighbour;
      const int64_t right = hi < slots ? height[hi] : kNoNeighbour;
      const int64_t raised = std::min(left, right);
      if (raised == kNoNeighbour) break;  // unreachable: every buffer fits the whole timeline
      std::fill(height.begin() + lo, height.begin() + hi, raised);
      continue;
    }
    const int id = *fits;
    pending.erase(fits);
    roots[id].offset = level;
    std::fill(height.begin() + begin[id], height.begin() + end[id], level + roots[id].size);
    arena = std::max(arena, level + roots[id].size);
  }
  return arena;
}

int64_t compact_down(std::vector<UsageRecord>& roots) {
  // Re-placing by ascending offset with first fit: everything below a buffer only moves down,
  // so its old place stays free and it can only move down too.
  std::vector<int> ids(roots.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::sort(ids.begin(), ids.end(), [&](int a, int b) {
    if (roots[a].offset != roots[b].offset) return roots[a].offset < roots[b].offset;
    return a < b;
  });
  return place_in_order(roots, ids, GapFit::kFirst);
}

std::string SkylinePlanner::name() const {
  switch (pick_) {
    case SkylinePick::kLongestLifetime: return "skyline(longest)";
    case SkylinePick::kLargestSize: return "skyline(largest)";
    case SkylinePick::kLargestArea: return "skyline(area)";
  }
  return "skyline";
}

void SkylinePlanner::assign_offsets(std::vector<UsageRecord>& roots) {
  place_skyline(roots, pick_);
  compact_down(roots);
}

}  // namespace pbmem
