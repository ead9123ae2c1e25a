// FusedBatchNorm, FusedBatchNormV2 and FusedBatchNormV3 in inference mode (is_training=false):
// y = x * s + t per channel, with s = scale / sqrt(variance + epsilon) and t = offset - mean * s.
// s and t are folded once at prepare when the four parameter inputs are constant (the usual
// frozen-model case), else at the start of every run into buffers sized at prepare.
// Like TF in inference mode, batch_mean/batch_variance echo the given mean/variance; the
// reserve_space outputs get the same values (TF leaves them unspecified), V3's third is a scalar 0.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/nn_ops.h"
#include "kernels/util.h"

namespace pbmem {
namespace {

constexpr int kNumInputs = 5;
constexpr int kScaleInput = 1;
constexpr int kOffsetInput = 2;
constexpr int kMeanInput = 3;
constexpr int kVarianceInput = 4;
constexpr int kBatchMeanOutput = 1;
constexpr int kBatchVarianceOutput = 2;
constexpr int kReserve1Output = 3;
constexpr int kReserve2Output = 4;
constexpr int kReserve3Output = 5;  // V3 only
constexpr float kDefaultEpsilon = 1e-4f;  // TF's default for the attribute
constexpr int kRank5 = 5;                 // NDHWC (V3)
constexpr int64_t kMinRowsPerChunk = 64;

const char* const kParamNames[kNumInputs] = {"x", "scale", "offset", "mean", "variance"};

class FusedBatchNormKernel : public Kernel {
 public:
  explicit FusedBatchNormKernel(bool v3) : v3_(v3) {}

  Status infer(InferContext& ctx) override {
    const Node& node = ctx.node();
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(kNumInputs, kNumInputs));
    PBMEM_ASSIGN_OR_RETURN(bool is_training, node.attr_bool_or("is_training", true));
    if (is_training) {
      return ctx.unsupported("is_training=true (training-mode batch statistics) is not ",
                             "supported; freeze the model for inference");
    }
    PBMEM_ASSIGN_OR_RETURN(epsilon_, node.attr_float_or("epsilon", kDefaultEpsilon));
    if (!(epsilon_ >= 0.0f) || !std::isfinite(epsilon_)) {
      return ctx.error("attribute 'epsilon' must be finite and >= 0, got ", epsilon_);
    }
    PBMEM_ASSIGN_OR_RETURN(std::string format, node.attr_string_or("data_format", "NHWC"));
    if (format == "NCHW" || format == "NCDHW") {
      return ctx.unsupported("data_format '", format, "' is not supported (only NHWC/NDHWC)");
    }
    if (format != "NHWC" && format != "NDHWC") {
      return ctx.error("attribute 'data_format' must be NHWC or NDHWC, got '", format, "'");
    }
    const int rank = format == "NHWC" ? kNhwcRank : kRank5;
    for (int i = 0; i < kNumInputs; ++i) {
      PBMEM_RETURN_IF_ERROR(require_float_input(ctx, i, kParamNames[i]));
    }
    const Shape& x = ctx.input_shape(0);
    if (x.known_rank() && x.rank() != rank) {
      return ctx.error("input 0 (x) must be rank ", rank, " for data_format ", format,
                       ", got shape ", x.str());
    }
    int64_t channels = x.known_rank() ? x.dim(rank - 1) : kUnknownDim;
    for (int i = kScaleInput; i < kNumInputs; ++i) {
      const Shape& p = ctx.input_shape(i);
      if (!p.known_rank()) continue;
      if (p.rank() != 1) {
        return ctx.error("input ", i, " (", kParamNames[i], ") must be rank 1, got shape ",
                         p.str());
      }
      if (channels == kUnknownDim) {
        channels = p.dim(0);
      } else if (p.dim(0) != kUnknownDim && p.dim(0) != channels) {
        return ctx.error("input ", i, " (", kParamNames[i], ") has ", p.dim(0),
                         " entries, expected one per channel (", channels, ")");
      }
    }
    ctx.set_output(0, DType::kFloat, x);
    for (int out = kBatchMeanOutput; out <= kReserve2Output; ++out) {
      ctx.set_output(out, DType::kFloat, Shape({channels}));
    }
    if (v3_) ctx.set_output(kReserve3Output, DType::kFloat, Shape());
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    const Shape& x = ctx.input_shape(0);
    prepared_shape_ = x;
    channels_ = x.dim(x.rank() - 1);
    rows_ = channels_ == 0 ? 0 : x.num_elements_unchecked() / channels_;
    scale_.assign(static_cast<size_t>(channels_), 0.0f);
    shift_.assign(static_cast<size_t>(channels_), 0.0f);
    params_constant_ = true;
    for (int i = kScaleInput; i < kNumInputs; ++i) {
      if (ctx.input_shape(i).num_elements_unchecked() != channels_) {
        return ctx.error("input ", i, " (", kParamNames[i], ") has shape ",
                         ctx.input_shape(i).str(), ", expected [", channels_, "]");
      }
      params_constant_ = params_constant_ && ctx.const_input(i) != nullptr;
    }
    if (params_constant_) {
      fold(*ctx.const_input(kScaleInput), *ctx.const_input(kOffsetInput),
           *ctx.const_input(kMeanInput), *ctx.const_input(kVarianceInput));
    }
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    if (x.shape() != prepared_shape_) {
      return ctx.error("input shape ", x.shape().str(), " differs from the prepared ",
                       prepared_shape_.str());
    }
    for (int i = kScaleInput; i < kNumInputs; ++i) {
      if (ctx.input(i).num_elements() != channels_) {
        return ctx.error("input ", i, " (", kParamNames[i], ") has shape ",
                         ctx.input(i).shape().str(), ", expected [", channels_, "]");
      }
    }
    const Tensor& mean = ctx.input(kMeanInput);
    const Tensor& variance = ctx.input(kVarianceInput);
    if (!params_constant_) {
      fold(ctx.input(kScaleInput), ctx.input(kOffsetInput), mean, variance);
    }
    normalize(x, ctx.output(0));
    const size_t param_bytes = static_cast<size_t>(channels_) * sizeof(float);
    if (param_bytes > 0) {
      std::memcpy(ctx.output(kBatchMeanOutput).raw_data(), mean.raw_data(), param_bytes);
      std::memcpy(ctx.output(kBatchVarianceOutput).raw_data(), variance.raw_data(), param_bytes);
      std::memcpy(ctx.output(kReserve1Output).raw_data(), mean.raw_data(), param_bytes);
      std::memcpy(ctx.output(kReserve2Output).raw_data(), variance.raw_data(), param_bytes);
    }
    if (v3_) *ctx.output(kReserve3Output).data<float>() = 0.0f;
    return ok_status();
  }

