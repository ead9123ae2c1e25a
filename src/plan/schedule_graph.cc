// The scheduler's graph layer: validation of a ScheduleProblem into a ScheduleGraph, order
// checks, the live-bytes simulation and the core graph with floating sources.
#include <algorithm>
#include <utility>

#include "plan/schedule_internal.h"

namespace pbmem {
namespace schedule_detail {
namespace {

// Appends `value` unless this list already has it; `stamp` marks values seen for `owner`.
void add_distinct(std::vector<int>& list, int value, std::vector<int>& stamp, int owner) {
  if (stamp[value] == owner) return;
  stamp[value] = owner;
  list.push_back(value);
}

// Kahn's algorithm; on a cycle, an error naming one node on it.
Status check_acyclic(const ScheduleGraph& g) {
  const int n = g.num_nodes;
  std::vector<int> indegree(n);
  std::vector<int> queue;
  for (int v = 0; v < n; ++v) {
    indegree[v] = static_cast<int>(g.preds[v].size());
    if (indegree[v] == 0) queue.push_back(v);
  }
  for (size_t head = 0; head < queue.size(); ++head) {
    for (int w : g.succs[queue[head]]) {
      if (--indegree[w] == 0) queue.push_back(w);
    }
  }
  if (static_cast<int>(queue.size()) == n) return ok_status();
  // Walking predecessors among the unfinished nodes n times surely lands on a cycle.
  int node = 0;
  while (indegree[node] == 0) ++node;
  for (int step = 0; step < n; ++step) {
    for (int p : g.preds[node]) {
      if (indegree[p] > 0) {
        node = p;
        break;
      }
    }
  }
  return invalid_argument("the schedule graph has a cycle through node ", node, " (",
                          n - static_cast<int>(queue.size()), " nodes cannot be ordered)");
}

}  // namespace

Result<ScheduleGraph> build_schedule_graph(const ScheduleProblem& problem) {
  ScheduleGraph g;
  const int n = static_cast<int>(problem.nodes.size());
  const int num_tensors = static_cast<int>(problem.tensors.size());
  g.num_nodes = n;
  g.bytes.resize(num_tensors);
  g.persistent.resize(num_tensors);
  int64_t total = 0;
  for (int t = 0; t < num_tensors; ++t) {
    const ScheduleTensor& tensor = problem.tensors[t];
    if (tensor.bytes < 0) {
      return invalid_argument("tensor ", t, ": bytes ", tensor.bytes, " must be >= 0");
    }
    if (__builtin_add_overflow(total, tensor.bytes, &total)) {
      return out_of_range("tensor ", t, ": the tensors' total bytes overflow int64");
    }
    g.bytes[t] = tensor.bytes;
    g.persistent[t] = tensor.persistent ? 1 : 0;
  }
  g.producer.assign(num_tensors, -1);
  g.consumers.resize(num_tensors);
  g.inputs.resize(n);
  g.outputs.resize(n);
  std::vector<int> stamp(num_tensors, -1);
  for (int v = 0; v < n; ++v) {
    for (int t : problem.nodes[v].outputs) {
      if (t < 0 || t >= num_tensors) {
        return invalid_argument("node ", v, ": output tensor id ", t, " is out of range (",
                                num_tensors, " tensors)");
      }
      if (g.producer[t] == v) {
        return invalid_argument("node ", v, " lists output tensor ", t, " twice");
      }
      if (g.producer[t] >= 0) {
        return invalid_argument("tensor ", t, " is produced by both node ", g.producer[t],
                                " and node ", v);
      }
      g.producer[t] = v;
      g.outputs[v].push_back(t);
    }
  }
  for (int v = 0; v < n; ++v) {
    for (int t : problem.nodes[v].inputs) {
      if (t < 0 || t >= num_tensors) {
        return invalid_argument("node ", v, ": input tensor id ", t, " is out of range (",
                                num_tensors, " tensors)");
      }
      if (g.producer[t] == v) {
        return invalid_argument("node ", v, " consumes its own output tensor ", t,
                                " (a cycle in the schedule graph)");
      }
      add_distinct(g.inputs[v], t, stamp, v);
    }
    for (int t : g.inputs[v]) g.consumers[t].push_back(v);
  }
  g.preds.resize(n);
  g.succs.resize(n);
  std::vector<std::vector<int>> control_preds(n);
  for (const auto& [before, after] : problem.control_edges) {
    if (before < 0 || before >= n || after < 0 || after >= n) {
      return invalid_argument("control edge (", before, ", ", after,
                              ") names a node id out of range (", n, " nodes)");
    }
    if (before == after) {
      return invalid_argument("control edge (", before, ", ", after,
                              ") is a self-loop (a cycle in the schedule graph)");
    }
    control_preds[after].push_back(before);
  }
  std::vector<int> node_stamp(n, -1);
  for (int v = 0; v < n; ++v) {
    for (int t : g.inputs[v]) {
      if (g.producer[t] >= 0) add_distinct(g.preds[v], g.producer[t], node_stamp, v);
    }
    for (int p : control_preds[v]) add_distinct(g.preds[v], p, node_stamp, v);
    for (int p : g.preds[v]) g.succs[p].push_back(v);
  }
  g.out_bytes.assign(n, 0);
  g.dead_bytes.assign(n, 0);
  for (int v = 0; v < n; ++v) {
    for (int t : g.outputs[v]) {
      g.out_bytes[v] += g.bytes[t];
      if (!g.persistent[t] && g.consumers[t].empty()) g.dead_bytes[v] += g.bytes[t];
    }
  }
  for (int t = 0; t < num_tensors; ++t) {
    if (g.producer[t] < 0 && (g.persistent[t] || !g.consumers[t].empty())) {
      g.initial_live += g.bytes[t];
    }
  }
  PBMEM_RETURN_IF_ERROR(check_acyclic(g));
  return g;
}

Status check_order(const ScheduleGraph& g, const std::vector<int>& order, const char* what) {
  const int n = g.num_nodes;
  if (static_cast<int>(order.size()) != n) {
    return invalid_argument(what, " has ", order.size(), " entries but the graph has ", n,
                            " nodes");
  }
  std::vector<int> position(n, -1);
  for (int i = 0; i < n; ++i) {
    const int v = order[i];
    if (v < 0 || v >= n) {
      return invalid_argument(what, "[", i, "] = ", v, " is not a node id (", n, " nodes)");
    }
    if (position[v] >= 0) {
      return invalid_argument(what, " lists node ", v, " twice (at ", position[v], " and ", i, ")");
    }
    position[v] = i;
  }
  for (int v = 0; v < n; ++v) {
    for (int p : g.preds[v]) {
      if (position[p] > position[v]) {
        return invalid_argument(what, " runs node ", v, " (at ", position[v],
                                ") before its predecessor node ", p, " (at ", position[p], ")");
      }
    }
  }
  return ok_status();
}

Simulation simulate(const ScheduleGraph& g, const std::vector<int>& order) {
  Simulation sim;
  sim.step_bytes.reserve(order.size());
  sim.live_after.reserve(order.size());
  std::vector<int> remaining(g.consumers.size());
  for (size_t t = 0; t < remaining.size(); ++t) {
    remaining[t] = static_cast<int>(g.consumers[t].size());
  }
  int64_t live = g.initial_live;
  sim.peak = live;
  for (int v : order) {
    const int64_t step = live + g.out_bytes[v];
    sim.peak = std::max(sim.peak, step);
    live = step - g.dead_bytes[v];
    for (int t : g.inputs[v]) {
      if (--remaining[t] == 0 && g.freeable(t)) live -= g.bytes[t];
    }
    sim.step_bytes.push_back(step);
    sim.live_after.push_back(live);
  }
  return sim;
}

CoreGraph build_core_graph(const ScheduleGraph& g, const std::vector<int>& default_order) {
  const int n = g.num_nodes;
  CoreGraph core;
  core.floating.assign(n, 0);
  for (int v = 0; v < n; ++v) {
    if (!g.preds[v].empty() || g.succs[v].empty()) continue;
    // Moving it later must not lengthen what it frees nor shorten what it would free at once:
    // it frees no input bytes and has no output that dies at once while holding bytes.
    bool frees_nothing = true;
    for (int t : g.inputs[v]) {
      if (g.freeable(t) && g.bytes[t] > 0) frees_nothing = false;
    }
    for (int t : g.outputs[v]) {
      if (g.consumers[t].empty() && !g.persistent[t] && g.bytes[t] > 0) frees_nothing = false;
    }
    core.floating[v] = frees_nothing ? 1 : 0;
  }
  std::vector<int> default_pos(n);
  for (int i = 0; i < n; ++i) default_pos[default_order[i]] = i;
  core.attached.resize(n);
  core.core_preds.resize(n);
  core.core_pos.assign(n, -1);
  for (int v : default_order) {
    if (core.floating[v]) continue;
    core.core_pos[v] = static_cast<int>(core.default_core_order.size());
    core.default_core_order.push_back(v);
    for (int p : g.preds[v]) {
      (core.floating[p] ? core.attached[v] : core.core_preds[v]).push_back(p);
    }
    std::sort(core.attached[v].begin(), core.attached[v].end(),
              [&](int a, int b) { return default_pos[a] < default_pos[b]; });
  }
  return core;
}

std::vector<int> materialize(const ScheduleGraph& g, const CoreGraph& core,
                             const std::vector<int>& core_order, std::vector<int>* group_end) {
  std::vector<char> emitted(g.num_nodes, 0);
  std::vector<int> order;
  order.reserve(g.num_nodes);
  if (group_end) group_end->clear();
  for (int v : core_order) {
    for (int s : core.attached[v]) {
      if (emitted[s]) continue;
      emitted[s] = 1;
      order.push_back(s);
    }
    order.push_back(v);
    if (group_end) group_end->push_back(static_cast<int>(order.size()));
  }
  return order;
}

}  // namespace schedule_detail
}  // namespace pbmem
