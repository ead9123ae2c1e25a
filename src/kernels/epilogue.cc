// Fused-epilogue helpers (see epilogue.h).
#include "kernels/epilogue.h"
#include "kernels/util.h"

#include <algorithm>
#include <cmath>

namespace pbmem {

namespace {

namespace dnnl = dnnl_adapter;

constexpr float kRelu6Cap = 6.0f;
constexpr float kEluAlpha = 1.0f;  // TF's Elu has no alpha: exp(x) - 1 below 0
// Elements per parallel chunk when scaling a filter (smaller filters are scaled inline).
constexpr int64_t kScaleMinChunkElements = 64 * 1024;

float apply(const Activation& a, float x) {
  switch (a.kind) {
    case ActivationKind::kRelu: return std::max(x, 0.0f);
    case ActivationKind::kLeakyRelu: return x < 0 ? a.alpha * x : x;
    case ActivationKind::kRelu6: return std::min(std::max(x, 0.0f), kRelu6Cap);
    case ActivationKind::kElu: return x < 0 ? std::expm1(x) : x;
    case ActivationKind::kSigmoid: return 1.0f / (1.0f + std::exp(-x));
    case ActivationKind::kTanh: return std::tanh(x);
  }
  return x;
}

}  // namespace

bool activations_to_post_ops(const std::vector<Activation>& activations,
                             std::vector<dnnl::EltwisePostOp>* post_ops) {
  post_ops->clear();
  for (const Activation& a : activations) {
    dnnl::EltwisePostOp op;
    switch (a.kind) {
      case ActivationKind::kRelu: op = {dnnl::EltwiseKind::kRelu, 0.0f, 0.0f}; break;
      case ActivationKind::kLeakyRelu: op = {dnnl::EltwiseKind::kRelu, a.alpha, 0.0f}; break;
      case ActivationKind::kRelu6: op = {dnnl::EltwiseKind::kClip, 0.0f, kRelu6Cap}; break;
      case ActivationKind::kElu: op = {dnnl::EltwiseKind::kElu, kEluAlpha, 0.0f}; break;
      case ActivationKind::kSigmoid: op = {dnnl::EltwiseKind::kLogistic, 0.0f, 0.0f}; break;
      case ActivationKind::kTanh: op = {dnnl::EltwiseKind::kTanh, 0.0f, 0.0f}; break;
      default: return false;
    }
    post_ops->push_back(op);
  }
  return true;
}

Result<Tensor> scale_output_channels(const Tensor& weights, int64_t channels_per_row,
                                     const std::vector<float>& scale) {
  const int64_t channels = static_cast<int64_t>(scale.size());
  if (weights.dtype() != DType::kFloat || channels_per_row != channels || channels <= 0 ||
      weights.num_elements() % channels != 0) {
    return internal_error("fused scale of ", channels, " channels does not fit weights ",
                          weights.shape().str());
  }
  PBMEM_ASSIGN_OR_RETURN(Tensor scaled, Tensor::allocate_uninitialized(DType::kFloat, weights.shape()));
  const float* src = weights.data<float>();
  float* dst = scaled.data<float>();
  const int64_t rows = weights.num_elements() / channels;
  // Prepare scales every fused filter: over the session's threads like the reorder after it.
  parallel_for(rows, kScaleMinChunkElements / channels + 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t c = 0; c < channels; ++c) {
        dst[r * channels + c] = src[r * channels + c] * scale[static_cast<size_t>(c)];
      }
    }
  });
  return scaled;
}

Result<Tensor> make_bias_tensor(const std::vector<float>& shift) {
  PBMEM_ASSIGN_OR_RETURN(Tensor bias, Tensor::allocate(DType::kFloat,
                                                       Shape{static_cast<int64_t>(shift.size())}));
  std::copy(shift.begin(), shift.end(), bias.data<float>());
  return bias;
}

void fill_with_epilogue_of_zero(const Epilogue& epilogue, Tensor* out) {
  const int64_t n = out->num_elements();
  const int64_t channels = static_cast<int64_t>(epilogue.shift.size());
  float* data = out->data<float>();
  for (int64_t i = 0; i < n; ++i) {
    float v = channels > 0 ? epilogue.shift[static_cast<size_t>(i % channels)] : 0.0f;
    for (const Activation& a : epilogue.activations) v = apply(a, v);
    data[i] = v;
  }
}

}  // namespace pbmem
