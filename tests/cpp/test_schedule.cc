// Tests of the memory-aware scheduler: the liveness simulation on hand examples, strict gains on
// branchy graphs, optimality against brute force on small random DAGs, never worse than the
// default order on hundreds of seeded random DAGs (valid orders honouring control edges), bad
// input, and a 2,000-node graph that must finish within its budget.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "plan/memory_planner.h"
#include "plan/schedule.h"

namespace pbmem {
namespace {

// Builds problems node by node: each node produces one new tensor of the given bytes.
class ProblemBuilder {
 public:
  int input(int64_t bytes, bool persistent = false) {
    problem_.tensors.push_back({bytes, persistent});
    return static_cast<int>(problem_.tensors.size()) - 1;
  }
  // Returns the node id; its output tensor is output_of(node).
  int node(std::vector<int> input_tensors, int64_t bytes, bool persistent = false) {
    const int tensor = input(bytes, persistent);
    problem_.nodes.push_back({std::move(input_tensors), {tensor}});
    output_.push_back(tensor);
    const int id = static_cast<int>(problem_.nodes.size()) - 1;
    problem_.default_order.push_back(id);
    return id;
  }
  int output_of(int node) const { return output_[node]; }
  ScheduleProblem& problem() { return problem_; }

 private:
  ScheduleProblem problem_;
  std::vector<int> output_;
};

void expect_valid_result(const ScheduleProblem& problem, const ScheduleResult& result) {
  ASSERT_TRUE(validate_schedule(problem, result.order).ok())
      << validate_schedule(problem, result.order).to_string();
  EXPECT_EQ(result.peak_bytes, simulate_peak(problem, result.order));
  EXPECT_EQ(result.default_peak_bytes, simulate_peak(problem, problem.default_order));
  EXPECT_LE(result.peak_bytes, result.default_peak_bytes);
}

TEST(ScheduleSimulate, ChainFreesInputsAfterTheirLastConsumer) {
  ProblemBuilder b;
  const int x = b.input(10);
  const int n0 = b.node({x}, 20);
  const int n1 = b.node({b.output_of(n0)}, 30);
  b.node({b.output_of(n1)}, 5, /*persistent=*/true);
  // Steps: 10 + 20 = 30 (x freed), 20 + 30 = 50, 30 + 5 = 35.
  EXPECT_EQ(simulate_peak(b.problem(), {0, 1, 2}), 50);
  EXPECT_EQ(simulate_peak(b.problem(), {1, 0, 2}), -1);  // not topological
  EXPECT_EQ(simulate_peak(b.problem(), {0, 1}), -1);     // not all nodes
}

TEST(ScheduleSimulate, UnconsumedAndPersistentTensors) {
  ProblemBuilder b;
  const int weights = b.input(1000, /*persistent=*/true);  // live throughout
  b.input(999);                                            // neither produced nor consumed
  const int n0 = b.node({weights}, 100);                   // consumed by n2
  b.node({weights}, 50);                                   // no consumer: dies at once
  b.node({b.output_of(n0)}, 10);
  // Steps: 1000 + 100, 1100 + 50 (then 50 freed), 1100 + 10 (then 100 and 10 freed); running
  // the short-lived node first: 1000 + 50, 1000 + 100, 1100 + 10.
  EXPECT_EQ(simulate_peak(b.problem(), {0, 1, 2}), 1150);
  EXPECT_EQ(simulate_peak(b.problem(), {1, 0, 2}), 1110);

  const Result<std::vector<UsageRecord>> records = schedule_lifetimes(b.problem(), {1, 0, 2});
  ASSERT_TRUE(records.ok());
  EXPECT_EQ((*records)[weights].first_step, 0);
  EXPECT_EQ((*records)[weights].last_step, 2);
  EXPECT_EQ((*records)[1].size, 0);  // never live
  EXPECT_EQ((*records)[b.output_of(1)].first_step, 0);
  EXPECT_EQ((*records)[b.output_of(1)].last_step, 0);
  EXPECT_EQ((*records)[b.output_of(0)].first_step, 1);
  EXPECT_EQ((*records)[b.output_of(0)].last_step, 2);
}

// The lowest peak over every topological order (small graphs only): depth-first over the nodes
// whose producers and control predecessors have all run.
int64_t brute_force_peak(const ScheduleProblem& p) {
  const int n = static_cast<int>(p.nodes.size());
  std::vector<int> producer(p.tensors.size(), -1);
  for (int v = 0; v < n; ++v) {
    for (int t : p.nodes[v].outputs) producer[t] = v;
  }
  std::vector<std::vector<int>> preds(n);
  for (int v = 0; v < n; ++v) {
    for (int t : p.nodes[v].inputs) {
      if (producer[t] >= 0) preds[v].push_back(producer[t]);
    }
  }
  for (const auto& [before, after] : p.control_edges) preds[after].push_back(before);
  std::vector<int> order;
  std::vector<char> used(n, 0);
  int64_t best = -1;
  std::function<void()> extend = [&]() {
    if (static_cast<int>(order.size()) == n) {
      const int64_t peak = simulate_peak(p, order);
      if (best < 0 || peak < best) best = peak;
      return;
    }
    for (int v = 0; v < n; ++v) {
      if (used[v]) continue;
      const bool ready = std::all_of(preds[v].begin(), preds[v].end(),
                                     [&](int u) { return used[u] != 0; });
      if (!ready) continue;
      used[v] = 1;
      order.push_back(v);
      extend();
      order.pop_back();
      used[v] = 0;
    }
  };
  extend();
  return best;
}

// x feeds two branches, each a big tensor reduced to a small one, joined at the end.
ScheduleProblem two_branches_breadth_first() {
  ProblemBuilder b;
  const int source = b.node({}, 10);
  const int a1 = b.node({b.output_of(source)}, 100);
  const int b1 = b.node({b.output_of(source)}, 100);
  const int a2 = b.node({b.output_of(a1)}, 10);
  const int b2 = b.node({b.output_of(b1)}, 10);
  b.node({b.output_of(a2), b.output_of(b2)}, 10);
  return b.problem();
}

TEST(ScheduleSearch, FinishesOneBranchBeforeStartingTheOther) {
  const ScheduleProblem problem = two_branches_breadth_first();
  EXPECT_EQ(simulate_peak(problem, problem.default_order), 210);
  const Result<ScheduleResult> result = memory_aware_schedule(problem);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  expect_valid_result(problem, *result);
  EXPECT_EQ(result->peak_bytes, 120);
  EXPECT_EQ(result->default_peak_bytes, 210);
}

TEST(ScheduleSearch, ConstantSourcesFloatNextToTheirConsumers) {
  // Weight-like sources (no inputs, persistent outputs) listed first, as a loader would: they
  // must not hide the cut structure nor cost memory early.
  ScheduleProblem plain = two_branches_breadth_first();
  ScheduleProblem with_weights = plain;
  for (int branch_head : {1, 2}) {
    const int weight = static_cast<int>(with_weights.tensors.size());
    with_weights.tensors.push_back({7, /*persistent=*/true});
    with_weights.nodes.push_back({{}, {weight}});
    with_weights.nodes[branch_head].inputs.push_back(weight);
  }
  with_weights.default_order.insert(with_weights.default_order.begin(), {6, 7});
  const Result<ScheduleResult> a = memory_aware_schedule(plain);
  const Result<ScheduleResult> b = memory_aware_schedule(with_weights);
  ASSERT_TRUE(a.ok() && b.ok());
  expect_valid_result(with_weights, *b);
  EXPECT_EQ(b->num_segments, a->num_segments);
  EXPECT_EQ(b->peak_bytes, brute_force_peak(with_weights));
  EXPECT_EQ(b->peak_bytes, 120 + 14);  // the weights are persistent: live to the end
}

TEST(ScheduleSearch, GainsOnInceptionLikeModules) {
  // Modules of four branches (1 to 3 nodes, the first node widest) joined by a concat; the
  // default order runs the branches level by level, as a breadth-first loader would.
  ProblemBuilder b;
  int x = b.node({}, 64);
  std::vector<std::vector<int64_t>> branch_bytes = {{256}, {192, 64}, {320, 128, 64}, {256, 64}};
  for (int module = 0; module < 3; ++module) {
    std::vector<int> tails(branch_bytes.size(), -1);
    for (size_t level = 0; level < 3; ++level) {
      for (size_t br = 0; br < branch_bytes.size(); ++br) {
        if (level >= branch_bytes[br].size()) continue;
        const int in = level == 0 ? b.output_of(x) : b.output_of(tails[br]);
        tails[br] = b.node({in}, branch_bytes[br][level]);
      }
    }
    std::vector<int> concat_inputs;
    for (int t : tails) concat_inputs.push_back(b.output_of(t));
    x = b.node(concat_inputs, 64 * 4);
  }
  const Result<ScheduleResult> result = memory_aware_schedule(b.problem());
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  expect_valid_result(b.problem(), *result);
  EXPECT_LT(result->peak_bytes, result->default_peak_bytes);
  // The source floats next to its consumers; per module: the branches, then the concat (a cut).
  EXPECT_EQ(result->num_segments, 6);
  EXPECT_EQ(result->segments_searched, 3);
  EXPECT_EQ(result->segments_exact, 3);
}

// A random DAG: each node consumes 0-3 earlier tensors (sometimes a graph input), produces 1-2
// tensors; some outputs persistent; sometimes control edges. Default order = creation order
// shuffled into another valid topological order.
ScheduleProblem random_problem(std::mt19937& rng, int num_nodes, int max_back) {
  ScheduleProblem p;
  const int num_inputs = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < num_inputs; ++i) {
    p.tensors.push_back({static_cast<int64_t>(rng() % 1000), rng() % 2 == 0});
  }
  std::vector<int> producer(num_inputs, -1);
  for (int v = 0; v < num_nodes; ++v) {
    ScheduleNode node;
    const int num_in = static_cast<int>(rng() % 4);
    const int tensors = static_cast<int>(p.tensors.size());
    for (int k = 0; k < num_in; ++k) {
      const int lo = std::max(0, tensors - max_back);
      node.inputs.push_back(lo + static_cast<int>(rng() % (tensors - lo)));
    }
    const int num_out = 1 + static_cast<int>(rng() % 2);
    for (int k = 0; k < num_out; ++k) {
      node.outputs.push_back(static_cast<int>(p.tensors.size()));
      p.tensors.push_back({static_cast<int64_t>(rng() % 1000), rng() % 10 == 0});
      producer.push_back(v);
    }
    p.nodes.push_back(node);
  }
  for (int k = 0; k < num_nodes / 8; ++k) {
    const int a = static_cast<int>(rng() % num_nodes), c = static_cast<int>(rng() % num_nodes);
    if (a != c) p.control_edges.push_back({std::min(a, c), std::max(a, c)});
  }
  // A random topological order (Kahn with random picks) as the default.
  std::vector<std::vector<int>> succs(num_nodes);
  std::vector<int> indegree(num_nodes, 0);
  for (int v = 0; v < num_nodes; ++v) {
    for (int t : p.nodes[v].inputs) {
      if (producer[t] >= 0) {
        succs[producer[t]].push_back(v);
        ++indegree[v];
      }
    }
  }
  for (const auto& [a, c] : p.control_edges) {
    succs[a].push_back(c);
    ++indegree[c];
  }
  std::vector<int> ready;
  for (int v = 0; v < num_nodes; ++v) {
    if (indegree[v] == 0) ready.push_back(v);
  }
  while (!ready.empty()) {
    const size_t pick = rng() % ready.size();
    const int v = ready[pick];
    ready.erase(ready.begin() + static_cast<std::ptrdiff_t>(pick));
    p.default_order.push_back(v);
    for (int w : succs[v]) {
      if (--indegree[w] == 0) ready.push_back(w);
    }
  }
  return p;
}

TEST(ScheduleRandom, SmallGraphsAreSolvedOptimally) {
  std::mt19937 rng(11);
  ScheduleOptions generous;
  generous.time_budget_ms = 10000;  // never reached: these graphs take microseconds
  for (int c = 0; c < 60; ++c) {
    const ScheduleProblem p = random_problem(rng, 3 + static_cast<int>(rng() % 5), 4);
    const Result<ScheduleResult> result = memory_aware_schedule(p, generous);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    expect_valid_result(p, *result);
    ASSERT_FALSE(result->out_of_time);
    ASSERT_EQ(result->segments_exact, result->segments_searched);
    EXPECT_EQ(result->peak_bytes, brute_force_peak(p)) << "case " << c;
  }
}

TEST(ScheduleRandom, NeverWorseThanTheDefaultOrder) {
  std::mt19937 rng(12345);
  ScheduleOptions quick;
  quick.time_budget_ms = 2;  // plenty for most; the others show the budget is honoured
  int gains = 0;
  for (int c = 0; c < 300; ++c) {
    const ScheduleProblem p = random_problem(rng, 5 + static_cast<int>(rng() % 60), 6);
    const Result<ScheduleResult> result = memory_aware_schedule(p, quick);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    expect_valid_result(p, *result);
    for (const auto& [before, after] : p.control_edges) {
      const auto pos = [&](int v) {
        return std::find(result->order.begin(), result->order.end(), v) - result->order.begin();
      };
      ASSERT_LT(pos(before), pos(after));
    }
    if (result->peak_bytes < result->default_peak_bytes) ++gains;
  }
  EXPECT_GT(gains, 100);  // random default orders are usually improvable
}

TEST(ScheduleRandom, LifetimesMatchTheSimulatedPeak) {
  std::mt19937 rng(99);
  for (int c = 0; c < 100; ++c) {
    ScheduleProblem p = random_problem(rng, 1 + static_cast<int>(rng() % 40), 5);
    for (ScheduleTensor& t : p.tensors) t.bytes = (t.bytes % 16) * kPlanAlignment;
    const Result<std::vector<UsageRecord>> records = schedule_lifetimes(p, p.default_order);
    ASSERT_TRUE(records.ok());
    EXPECT_EQ(live_bytes_lower_bound(*records), simulate_peak(p, p.default_order));
  }
}

TEST(ScheduleLarge, TwoThousandNodesFinishWithinTheBudget) {
  std::mt19937 rng(2000);
  const ScheduleProblem p = random_problem(rng, 2000, 12);
  ScheduleOptions options;
  options.time_budget_ms = 50;
  const Result<ScheduleResult> result = memory_aware_schedule(p, options);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  expect_valid_result(p, *result);
  // No wall-clock assertion: the search checks the clock itself; this must simply terminate.
}

TEST(ScheduleLarge, WideGraphsKeepTheSearchBounded) {
  // 3,000 independent nodes: every node is ready at once, the worst case for the beam's memory.
  ScheduleProblem p;
  for (int v = 0; v < 3000; ++v) {
    p.tensors.push_back({static_cast<int64_t>(v % 7) * 100, v % 3 == 0});
    p.nodes.push_back({{}, {v}});
    p.default_order.push_back(v);
  }
  const Result<ScheduleResult> result = memory_aware_schedule(p);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  expect_valid_result(p, *result);
}

TEST(ScheduleLarge, ZeroBudgetStillRunsTheGreedyPasses) {
  const ScheduleProblem problem = two_branches_breadth_first();
  ScheduleOptions options;
  options.time_budget_ms = 0;
  const Result<ScheduleResult> result = memory_aware_schedule(problem, options);
  ASSERT_TRUE(result.ok());
  expect_valid_result(problem, *result);
  EXPECT_EQ(result->peak_bytes, 120);  // the greedy pass finds it
}

std::string error_of(const ScheduleProblem& p) {
  const Result<ScheduleResult> result = memory_aware_schedule(p);
  return result.ok() ? "OK" : result.status().message();
}

TEST(ScheduleErrors, RejectsCyclesAndBadIds) {
  {
    ScheduleProblem p;  // n0 consumes t1 and makes t0; n1 consumes t0 and makes t1
    p.tensors = {{1, false}, {1, false}};
    p.nodes = {{{1}, {0}}, {{0}, {1}}};
    p.default_order = {0, 1};
    EXPECT_NE(error_of(p).find("cycle"), std::string::npos) << error_of(p);
    EXPECT_EQ(simulate_peak(p, {0, 1}), -1);
  }
  {
    ScheduleProblem p = two_branches_breadth_first();
    p.control_edges.push_back({5, 0});  // the join before the source
    EXPECT_NE(error_of(p).find("cycle"), std::string::npos) << error_of(p);
    p.control_edges.back() = {2, 2};
    EXPECT_NE(error_of(p).find("self-loop"), std::string::npos) << error_of(p);
    p.control_edges.back() = {0, 6};
    EXPECT_NE(error_of(p).find("out of range"), std::string::npos) << error_of(p);
  }
  {
    ScheduleProblem p = two_branches_breadth_first();
    p.nodes[1].inputs.push_back(99);
    EXPECT_NE(error_of(p).find("node 1: input tensor id 99"), std::string::npos) << error_of(p);
    p = two_branches_breadth_first();
    p.nodes[2].outputs.push_back(p.nodes[1].outputs[0]);
    EXPECT_NE(error_of(p).find("produced by both node 1 and node 2"), std::string::npos);
    p = two_branches_breadth_first();
    p.nodes[1].inputs.push_back(p.nodes[1].outputs[0]);
    EXPECT_NE(error_of(p).find("consumes its own output"), std::string::npos);
    p = two_branches_breadth_first();
    p.tensors[0].bytes = -1;
    EXPECT_NE(error_of(p).find("tensor 0: bytes -1"), std::string::npos);
    p.tensors[0].bytes = std::numeric_limits<int64_t>::max();
    EXPECT_NE(error_of(p).find("overflow"), std::string::npos);
  }
  {
    ScheduleProblem p = two_branches_breadth_first();
    p.default_order = {1, 0, 2, 3, 4, 5};
    EXPECT_NE(error_of(p).find("default_order runs node 1"), std::string::npos) << error_of(p);
    p.default_order = {0, 1, 2, 3, 4};
    EXPECT_NE(error_of(p).find("default_order has 5 entries"), std::string::npos);
    p.default_order = {0, 1, 2, 3, 4, 4};
    EXPECT_NE(error_of(p).find("twice"), std::string::npos);
    p.default_order = {0, 1, 2, 3, 4, 9};
    EXPECT_NE(error_of(p).find("not a node id"), std::string::npos);
  }
  {
    ScheduleOptions bad;
    bad.time_budget_ms = -1;
    EXPECT_FALSE(memory_aware_schedule(two_branches_breadth_first(), bad).ok());
    bad.time_budget_ms = 1;
    bad.max_states_per_layer = 0;
    EXPECT_FALSE(memory_aware_schedule(two_branches_breadth_first(), bad).ok());
  }
  {
    const Result<ScheduleResult> empty = memory_aware_schedule(ScheduleProblem{});
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->order.empty());
    EXPECT_EQ(empty->peak_bytes, 0);
  }
}

}  // namespace
}  // namespace pbmem
