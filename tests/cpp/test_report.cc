// The plan's per-step and per-layer views (MemoryPlanReport::steps, weights_by_layer,
// live_at_peak's consumers) and the run's StepObserver, which `pbmem report` and
// `pbmem run --trace` are built on.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "graph/graphdef_writer.h"
#include "plan/memory_planner.h"
#include "runtime/model.h"

namespace pbmem {
namespace {

// Brute force: for every step, the aligned sizes of the usable root records live there.
std::vector<int64_t> live_by_brute_force(const std::vector<UsageRecord>& records, int num_steps) {
  std::vector<int64_t> live(static_cast<size_t>(num_steps), 0);
  for (const UsageRecord& r : records) {
    if (r.alias_of >= 0 || r.first_step < 0 || r.first_step > r.last_step || r.size < 0) continue;
    const int64_t aligned = (r.size + kPlanAlignment - 1) / kPlanAlignment * kPlanAlignment;
    for (int s = r.first_step; s <= r.last_step && s < num_steps; ++s) live[static_cast<size_t>(s)] += aligned;
  }
  return live;
}

TEST(LiveBytesPerStep, MatchesBruteForceAndThePeak) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 50; ++trial) {
    const int num_steps = 1 + static_cast<int>(gen() % 40);
    std::vector<UsageRecord> records;
    const int n = static_cast<int>(gen() % 30);
    for (int i = 0; i < n; ++i) {
      UsageRecord r;
      r.first_step = static_cast<int>(gen() % (num_steps + 5)) - 2;  // some outside the steps
      r.last_step = r.first_step + static_cast<int>(gen() % 10) - 1;  // some empty lifetimes
      r.size = static_cast<int64_t>(gen() % 5000);
      r.alias_of = (i > 0 && gen() % 5 == 0) ? i - 1 : -1;
      records.push_back(r);
    }
    std::vector<int64_t> live = live_bytes_per_step(records, num_steps);
    ASSERT_EQ(live, live_by_brute_force(records, num_steps)) << "trial " << trial;
    const LiveBytesPeak peak = live_bytes_peak(records);
    const auto top = std::max_element(live.begin(), live.end());
    if (peak.step >= 0 && peak.step < num_steps) {
      EXPECT_EQ(*top, peak.bytes) << "trial " << trial;
      EXPECT_EQ(top - live.begin(), peak.step) << "trial " << trial;  // the first step at the peak
    }
  }
  EXPECT_TRUE(live_bytes_per_step({}, 0).empty());
  EXPECT_EQ(live_bytes_per_step({UsageRecord{0, 3, 1, -1, -1}}, 2), (std::vector<int64_t>{64, 64}));
}

Tensor filled(Shape shape, float scale) {
  Tensor t = Tensor::allocate(DType::kFloat, shape).value();
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = scale * static_cast<float>(i % 13 - 6);
  return t;
}

NodeDef const_node(const std::string& name, Tensor value) {
  return NodeDef{name, "Const", {}, {{"dtype", AttrDef::dtype(DType::kFloat)}, {"value", AttrDef::tensor_of(std::move(value))}}, ""};
}

NodeDef op_node(const std::string& name, const std::string& op, std::vector<std::string> inputs) {
  return NodeDef{name, op, std::move(inputs), {{"T", AttrDef::dtype(DType::kFloat)}}, ""};
}

// x [?,64] -> MatMul w1 [64,128] -> Relu -> MatMul w2 [128,32] -> BiasAdd b -> Tanh.
std::shared_ptr<Model> two_layer_model(const std::string& path) {
  GraphDef g;
  g.nodes.push_back(NodeDef{"x", "Placeholder", {}, {{"dtype", AttrDef::dtype(DType::kFloat)}, {"shape", AttrDef::shape_of(Shape{kUnknownDim, 64})}}, ""});
  g.nodes.push_back(const_node("w1", filled(Shape{64, 128}, 0.01f)));
  g.nodes.push_back(const_node("w2", filled(Shape{128, 32}, 0.02f)));
  g.nodes.push_back(const_node("b", filled(Shape{32}, 0.1f)));
  g.nodes.push_back(op_node("mm1", "MatMul", {"x", "w1"}));
  g.nodes.push_back(op_node("relu", "Relu", {"mm1"}));
  g.nodes.push_back(op_node("mm2", "MatMul", {"relu", "w2"}));
  g.nodes.push_back(op_node("bias", "BiasAdd", {"mm2", "b"}));
  g.nodes.push_back(op_node("out", "Tanh", {"bias"}));
  EXPECT_TRUE(write_graphdef(g, path).ok());
  auto model = Model::load(path);
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  return model.ok() ? *model : nullptr;
}

