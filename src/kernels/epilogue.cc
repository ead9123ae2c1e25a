// Fused-epilogue helpers (see epilogue.h).
#include "kernels/epilogue.h"
#include "kernels/util.h"

#include <algorithm>
#include <cmath>

#include "kernels/fast_math.h"
#include "kernels/util.h"

namespace pbmem {

namespace {

namespace dnnl = dnnl_adapter;

constexpr float kRelu6Cap = 6.0f;
constexpr float kEluAlpha = 1.0f;  // TF's Elu has no alpha: exp(x) - 1 below 0
constexpr int64_t kMinParallelElements = 1 << 14;
// Elements per parallel chunk when scaling a filter (smaller filters are scaled inline).
constexpr int64_t kScaleMinChunkElements = 64 * 1024;

// One activation over a row, with the switch outside the loop so each case vectorises; the
// same branch-free float math as the activation ops (activation.cc). NaN stays NaN.
PBMEM_SIMD_CLONES void apply_row(const Activation& a, float* y, int64_t n) {
  switch (a.kind) {
    case ActivationKind::kRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] < 0.0f ? 0.0f : y[i];
      return;
    case ActivationKind::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = fast_math::select(y[i] > 0.0f, y[i], y[i] * a.alpha);
      return;
    case ActivationKind::kRelu6:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] < 0.0f ? 0.0f : (y[i] > kRelu6Cap ? kRelu6Cap : y[i]);
      return;
    case ActivationKind::kElu:
      for (int64_t i = 0; i < n; ++i) y[i] = fast_math::select(y[i] < 0.0f, fast_math::expm1(y[i]), y[i]);
      return;
    case ActivationKind::kSigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = fast_math::sigmoid(y[i]);
      return;
    case ActivationKind::kTanh:
      for (int64_t i = 0; i < n; ++i) y[i] = fast_math::tanh(y[i]);
      return;
    case ActivationKind::kSwish:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] * fast_math::sigmoid(a.alpha * y[i]);
      return;
  }
}

// y = x * scale + shift over one row of `channels` values (empty scale: 1, empty shift: 0).
PBMEM_SIMD_CLONES void affine_row(const float* x, const float* scale, const float* shift, float* y,
                                  int64_t channels) {
  if (scale != nullptr && shift != nullptr) {
    for (int64_t c = 0; c < channels; ++c) y[c] = x[c] * scale[c] + shift[c];
  } else if (scale != nullptr) {
    for (int64_t c = 0; c < channels; ++c) y[c] = x[c] * scale[c];
  } else if (shift != nullptr) {
    for (int64_t c = 0; c < channels; ++c) y[c] = x[c] + shift[c];
  } else if (x != y) {
    std::copy(x, x + channels, y);
  }
}

// A fused affine + activation chain whose head is not a conv/matmul (Keras' BatchNorm + ReLU
// after a Concat in DenseNet): the head node computes the whole chain in one pass.
class StandaloneEpilogueKernel : public Kernel {
 public:
  StandaloneEpilogueKernel(std::unique_ptr<Kernel> original, int data_input)
      : original_(std::move(original)), data_input_(data_input) {}

  bool accepts_epilogue(const Epilogue& epilogue) const override {
    std::vector<dnnl::EltwisePostOp> unused;
    return !epilogue.residual && activations_to_post_ops(epilogue.activations, &unused);
  }
  void set_epilogue(Epilogue epilogue) override { epilogue_ = std::move(epilogue); }
  // The constant operand's values are in the epilogue: only the data is read at run time.
  bool needs_input_at_run(int input) const override { return input == data_input_; }

  // The head op's own shape rules and errors; the chain keeps the data input's shape.
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(original_->infer(ctx));
    const Shape& in = ctx.input_shape(data_input_);
    const Shape& out = ctx.outputs()[0].shape;
    if (ctx.concrete() && in != out) {
      return internal_error(ctx.node().describe(), ": fused chain changes the shape ", in.str(),
                            " to ", out.str());
    }
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    const Shape& shape = ctx.input_shape(data_input_);
    channels_ = shape.rank() > 0 ? shape.dim(shape.rank() - 1) : 1;
    for (const std::vector<float>* v : {&epilogue_.scale, &epilogue_.shift}) {
      if (!v->empty() && static_cast<int64_t>(v->size()) != channels_) {
        return internal_error(ctx.node().describe(), ": fused chain has ", v->size(),
                              " channels, the tensor ", channels_);
      }
    }
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& x = ctx.input(data_input_);
    Tensor& y = ctx.output(0);
    if (x.shape() != y.shape() || x.dtype() != DType::kFloat) {
      return ctx.error("input ", x.shape().str(), " differs from the prepared output ", y.shape().str());
    }
    if (channels_ <= 0 || y.num_elements() == 0) return ok_status();
    const int64_t rows = y.num_elements() / channels_;
    const float* in = x.data<float>();
    float* out = y.data<float>();
    const float* scale = epilogue_.scale.empty() ? nullptr : epilogue_.scale.data();
    const float* shift = epilogue_.shift.empty() ? nullptr : epilogue_.shift.data();
    parallel_for(rows, kMinParallelElements / channels_ + 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        float* row = out + r * channels_;
        affine_row(in + r * channels_, scale, shift, row, channels_);
        for (const Activation& a : epilogue_.activations) apply_row(a, row, channels_);
      }
    });
    return ok_status();
  }

 private:
  std::unique_ptr<Kernel> original_;
  int data_input_;
  Epilogue epilogue_;
  int64_t channels_ = 0;
};

}  // namespace

std::unique_ptr<Kernel> make_standalone_epilogue_kernel(std::unique_ptr<Kernel> original,
                                                        int data_input) {
  return std::make_unique<StandaloneEpilogueKernel>(std::move(original), data_input);
}

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
      case ActivationKind::kSwish: op = {dnnl::EltwiseKind::kSwish, a.alpha, 0.0f}; break;
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

void fill_with_epilogue_of_zero(const Epilogue& epilogue, const Tensor* residual, Tensor* out) {
  const int64_t n = out->num_elements();
  const int64_t channels = static_cast<int64_t>(epilogue.shift.size());
  const float* added = epilogue.residual && residual != nullptr ? residual->data<float>() : nullptr;
  float* data = out->data<float>();
  for (int64_t i = 0; i < n; ++i) {
    data[i] = channels > 0 ? epilogue.shift[static_cast<size_t>(i % channels)] : 0.0f;
    if (added != nullptr) data[i] += added[i];
  }
  for (const Activation& a : epilogue.activations) apply_row(a, data, n);
}

}  // namespace pbmem
