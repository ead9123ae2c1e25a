// Internals of the memory-aware scheduler, shared by its .cc files: the validated graph, the
// "core" graph (sources floated next to their first consumer), simulation, the greedy list
// scheduler and the segment DP.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "plan/schedule.h"

namespace pbmem {
namespace schedule_detail {

using Clock = std::chrono::steady_clock;

// A validated ScheduleProblem with the adjacency the algorithms need. Lists are deduplicated.
struct ScheduleGraph {
  int num_nodes = 0;
  std::vector<std::vector<int>> inputs;     // per node: distinct tensors consumed
  std::vector<std::vector<int>> outputs;    // per node: tensors produced
  std::vector<int64_t> out_bytes;           // per node: bytes of its outputs
  std::vector<int64_t> dead_bytes;          // per node: outputs freed right after it runs
  std::vector<std::vector<int>> preds;      // per node: distinct predecessors (data + control)
  std::vector<std::vector<int>> succs;      // per node: distinct successors
  std::vector<int> producer;                // per tensor: node, or -1 for a graph input
  std::vector<std::vector<int>> consumers;  // per tensor: distinct consuming nodes
  std::vector<int64_t> bytes;               // per tensor
  std::vector<char> persistent;             // per tensor
  int64_t initial_live = 0;                 // graph inputs live before the first step

  // A tensor that is freed after its last consumer runs.
  bool freeable(int t) const { return !persistent[t] && !consumers[t].empty(); }
};

// Validates ids, producers, bytes, the total (fits in int64) and acyclicity.
Result<ScheduleGraph> build_schedule_graph(const ScheduleProblem& problem);
// `order` is a permutation of the nodes that respects every edge; `what` names it in errors.
Status check_order(const ScheduleGraph& g, const std::vector<int>& order, const char* what);

// Bytes at each step of a valid order, and the live bytes after it.
struct Simulation {
  std::vector<int64_t> step_bytes;
  std::vector<int64_t> live_after;
  int64_t peak = 0;
};
Simulation simulate(const ScheduleGraph& g, const std::vector<int>& order);

// Source nodes (no predecessors) that free no bytes (their inputs are persistent or empty graph
// inputs; each output is consumed, persistent or empty) are best run right before their first
// successor: running them later only shortens their outputs' lives. They are taken out of the
// search ("floating") and attached to their successors; the remaining "core" nodes are
// scheduled.
struct CoreGraph {
  std::vector<char> floating;                // per node
  std::vector<std::vector<int>> attached;    // per core node: floating preds, default order
  std::vector<std::vector<int>> core_preds;  // per node: core predecessors (successors of any
                                             // node are all core: floating nodes have no preds)
  std::vector<int> default_core_order;       // core nodes in default order
  std::vector<int> core_pos;                 // per core node: its index in default_core_order
};
CoreGraph build_core_graph(const ScheduleGraph& g, const std::vector<int>& default_order);
// The full order: each core node preceded by its attached floating nodes not yet emitted. With
// `group_end`, entry i is the full order's length after core_order[i] (and its floating nodes).
std::vector<int> materialize(const ScheduleGraph& g, const CoreGraph& core,
                             const std::vector<int>& core_order,
                             std::vector<int>* group_end = nullptr);

enum class GreedyRule {
  kLeastGrowth,    // the ready node whose run grows live bytes least (frees most)
  kSmallestStep,   // the ready node whose step needs the fewest bytes, then least growth
};
// A list schedule of the core nodes; ties by default order. O((V + E) log V + sum of degrees of
// nodes whose key changes).
std::vector<int> greedy_core_order(const ScheduleGraph& g, const CoreGraph& core, GreedyRule rule);

// One segment of core positions [begin, end) of the default core order: in every topological
// order those nodes run together, after all earlier segments and before all later ones.
struct SegmentProblem {
  int begin = 0;
  int end = 0;
  int64_t live_at_start = 0;  // live bytes after every earlier segment
  int64_t upper_bound = 0;    // only strictly lower peaks are searched for
};
struct SegmentSearchResult {
  bool found = false;     // an order with a peak below upper_bound
  bool completed = false; // ran to the end (false: out of time)
  bool exact = false;     // no layer was truncated: `found == false` proves the bound optimal
  std::vector<int> order; // the segment's core nodes
  int64_t peak = 0;
};
// `segment_of`: per node, the index of its segment (floating nodes: -1); `index` is this one.
SegmentSearchResult search_segment(const ScheduleGraph& g, const CoreGraph& core,
                                   const std::vector<int>& segment_of, int index,
                                   const SegmentProblem& segment, Clock::time_point deadline,
                                   int max_states_per_layer);

}  // namespace schedule_detail
}  // namespace pbmem
