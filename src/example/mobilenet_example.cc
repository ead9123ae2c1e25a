// MobileNet v1 (alpha 1.0, 224x224) as a frozen GraphDef with seeded random weights: a stem conv,
// 13 depthwise-separable blocks, global average pooling and a 1000-way classifier. Every conv is
// followed by FusedBatchNormV3 (inference mode) and Relu6, as in TF-slim's frozen MobileNets.
#include "example/mobilenet_example.h"

#include <cmath>
#include <vector>

namespace pbmem {

namespace {

constexpr int64_t kImageSize = 224;
constexpr int64_t kImageChannels = 3;
constexpr int64_t kStemChannels = 32;
constexpr int64_t kStemStride = 2;
constexpr int64_t kKernelSize = 3;
constexpr int64_t kNumClasses = 1000;
constexpr float kBatchNormEpsilon = 0.001f;
constexpr int64_t kProducerVersion = 2474;  // TF 2.21's GRAPH_DEF_VERSION

// Weight statistics chosen so activations stay O(1) through all 28 layers.
constexpr double kHeGain = 2.0;           // He-normal: stddev = sqrt(2 / fan_in)
constexpr double kBnScaleSpread = 0.2;    // scale  ~ U(1 - s, 1 + s)
constexpr double kBnOffsetStddev = 0.05;  // offset ~ N(0, s)
constexpr double kBnMeanStddev = 0.05;    // moving mean ~ N(0, s)
constexpr double kBnVarianceMin = 0.5;    // moving variance ~ U(min, min + range) > 0
constexpr double kBnVarianceRange = 1.0;
constexpr double kLogitGain = 4.0;
constexpr double kLogitBiasStddev = 0.01;

// The 13 depthwise-separable blocks of MobileNet v1: pointwise output channels and stride.
struct BlockSpec {
  int64_t channels;
  int64_t stride;
};
constexpr BlockSpec kBlocks[] = {
    {64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},  {512, 2},  {512, 1},
    {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1},
};

// SplitMix64 plus Box-Muller: the same numbers on every platform and compiler, unlike
// std::normal_distribution.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;
    constexpr uint64_t kMul1 = 0xBF58476D1CE4E5B9ull;
    constexpr uint64_t kMul2 = 0x94D049BB133111EBull;
    uint64_t z = (state_ += kGamma);
    z = (z ^ (z >> 30)) * kMul1;
    z = (z ^ (z >> 27)) * kMul2;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1): 53 random bits, never exactly 0.
  double uniform() {
    constexpr int kMantissaBits = 53;
    constexpr double kScale = 1.0 / static_cast<double>(uint64_t{1} << kMantissaBits);
    return (static_cast<double>(next() >> (64 - kMantissaBits)) + 0.5) * kScale;
  }
  double normal() {
    constexpr double kTwoPi = 6.283185307179586;
    return std::sqrt(-2.0 * std::log(uniform())) * std::cos(kTwoPi * uniform());
  }

 private:
  uint64_t state_;
};

AttrDef ints(std::vector<int64_t> v) { return AttrDef::ints(std::move(v)); }

class Builder {
 public:
  explicit Builder(uint64_t seed) : rng_(seed) { graph_.producer_version = kProducerVersion; }

  Status status() const { return status_; }
  GraphDef take() { return std::move(graph_); }

  std::string placeholder(const std::string& name, const Shape& shape) {
    add(name, "Placeholder", {},
        {{"dtype", AttrDef::dtype(DType::kFloat)}, {"shape", AttrDef::shape_of(shape)}});
    return name;
  }

  // A float Const whose values come from fill(i).
  template <typename Fill>
  std::string constant(const std::string& name, const Shape& shape, Fill fill) {
    auto t = Tensor::allocate(DType::kFloat, shape);
    if (!t.ok()) {
      if (status_.ok()) status_ = t.status().with_context("example model constant '" + name + "'");
      return name;
    }
    auto* p = t->data<float>();
    for (int64_t i = 0; i < t->num_elements(); ++i) p[i] = static_cast<float>(fill());
    add_const(name, std::move(t).value());
    return name;
  }

  std::string int_constant(const std::string& name, const std::vector<int32_t>& values) {
    auto t = Tensor::allocate(DType::kInt32, Shape{static_cast<int64_t>(values.size())});
    if (!t.ok()) {
      if (status_.ok()) status_ = t.status();
      return name;
    }
    for (size_t i = 0; i < values.size(); ++i) t->data<int32_t>()[i] = values[i];
    add_const(name, std::move(t).value());
    return name;
  }

  std::string he_normal(const std::string& name, const Shape& shape, int64_t fan_in) {
    double stddev = std::sqrt(kHeGain / static_cast<double>(fan_in));
    return constant(name, shape, [&] { return stddev * rng_.normal(); });
  }

  std::string conv(const std::string& scope, const std::string& input, int64_t in_ch,
                   int64_t out_ch, int64_t kernel, int64_t stride) {
    std::string w = he_normal(scope + "/weights", Shape{kernel, kernel, in_ch, out_ch},
                              kernel * kernel * in_ch);
    std::string name = scope + "/Conv2D";
    add(name, "Conv2D", {input, w},
        {{"T", AttrDef::dtype(DType::kFloat)},
         {"data_format", AttrDef::str("NHWC")},
         {"dilations", ints({1, 1, 1, 1})},
         {"explicit_paddings", ints({})},
         {"padding", AttrDef::str("SAME")},
         {"strides", ints({1, stride, stride, 1})},
         {"use_cudnn_on_gpu", AttrDef::boolean(true)}});
    return batch_norm_relu6(scope, name, out_ch);
  }