void expect_consistent(const MemoryPlanReport& plan, const std::string& where) {
  ASSERT_EQ(static_cast<int>(plan.steps.size()), plan.num_steps) << where;
  ASSERT_FALSE(plan.steps.empty()) << where;
  int64_t top = 0;
  int top_step = -1;
  for (size_t k = 0; k < plan.steps.size(); ++k) {
    if (plan.steps[k].live_bytes > top) {
      top = plan.steps[k].live_bytes;
      top_step = static_cast<int>(k);
    }
  }
  EXPECT_EQ(top, plan.lower_bound_bytes) << where;
  EXPECT_EQ(top_step, plan.peak_step) << where;
  EXPECT_EQ(plan.steps[static_cast<size_t>(plan.peak_step)].node, plan.peak_node) << where;
  int64_t packed = 0, mapped = 0;
  for (const LayerWeights& w : plan.weights_by_layer) {
    packed += w.packed_bytes;
    mapped += w.mapped_bytes;
    EXPECT_NE(w.node, "(unattributed)") << where;
  }
  EXPECT_EQ(packed, plan.weights_packed_bytes) << where;
  EXPECT_EQ(mapped, plan.weights_mapped_bytes) << where;
  EXPECT_GT(packed + mapped, 0) << where;
  EXPECT_FALSE(plan.planner.empty()) << where;
}

TEST(PlanReport, StepsWeightsAndConsumersAddUp) {
  const std::string path = ::testing::TempDir() + "pbmem_plan_report.pb";
  auto model = two_layer_model(path);
  ASSERT_TRUE(model);
  auto session = Session::create(model, SessionOptions{}).value();
  // A second, larger batch re-prepares: the figures must still add up.
  for (int64_t batch : {3, 17}) {
    auto plan = session->plan({{"x", Shape{batch, 64}}});
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    const std::string where = "batch " + std::to_string(batch);
    expect_consistent(*plan, where);
    // Only the layers that hold weights appear, under the node that runs (not the Const).
    for (const LayerWeights& w : plan->weights_by_layer) {
      EXPECT_TRUE(w.node == "mm1" || w.node == "mm2" || w.node == "bias") << where << ": " << w.node;
    }
    // mm1's output [batch,128] is live at the peak, produced by mm1 and read by relu (in place).
    bool found = false;
    for (const LiveTensor& t : plan->live_at_peak) {
      if (t.name != "mm1") continue;
      found = true;
      EXPECT_EQ(t.producer, "mm1");
      EXPECT_EQ(t.shape, (Shape{batch, 128}));
      ASSERT_FALSE(t.consumers.empty());
      EXPECT_EQ(t.consumers.front(), "relu");
    }
    EXPECT_TRUE(found) << where << ": mm1 not live at the peak (step " << plan->peak_step << ")";
    EXPECT_EQ(plan->steps.back().output_shapes, (std::vector<Shape>{Shape{batch, 32}}));
    EXPECT_EQ(plan->steps.back().output_bytes, batch * 32 * 4);
  }
  std::remove(path.c_str());
}

// Records the calls; allocates only in run_started.
class RecordingObserver : public StepObserver {
 public:
  void run_started(int num_steps) override {
    runs.push_back(num_steps);
    calls.reserve(calls.size() + 2 * static_cast<size_t>(num_steps));
  }
  void step_started(int step) override { calls.push_back(step + 1); }
  void step_finished(int step) override { calls.push_back(-(step + 1)); }
  std::vector<int> runs;
  std::vector<int> calls;  // +(step+1) at its start, -(step+1) at its end
};

TEST(StepObserver, SeesEveryStepInOrderAndChangesNothing) {
  const std::string path = ::testing::TempDir() + "pbmem_step_observer.pb";
  auto model = two_layer_model(path);
  ASSERT_TRUE(model);
  auto session = Session::create(model, SessionOptions{}).value();
  Tensor x = filled(Shape{5, 64}, 0.1f);
  auto plain = session->run({{"x", x}});
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  const std::vector<float> expected(plain->at("out").data<float>(), plain->at("out").data<float>() + 5 * 32);

  RecordingObserver observer;
  RunOptions options;
  options.observer = &observer;
  auto observed = session->run({{"x", x}}, options);
  ASSERT_TRUE(observed.ok()) << observed.status().to_string();
  const int num_steps = session->last_plan().num_steps;
  ASSERT_EQ(observer.runs, (std::vector<int>{num_steps}));
  ASSERT_EQ(observer.calls.size(), 2 * static_cast<size_t>(num_steps));
  for (int k = 0; k < num_steps; ++k) {
    EXPECT_EQ(observer.calls[static_cast<size_t>(2 * k)], k + 1);
    EXPECT_EQ(observer.calls[static_cast<size_t>(2 * k + 1)], -(k + 1));
  }
  EXPECT_EQ(session->stats().run.num_allocs, 0);
  EXPECT_EQ(session->max_bytes_in_use(), session->last_plan().predicted_peak_bytes);
  const Tensor& out = observed->at("out");
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), out.data<float>()));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace pbmem
