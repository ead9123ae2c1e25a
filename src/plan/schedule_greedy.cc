// The greedy list scheduler: repeatedly run the ready core node that is cheapest in memory. Keys
// change only when a tensor gets down to its last unrun consumer or a floating source runs, so
// each such event refreshes one node's entry in an ordered set.
#include <set>
#include <tuple>

#include "plan/schedule_internal.h"

namespace pbmem {
namespace schedule_detail {
namespace {

struct ReadyKey {
  int64_t primary = 0;
  int64_t secondary = 0;
  int position = 0;  // in the default core order: ties keep the default order
  int node = 0;
  bool operator<(const ReadyKey& o) const {
    return std::tie(primary, secondary, position) < std::tie(o.primary, o.secondary, o.position);
  }
};

class GreedyScheduler {
 public:
  GreedyScheduler(const ScheduleGraph& g, const CoreGraph& core, GreedyRule rule)
      : g_(g), core_(core), rule_(rule), remaining_(g.consumers.size()), ran_(g.num_nodes, 0),
        is_ready_(g.num_nodes, 0), keys_(g.num_nodes), indegree_(g.num_nodes, 0) {
    for (size_t t = 0; t < remaining_.size(); ++t) {
      remaining_[t] = static_cast<int>(g.consumers[t].size());
    }
  }

  std::vector<int> run() {
    std::vector<int> order;
    order.reserve(core_.default_core_order.size());
    for (int v : core_.default_core_order) {
      indegree_[v] = static_cast<int>(core_.core_preds[v].size());
      if (indegree_[v] == 0) make_ready(v);
    }
    while (!ready_.empty()) {
      const int v = ready_.begin()->node;
      ready_.erase(ready_.begin());
      is_ready_[v] = 0;
      ran_[v] = 1;
      order.push_back(v);
      for (int s : core_.attached[v]) {
        if (ran_[s]) continue;
        ran_[s] = 1;  // its other successors no longer pay for its outputs
        for (int w : g_.succs[s]) refresh(w);
      }
      for (int t : g_.inputs[v]) {
        if (--remaining_[t] != 1 || !g_.freeable(t)) continue;
        for (int w : g_.consumers[t]) {  // the last consumer would now free t
          if (!ran_[w]) {
            refresh(w);
            break;
          }
        }
      }
      for (int w : g_.succs[v]) {
        if (--indegree_[w] == 0) make_ready(w);
      }
    }
    return order;
  }

 private:
  ReadyKey key_of(int v) const {
    int64_t step = g_.out_bytes[v];
    for (int s : core_.attached[v]) {
      if (!ran_[s]) step += g_.out_bytes[s];
    }
    int64_t freed = g_.dead_bytes[v];
    for (int t : g_.inputs[v]) {
      if (remaining_[t] == 1 && g_.freeable(t)) freed += g_.bytes[t];
    }
    ReadyKey key;
    key.position = core_.core_pos[v];
    key.node = v;
    if (rule_ == GreedyRule::kLeastGrowth) {
      key.primary = step - freed;
    } else {
      key.primary = step;
      key.secondary = step - freed;
    }
    return key;
  }

  void make_ready(int v) {
    keys_[v] = key_of(v);
    ready_.insert(keys_[v]);
    is_ready_[v] = 1;
  }

  void refresh(int v) {
    if (!is_ready_[v]) return;  // its key is computed when it becomes ready
    ready_.erase(keys_[v]);
    keys_[v] = key_of(v);
    ready_.insert(keys_[v]);
  }

  const ScheduleGraph& g_;
  const CoreGraph& core_;
  GreedyRule rule_;
  std::vector<int> remaining_;  // per tensor: consumers not yet run
  std::vector<char> ran_;       // per node (core and floating)
  std::vector<char> is_ready_;
  std::vector<ReadyKey> keys_;
  std::vector<int> indegree_;   // per core node: core predecessors not yet run
  std::set<ReadyKey> ready_;
};

}  // namespace

std::vector<int> greedy_core_order(const ScheduleGraph& g, const CoreGraph& core,
                                   GreedyRule rule) {
  return GreedyScheduler(g, core, rule).run();
}

}  // namespace schedule_detail
}  // namespace pbmem