  std::string depthwise(const std::string& scope, const std::string& input, int64_t channels,
                        int64_t stride) {
    std::string w =
        he_normal(scope + "/depthwise_weights", Shape{kKernelSize, kKernelSize, channels, 1},
                  kKernelSize * kKernelSize);
    std::string name = scope + "/depthwise";
    add(name, "DepthwiseConv2dNative", {input, w},
        {{"T", AttrDef::dtype(DType::kFloat)},
         {"data_format", AttrDef::str("NHWC")},
         {"dilations", ints({1, 1, 1, 1})},
         {"explicit_paddings", ints({})},
         {"padding", AttrDef::str("SAME")},
         {"strides", ints({1, stride, stride, 1})}});
    return batch_norm_relu6(scope, name, channels);
  }

  std::string batch_norm_relu6(const std::string& scope, const std::string& input,
                               int64_t channels) {
    Shape c{channels};
    std::string bn = scope + "/BatchNorm";
    std::string gamma =
        constant(bn + "/gamma", c, [&] { return 1.0 + kBnScaleSpread * (2 * rng_.uniform() - 1); });
    std::string beta = constant(bn + "/beta", c, [&] { return kBnOffsetStddev * rng_.normal(); });
    std::string mean =
        constant(bn + "/moving_mean", c, [&] { return kBnMeanStddev * rng_.normal(); });
    std::string var = constant(bn + "/moving_variance", c,
                               [&] { return kBnVarianceMin + kBnVarianceRange * rng_.uniform(); });
    std::string name = bn + "/FusedBatchNormV3";
    add(name, "FusedBatchNormV3", {input, gamma, beta, mean, var},
        {{"T", AttrDef::dtype(DType::kFloat)},
         {"U", AttrDef::dtype(DType::kFloat)},
         {"data_format", AttrDef::str("NHWC")},
         {"epsilon", AttrDef::real(kBatchNormEpsilon)},
         {"exponential_avg_factor", AttrDef::real(1.0f)},
         {"is_training", AttrDef::boolean(false)}});
    std::string relu = scope + "/Relu6";
    add(relu, "Relu6", {name}, {{"T", AttrDef::dtype(DType::kFloat)}});
    return relu;
  }

  std::string classifier(const std::string& input, int64_t features) {
    const std::string scope = "MobilenetV1/Logits";
    std::string axes = int_constant(scope + "/AvgPool/reduction_indices", {1, 2});
    std::string pooled = scope + "/AvgPool";
    add(pooled, "Mean", {input, axes},
        {{"T", AttrDef::dtype(DType::kFloat)},
         {"Tidx", AttrDef::dtype(DType::kInt32)},
         {"keep_dims", AttrDef::boolean(false)}});
    // Pooled features are small and alike across classes; the gain spreads the logits so the
    // Softmax has clear winners, like a trained classifier's.
    double stddev = kLogitGain / std::sqrt(static_cast<double>(features));
    std::string w = constant(scope + "/weights", Shape{features, kNumClasses},
                             [&] { return stddev * rng_.normal(); });
    std::string b = constant(scope + "/biases", Shape{kNumClasses},
                             [&] { return kLogitBiasStddev * rng_.normal(); });
    std::string matmul = scope + "/MatMul";
    add(matmul, "MatMul", {pooled, w},
        {{"T", AttrDef::dtype(DType::kFloat)},
         {"transpose_a", AttrDef::boolean(false)},
         {"transpose_b", AttrDef::boolean(false)}});
    std::string logits = scope + "/BiasAdd";
    add(logits, "BiasAdd", {matmul, b},
        {{"T", AttrDef::dtype(DType::kFloat)}, {"data_format", AttrDef::str("NHWC")}});
    add("probs", "Softmax", {logits}, {{"T", AttrDef::dtype(DType::kFloat)}});
    return "probs";
  }

 private:
  void add(const std::string& name, const std::string& op, std::vector<std::string> inputs,
           std::vector<std::pair<std::string, AttrDef>> attrs) {
    NodeDef node;
    node.name = name;
    node.op = op;
    node.inputs = std::move(inputs);
    node.attrs = std::move(attrs);
    graph_.nodes.push_back(std::move(node));
  }

  void add_const(const std::string& name, Tensor value) {
    DType dtype = value.dtype();
    add(name, "Const", {},
        {{"dtype", AttrDef::dtype(dtype)}, {"value", AttrDef::tensor_of(std::move(value))}});
  }

  GraphDef graph_;
  Rng rng_;
  Status status_;
};

}  // namespace

Result<GraphDef> build_example_graph(uint64_t seed) {
  Builder b(seed);
  std::string x =
      b.placeholder("input", Shape{kUnknownDim, kImageSize, kImageSize, kImageChannels});
  x = b.conv("MobilenetV1/Conv2d_0", x, kImageChannels, kStemChannels, kKernelSize, kStemStride);
  int64_t channels = kStemChannels;
  int index = 1;
  for (const BlockSpec& block : kBlocks) {
    std::string prefix = "MobilenetV1/Conv2d_" + std::to_string(index++);
    x = b.depthwise(prefix + "_depthwise", x, channels, block.stride);
    x = b.conv(prefix + "_pointwise", x, channels, block.channels, 1, 1);
    channels = block.channels;
  }
  b.classifier(x, channels);
  PBMEM_RETURN_IF_ERROR(b.status());
  return b.take();
}

GraphDef make_example_graph(uint64_t seed) {
  auto graph = build_example_graph(seed);
  return graph.ok() ? std::move(graph).value() : GraphDef();
}

Status write_example_model(const std::string& path, uint64_t seed) {
  PBMEM_ASSIGN_OR_RETURN(GraphDef graph, build_example_graph(seed));
  return write_graphdef(graph, path);
}

}  // namespace pbmem
