// SessionOptions::weights = kMapped on hand-made graphs: a conv followed by a BatchNorm-style
// Mul/AddV2 and Relu6 reads its filter in place from the model bytes when they are 4-byte
// aligned there (the Mul then runs as its own op instead of a scaled copy of the filter) and
// packs it, with everything fused, when they are not; outputs match packed mode and the plan still equals the measured peak, also
// across re-prepares for new batch sizes with pooled buffers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "graph/graphdef_writer.h"
#include "runtime/model.h"

namespace pbmem {
namespace {

constexpr int64_t kIn = 16;
constexpr int64_t kOut = 32;
constexpr int64_t kKernel = 3;
constexpr int64_t kSpatial = 7;
constexpr size_t kWord = 4;  // float alignment the file's bytes need to be read in place
// The project's rule (tests/py/tfcheck.py): |a - b| <= 1e-4 * max(1, max|a|). Folding the scale
// into the filter or applying it after the sum rounds differently.
constexpr float kTolerance = 1e-4f;
constexpr int kMaxPadName = 16;

Tensor float_tensor(Shape shape, float seed) {
  Tensor t = Tensor::allocate(DType::kFloat, shape).value();
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.num_elements(); ++i) p[i] = std::sin(seed + 0.37f * static_cast<float>(i));
  return t;
}

NodeDef const_node(const std::string& name, Tensor value) {
  return NodeDef{name, "Const", {}, {{"dtype", AttrDef::dtype(DType::kFloat)}, {"value", AttrDef::tensor_of(std::move(value))}}, ""};
}

NodeDef binary(const std::string& name, const std::string& op, const std::string& a, const std::string& b) {
  return NodeDef{name, op, {a, b}, {{"T", AttrDef::dtype(DType::kFloat)}}, ""};
}

// x -> Conv2D(filter) -> Mul(scale) -> AddV2(shift) -> Relu6, preceded by a NoOp whose name
// length places the filter's bytes at an offset that is (aligned) or is not a multiple of 4.
std::string conv_bn_graph(bool aligned, size_t* filter_bytes) {
  const Tensor filter = float_tensor(Shape{kKernel, kKernel, kIn, kOut}, 1.0f);
  *filter_bytes = filter.num_bytes();
  for (int pad = 1; pad < kMaxPadName; ++pad) {
    GraphDef g;
    g.nodes.push_back(NodeDef{"pad_" + std::string(static_cast<size_t>(pad), 'p'), "NoOp", {}, {}, ""});
    g.nodes.push_back(NodeDef{"x", "Placeholder", {}, {{"dtype", AttrDef::dtype(DType::kFloat)},
                                                     {"shape", AttrDef::shape_of(Shape{kUnknownDim, kSpatial, kSpatial, kIn})}}, ""});
    g.nodes.push_back(const_node("filter", filter.clone().value()));
    g.nodes.push_back(NodeDef{"conv", "Conv2D", {"x", "filter"},
                              {{"T", AttrDef::dtype(DType::kFloat)}, {"strides", AttrDef::ints({1, 1, 1, 1})},
                               {"padding", AttrDef::str("SAME")}, {"data_format", AttrDef::str("NHWC")}}, ""});
    g.nodes.push_back(const_node("scale", float_tensor(Shape{kOut}, 2.0f)));
    g.nodes.push_back(const_node("shift", float_tensor(Shape{kOut}, 3.0f)));
    g.nodes.push_back(binary("mul", "Mul", "conv", "scale"));
    g.nodes.push_back(binary("add", "AddV2", "mul", "shift"));
    g.nodes.push_back(NodeDef{"relu6", "Relu6", {"add"}, {{"T", AttrDef::dtype(DType::kFloat)}}, ""});
    std::string bytes = serialize_graphdef(g);
    const void* found = memmem(bytes.data(), bytes.size(), filter.raw_data(), filter.num_bytes());
    if (found == nullptr) return "";
    const size_t offset = static_cast<size_t>(static_cast<const char*>(found) - bytes.data());
    if ((offset % kWord == 0) == aligned) return bytes;
  }
  return "";
}

struct ModeResult {
  MemoryPlanReport plan;
  std::vector<std::vector<float>> outputs;  // per batch
};

ModeResult run_mode(const std::string& bytes, WeightsMode mode, const std::vector<int64_t>& batches) {
  ModeResult result;
  auto model = Model::from_bytes(bytes, Model::Options{});
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  if (!model.ok()) return result;
  SessionOptions options;
  options.weights = mode;
  options.reuse_buffers = true;  // re-prepares keep (or re-bind) the weights
  auto session = Session::create(*model, options);
  EXPECT_TRUE(session.ok()) << session.status().to_string();
  if (!session.ok()) return result;
  for (int64_t batch : batches) {
    const Tensor x = float_tensor(Shape{batch, kSpatial, kSpatial, kIn}, 4.0f + static_cast<float>(batch));
    auto out = (*session)->run({{"x", x}});
    EXPECT_TRUE(out.ok()) << out.status().to_string();
    if (!out.ok()) return result;
    const Tensor& y = out->at("relu6");
    result.outputs.emplace_back(y.data<float>(), y.data<float>() + y.num_elements());
    result.plan = (*session)->last_plan();
    EXPECT_EQ((*session)->max_bytes_in_use(), result.plan.predicted_peak_bytes) << "batch " << batch;
  }
  return result;
}

void expect_close(const ModeResult& a, const ModeResult& b) {
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    ASSERT_EQ(a.outputs[i].size(), b.outputs[i].size());
    float scale = 1.0f;
    for (float v : a.outputs[i]) scale = std::max(scale, std::fabs(v));
    for (size_t k = 0; k < a.outputs[i].size(); ++k) {
      ASSERT_NEAR(a.outputs[i][k], b.outputs[i][k], kTolerance * scale) << "output " << i << " element " << k;
    }
  }
}

