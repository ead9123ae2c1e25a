// Memory-aware scheduling: reorder a DAG of nodes so that fewer tensor bytes are live at once
// (in the spirit of SERENITY, Ahn et al. 2020): a greedy list scheduler, an exact-or-beam DP over
// scheduled sets between the graph's cut nodes, and the default order, keeping the best per
// independent segment. Plain data; no dependency on the graph IR or the runtime.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/status.h"
#include "plan/memory_planner.h"

namespace pbmem {

struct ScheduleNode {
  std::vector<int> inputs;   // tensor ids consumed (duplicates count once)
  std::vector<int> outputs;  // tensor ids produced (each tensor has at most one producer)
};

struct ScheduleTensor {
  int64_t bytes = 0;
  // A graph input or output: live from the start (no producer) / to the end; never freed.
  bool persistent = false;
};

// Liveness model (shared by simulate_peak, the scheduler and schedule_lifetimes): a tensor is
// live from the step its producer runs (step 0 when it has no producer) through the step of its
// last consumer; a tensor without consumers lives only at its producer's step; a persistent
// tensor lives to the end. Bytes at a step = the bytes of every tensor live at that step (a
// node's inputs and outputs together). A tensor with neither producer nor consumers that is not
// persistent is never live.
struct ScheduleProblem {
  std::vector<ScheduleNode> nodes;
  std::vector<ScheduleTensor> tensors;
  std::vector<int> default_order;                   // a valid topological order of all nodes
  std::vector<std::pair<int, int>> control_edges;   // (before, after) node ids
};

struct ScheduleOptions {
  double time_budget_ms = 50;  // for the search; the greedy passes always run (O(E log V))
  // The widest DP beam. Searches run in rounds with beams of 4, 16, 64, ... states per layer up
  // to this; a segment whose layers fit in the beam is solved exactly and leaves the rounds.
  int max_states_per_layer = 1024;
};

struct ScheduleResult {
  std::vector<int> order;          // a topological order of all nodes (data + control edges)
  int64_t peak_bytes = 0;          // == simulate_peak(problem, order) <= default_peak_bytes
  int64_t default_peak_bytes = 0;  // simulate_peak(problem, problem.default_order)
  int num_segments = 0;            // independent pieces between cut nodes
  int segments_searched = 0;       // segments (of 2+ nodes) with at least one finished search
  int segments_exact = 0;          // of those, solved exactly (no beam truncation)
  bool out_of_time = false;        // the budget ran out before every segment was searched
};

Result<ScheduleResult> memory_aware_schedule(const ScheduleProblem& problem,
                                             const ScheduleOptions& options = {});

// An error naming the rule broken when the problem is malformed (bad ids, two producers of one
// tensor, a cycle, negative bytes, a total that overflows) or `order` is not a topological
// order of all its nodes.
Status validate_schedule(const ScheduleProblem& problem, const std::vector<int>& order);

// The largest bytes live at one step when running `order` (see the liveness model); -1 when the
// problem or the order is invalid.
int64_t simulate_peak(const ScheduleProblem& problem, const std::vector<int>& order);

// One UsageRecord per tensor (index = tensor id) with its lifetime in steps of `order` and its
// bytes, ready for a MemoryPlanner; never-live tensors get size 0. live_bytes_lower_bound of
// these equals simulate_peak when every size is a multiple of kPlanAlignment.
Result<std::vector<UsageRecord>> schedule_lifetimes(const ScheduleProblem& problem,
                                                    const std::vector<int>& order);

}  // namespace pbmem
