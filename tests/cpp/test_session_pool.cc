// SessionOptions::reuse_buffers: a smaller shape after a larger one reuses the held arena, scratch
// and I/O blocks (no allocation) and the prediction counts them at their held size.
#include <gtest/gtest.h>

#include <cmath>

#include "graph/graphdef_writer.h"
#include "runtime/model.h"

namespace pbmem {
namespace {

constexpr int64_t kWidth = 128;
constexpr int64_t kLargeBatch = 8;
constexpr int64_t kSmallBatch = 3;

std::shared_ptr<Model> chain_model() {
  GraphDef g;
  auto shape = AttrDef::shape_of(Shape{kUnknownDim, kWidth});
  g.nodes.push_back(NodeDef{"x", "Placeholder", {}, {{"dtype", AttrDef::dtype(DType::kFloat)}, {"shape", shape}}, ""});
  g.nodes.push_back(NodeDef{"tanh", "Tanh", {"x"}, {{"T", AttrDef::dtype(DType::kFloat)}}, ""});
  g.nodes.push_back(NodeDef{"sq", "Square", {"x"}, {{"T", AttrDef::dtype(DType::kFloat)}}, ""});
  g.nodes.push_back(NodeDef{"sum", "AddV2", {"tanh", "sq"}, {{"T", AttrDef::dtype(DType::kFloat)}}, ""});
  auto model = Model::from_bytes(serialize_graphdef(g), Model::Options{});
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  return model.ok() ? *model : nullptr;
}

Tensor input(int64_t batch) {
  Tensor x = Tensor::allocate(DType::kFloat, Shape{batch, kWidth}).value();
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = static_cast<float>(i % 11) * 0.1f - 0.5f;
  return x;
}

int64_t allocs_of_run(Session& session, const Tensor& x, std::map<std::string, Tensor>* out) {
  out->clear();  // held outputs would keep an unpooled session's old I/O blocks alive
  const int64_t before = session.stats().lifetime.num_allocs;
  auto result = session.run({{"x", x}});
  EXPECT_TRUE(result.ok()) << result.status().to_string();
  if (result.ok()) *out = *result;
  return session.stats().lifetime.num_allocs - before;
}

TEST(SessionPool, SmallerShapeReusesHeldBlocksAndPredictsThemExactly) {
  auto model = chain_model();
  ASSERT_TRUE(model);
  for (bool reuse : {true, false}) {
    SessionOptions options;
    options.reuse_buffers = reuse;
    auto session = Session::create(model, options).value();
    std::map<std::string, Tensor> out;
    EXPECT_GT(allocs_of_run(*session, input(kLargeBatch), &out), 0);
    const int64_t large_peak = session->max_bytes_in_use();
    const int64_t small_allocs = allocs_of_run(*session, input(kSmallBatch), &out);
    const MemoryPlanReport& plan = session->last_plan();
    EXPECT_EQ(session->max_bytes_in_use(), plan.predicted_peak_bytes);
    if (reuse) {
      EXPECT_EQ(small_allocs, 0);
      EXPECT_EQ(plan.predicted_peak_bytes, large_peak);
      EXPECT_EQ(plan.pooled_extra_bytes,
                large_peak - (plan.arena_bytes + plan.io_bytes + plan.scratch_bytes + plan.weights_packed_bytes));
      EXPECT_GT(plan.pooled_extra_bytes, 0);
    } else {
      EXPECT_GT(small_allocs, 0);
      EXPECT_EQ(plan.pooled_extra_bytes, 0);
      EXPECT_LT(session->max_bytes_in_use(), large_peak);
    }
    const Tensor& sum = out.at("sum");
    ASSERT_EQ(sum.shape(), (Shape{kSmallBatch, kWidth}));
    Tensor x = input(kSmallBatch);
    for (int64_t i = 0; i < sum.num_elements(); ++i) {
      float v = x.data<float>()[i];
      EXPECT_NEAR(sum.data<float>()[i], std::tanh(v) + v * v, 1e-6);
    }
    // Back to the large shape: the held blocks fit it again.
    const int64_t back_allocs = allocs_of_run(*session, input(kLargeBatch), &out);
    if (reuse) {
      EXPECT_EQ(back_allocs, 0);
    } else {
      EXPECT_GT(back_allocs, 0);
    }
    EXPECT_EQ(session->max_bytes_in_use(), large_peak);
  }
}

}  // namespace
}  // namespace pbmem