TEST(WeightsMapped, AlignedFilterIsReadInPlaceAndTheScaleIsNotFolded) {
  size_t filter_bytes = 0;
  const std::string bytes = conv_bn_graph(/*aligned=*/true, &filter_bytes);
  ASSERT_FALSE(bytes.empty());
  const std::vector<int64_t> batches = {2, 1, 3};
  ModeResult packed = run_mode(bytes, WeightsMode::kPacked, batches);
  ModeResult mapped = run_mode(bytes, WeightsMode::kMapped, batches);
  expect_close(packed, mapped);
  EXPECT_EQ(packed.plan.weights_mapped_bytes, 0);
  EXPECT_GE(packed.plan.weights_packed_bytes, static_cast<int64_t>(filter_bytes));
  // The conv reads its filter in place; the Mul heading the BN + Relu6 chain took its
  // per-channel vectors into its one-pass epilogue, so no constant is held for them at run.
  int64_t conv_mapped = -1;
  for (const LayerWeights& w : mapped.plan.weights_by_layer) {
    if (w.node == "conv") conv_mapped = w.mapped_bytes;
  }
  EXPECT_EQ(conv_mapped, static_cast<int64_t>(filter_bytes));
  EXPECT_GE(mapped.plan.weights_mapped_layers, 1);
  EXPECT_EQ(mapped.plan.weights_mapped_bytes + mapped.plan.weights_packed_bytes,
            static_cast<int64_t>(filter_bytes));
  // Packed: Mul, AddV2 and Relu6 fused into the conv. Mapped: folding the scale would need a
  // scaled copy of the filter, so the conv's chain stops at the Mul, which then computes itself,
  // the AddV2 and the Relu6 in one pass (2 fused).
  EXPECT_EQ(packed.plan.fused_nodes, 3);
  EXPECT_EQ(mapped.plan.fused_nodes, 2);
}

TEST(WeightsMapped, UnalignedFilterFallsBackToPacking) {
  size_t filter_bytes = 0;
  const std::string bytes = conv_bn_graph(/*aligned=*/false, &filter_bytes);
  ASSERT_FALSE(bytes.empty());
  const std::vector<int64_t> batches = {1, 2};
  ModeResult packed = run_mode(bytes, WeightsMode::kPacked, batches);
  ModeResult mapped = run_mode(bytes, WeightsMode::kMapped, batches);
  expect_close(packed, mapped);
  EXPECT_EQ(mapped.plan.weights_mapped_bytes, 0);
  EXPECT_EQ(mapped.plan.weights_packed_bytes, packed.plan.weights_packed_bytes);
  EXPECT_EQ(mapped.plan.weights_mapped_layers, 0);
  EXPECT_EQ(mapped.plan.weights_packed_layers, 1);
  EXPECT_EQ(mapped.plan.fused_nodes, packed.plan.fused_nodes);
}

}  // namespace
}  // namespace pbmem