 private:
  void fold(const Tensor& scale, const Tensor& offset, const Tensor& mean,
            const Tensor& variance) {
    const float* g = scale.data<float>();
    const float* b = offset.data<float>();
    const float* m = mean.data<float>();
    const float* v = variance.data<float>();
    for (int64_t c = 0; c < channels_; ++c) {
      const float s = g[c] / std::sqrt(v[c] + epsilon_);
      scale_[static_cast<size_t>(c)] = s;
      shift_[static_cast<size_t>(c)] = b[c] - m[c] * s;
    }
  }

  void normalize(const Tensor& x, Tensor& y) const {
    const float* in = x.data<float>();
    float* out = y.data<float>();
    const float* s = scale_.data();
    const float* t = shift_.data();
    const int64_t channels = channels_;
    parallel_for(rows_, kMinRowsPerChunk, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* xr = in + r * channels;
        float* yr = out + r * channels;
#pragma omp simd
        for (int64_t c = 0; c < channels; ++c) yr[c] = xr[c] * s[c] + t[c];
      }
    });
  }

  bool v3_;
  float epsilon_ = kDefaultEpsilon;
  Shape prepared_shape_;
  int64_t channels_ = 0;
  int64_t rows_ = 0;
  bool params_constant_ = false;
  std::vector<float> scale_;  // per channel, folded
  std::vector<float> shift_;
};

class FusedBatchNormV1V2Kernel : public FusedBatchNormKernel {
 public:
  FusedBatchNormV1V2Kernel() : FusedBatchNormKernel(/*v3=*/false) {}
};
class FusedBatchNormV3Kernel : public FusedBatchNormKernel {
 public:
  FusedBatchNormV3Kernel() : FusedBatchNormKernel(/*v3=*/true) {}
};

}  // namespace

Status register_batchnorm_ops(OpRegistry& registry) {
  // TF's output args, which function bodies name ("bn:batch_mean:0" is port 1).
  const std::vector<std::string> v1_outputs = {"y", "batch_mean", "batch_variance",
                                               "reserve_space_1", "reserve_space_2"};
  std::vector<std::string> v3_outputs = v1_outputs;
  v3_outputs.push_back("reserve_space_3");
  return registry.add_all({
      {"FusedBatchNorm", op_record<FusedBatchNormV1V2Kernel>().in_place().output_args(v1_outputs)},
      {"FusedBatchNormV2",
       op_record<FusedBatchNormV1V2Kernel>().in_place().output_args(v1_outputs)},
      {"FusedBatchNormV3",
       op_record<FusedBatchNormV3Kernel>().in_place().output_args(v3_outputs)},
  });
}

}  // namespace pbmem
