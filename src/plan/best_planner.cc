// The best-of planner: run every cheap heuristic, keep the smallest arena, then spend a fixed
// amount of work on a local search over the placement order when the lower bound is not met.
// Also the planner factory by name.
#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "plan/memory_planner.h"
#include "plan/placement.h"

namespace pbmem {
namespace {

struct Best {
  std::vector<UsageRecord> roots;
  int64_t arena = 0;
  std::string name;
  bool have = false;

  void consider(std::vector<UsageRecord>&& trial, int64_t trial_arena, std::string trial_name) {
    if (have && trial_arena >= arena) return;
    have = true;
    roots = std::move(trial);
    arena = trial_arena;
    name = std::move(trial_name);
  }
};

// How many buffers end at the top: fewer means closer to lowering it (the tie-breaker that
// steers the search across plateaus of equal arena).
int64_t buffers_at_top(const std::vector<UsageRecord>& roots, int64_t arena) {
  int64_t count = 0;
  for (const UsageRecord& r : roots) count += r.size > 0 && r.offset + r.size == arena;
  return count;
}

// Iterated hill climbing on the placement order, starting from `best`'s buffers sorted by
// offset: a move takes a buffer that reaches the top to a random earlier place, or swaps two;
// it is kept when (arena, buffers at the top) does not get worse. After kPatience moves without
// a new best, the best order gets kKicks random moves and the climb goes on from there.
void local_search(std::vector<UsageRecord>& roots, Best& best, int64_t bound,
                  const BestPlannerOptions& options) {
  constexpr int kMoveOrSwapOdds = 2;  // 1 in 2 moves is a random swap
  constexpr int kPatience = 300;
  constexpr int kKicks = 5;
  const int n = static_cast<int>(roots.size());
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const UsageRecord& x = best.roots[a];
    const UsageRecord& y = best.roots[b];
    return x.offset != y.offset ? x.offset < y.offset : a < b;
  });
  plan_detail::GapPlacer placer(roots);
  std::vector<UsageRecord> current = roots;
  int64_t work = 0;
  int64_t arena = placer.place(current, order, GapFit::kBest, &work);
  int64_t at_top = buffers_at_top(current, arena);
  std::mt19937 rng(options.seed);
  auto random_index = [&](int below) {
    return static_cast<int>(rng() % static_cast<unsigned>(below));
  };
  std::vector<int> best_order = order;
  std::vector<int> critical;
  std::vector<int> trial_order;
  std::vector<UsageRecord> trial = current;
  bool improved = false;
  int since_best = 0;
  while (work < options.search_work && best.arena > bound) {
    trial_order = order;
    if (++since_best > kPatience) {  // kick: restart near the best order
      since_best = 0;
      trial_order = best_order;
      for (int k = 0; k < kKicks; ++k) {
        const int from = random_index(n);
        const int v = trial_order[from];
        trial_order.erase(trial_order.begin() + from);
        trial_order.insert(trial_order.begin() + random_index(n), v);
      }
    } else {
      critical.clear();
      for (int i = 0; i < n; ++i) {
        if (current[order[i]].offset + current[order[i]].size == arena) critical.push_back(i);
      }
      const int i = critical[random_index(static_cast<int>(critical.size()))];
      if (i == 0 || rng() % kMoveOrSwapOdds == 0) {
        std::swap(trial_order[random_index(n)], trial_order[random_index(n)]);
      } else {  // a buffer at the top to a random earlier place
        const int j = random_index(i);
        std::rotate(trial_order.begin() + j, trial_order.begin() + i, trial_order.begin() + i + 1);
      }
    }
    const int64_t trial_arena = placer.place(trial, trial_order, GapFit::kBest, &work);
    work += 2 * static_cast<int64_t>(n);  // the copies below
    const int64_t trial_at_top = buffers_at_top(trial, trial_arena);
    const bool kicked = since_best == 0;
    if (!kicked && (trial_arena > arena || (trial_arena == arena && trial_at_top > at_top))) {
      trial = current;
      continue;
    }
    arena = trial_arena;
    at_top = trial_at_top;
    order.swap(trial_order);
    current = trial;
    if (arena < best.arena) {
      best.roots = current;
      best.arena = arena;
      best_order = order;
      improved = true;
      since_best = 0;
    }
  }
  if (improved) best.name += "+search";
}

}  // namespace

void BestOfPlanner::assign_offsets(std::vector<UsageRecord>& roots) {
  // Likely winners first: greedy by size suits chains, the skyline branchy graphs. Nothing can
  // beat the lower bound, so reaching it ends the search.
  const int64_t bound = live_bytes_lower_bound(roots);
  Best best;
  auto try_greedy = [&](GreedyOrder order, GapFit fit) {
    if (best.have && best.arena <= bound) return;
    std::vector<UsageRecord> trial = roots;
    place_greedy(trial, order, fit);
    const int64_t arena = compact_down(trial);
    best.consider(std::move(trial), arena, GreedyPlanner(order, fit).name());
  };
  auto try_skyline = [&](SkylinePick pick) {
    if (best.have && best.arena <= bound) return;
    std::vector<UsageRecord> trial = roots;
    place_skyline(trial, pick);
    const int64_t arena = compact_down(trial);
    best.consider(std::move(trial), arena, SkylinePlanner(pick).name());
  };
  try_greedy(GreedyOrder::kSize, GapFit::kBest);
  for (SkylinePick pick : {SkylinePick::kLongestLifetime, SkylinePick::kLargestSize,
                           SkylinePick::kLargestArea}) {
    try_skyline(pick);
  }
  for (GreedyOrder order : {GreedyOrder::kSize, GreedyOrder::kPressure,
                            GreedyOrder::kSizeTimesLifetime, GreedyOrder::kFirstStep}) {
    for (GapFit fit : {GapFit::kBest, GapFit::kFirst}) {
      if (order != GreedyOrder::kSize || fit != GapFit::kBest) try_greedy(order, fit);
    }
  }
  if (!roots.empty() && options_.search_work > 0 && best.arena > bound) {
    local_search(roots, best, bound, options_);
  }
  roots = std::move(best.roots);
  winner_ = best.name;
}

std::unique_ptr<MemoryPlanner> make_best_planner(const BestPlannerOptions& options) {
  return std::make_unique<BestOfPlanner>(options);
}

Result<std::unique_ptr<MemoryPlanner>> make_planner(const std::string& name) {
  if (name == "linear") return std::unique_ptr<MemoryPlanner>(std::make_unique<LinearPlanner>());
  if (name == "greedy") return std::unique_ptr<MemoryPlanner>(std::make_unique<GreedyPlanner>());
  if (name == "skyline") return std::unique_ptr<MemoryPlanner>(std::make_unique<SkylinePlanner>());
  if (name == "best") return make_best_planner();
  return invalid_argument("unknown memory planner '", name,
                          "' (choose linear, greedy, skyline or best)");
}

}  // namespace pbmem
