// FakeQuantWithMinMaxArgs / FakeQuantWithMinMaxVars / FakeQuantWithMinMaxVarsPerChannel:
// float in, float out, quantised to 2^num_bits levels (from 1 with narrow_range) and back, with
// TF's nudging of [min, max] so that 0 is exactly representable
// (tensorflow/core/kernels/fake_quant_ops_functor.h). The arithmetic follows TF's expression
// order operation by operation, in float: a different rounding of one step moves a value by a
// whole quantisation step. (CMakeLists.txt builds this file with -ffp-contract=off, so no
// multiply-add is fused.)
#include <cmath>

#include "kernels/array_helpers.h"
#include "kernels/elementwise_util.h"
#include "kernels/nn_ops.h"

namespace pbmem {
namespace {

struct Nudged {
  float min = 0;
  float max = 0;
  float scale = 0;
  float inv_scale = 0;
  float quant_zero = 0;
  bool zero = false;  // min == max == 0 (Vars ops): the output is all zeros
};

// TF's Nudge(): the zero point rounded (half away from zero) into [quant_min, quant_max].
Nudged nudge(float min, float max, int quant_min, int quant_max) {
  Nudged n;
  const float qmin = static_cast<float>(quant_min);
  const float qmax = static_cast<float>(quant_max);
  n.scale = (max - min) / (qmax - qmin);
  n.inv_scale = (qmax - qmin) / (max - min);  // recomputed, not 1/scale, as TF
  const float zero_point_from_min = qmin - min / n.scale;
  float zero_point = qmin;  // also for a NaN zero point, whose integer cast TF leaves undefined
  if (zero_point_from_min > qmax) {
    zero_point = qmax;
  } else if (zero_point_from_min >= qmin) {
    zero_point = std::round(zero_point_from_min);
  }
  n.min = (qmin - zero_point) * n.scale;
  n.max = (qmax - zero_point) * n.scale;
  n.quant_zero = std::floor(-n.min * n.inv_scale + 0.5f);
  return n;
}

// One value: clamp (a NaN input stays NaN, as Eigen's cwiseMin/cwiseMax), shift, round, scale.
// The Vars op divides by the scale where the others multiply by its inverse.
template <bool kDivide>
inline float fake_quant(float x, const Nudged& n) {
  float clamped = n.max < x ? n.max : x;
  clamped = clamped < n.min ? n.min : clamped;
  const float shifted = clamped - n.min;
  const float steps = kDivide ? shifted / n.scale : shifted * n.inv_scale;
  return std::floor(steps - n.quant_zero + 0.5f) * n.scale;
}

enum class Variant { kArgs, kVars, kPerChannel };

template <Variant kVariant>
class FakeQuantKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    constexpr int kInputs = kVariant == Variant::kArgs ? 1 : 3;
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(kInputs, kInputs));
    for (int i = 0; i < kInputs; ++i) {
      if (ctx.input_dtype(i) != DType::kFloat) {
        return ctx.error("input ", i, " must be float32, got ", dtype_name(ctx.input_dtype(i)));
      }
    }
    const Node& node = ctx.node();
    PBMEM_ASSIGN_OR_RETURN(int64_t num_bits, node.attr_int_or("num_bits", 8));
    PBMEM_ASSIGN_OR_RETURN(bool narrow_range, node.attr_bool_or("narrow_range", false));
    if (num_bits < 2 || num_bits > 16) {
      return ctx.error("attribute 'num_bits' must be between 2 and 16, got ", num_bits);
    }
    quant_min_ = narrow_range ? 1 : 0;
    quant_max_ = (1 << num_bits) - 1;
    const Shape& x = ctx.input_shape(0);
    if (kVariant == Variant::kArgs) {
      PBMEM_ASSIGN_OR_RETURN(float min, node.attr_float_or("min", -6.0f));
      PBMEM_ASSIGN_OR_RETURN(float max, node.attr_float_or("max", 6.0f));
      if (!(min < max)) {
        return ctx.error("attribute 'min' (", min, ") must be smaller than 'max' (", max, ")");
      }
      args_ = nudge(min, max, quant_min_, quant_max_);
    } else {
      PBMEM_RETURN_IF_ERROR(check_range_shapes(ctx, x));
    }
    ctx.set_output(0, DType::kFloat, x);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    const int64_t total = ctx.output(0).num_elements();
    if (kVariant == Variant::kPerChannel) return run_per_channel(ctx, x, y, total);
    const Nudged n = kVariant == Variant::kArgs ? args_ : vars_nudge(ctx, 0);
    parallel_for(total, kMinParallelCheap, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        y[i] = n.zero ? 0.0f : fake_quant<kVariant == Variant::kVars>(x[i], n);
      }
    });
    return ok_status();
  }

 private:
  // Vars: min and max are scalars. PerChannel: vectors over input 0's last dim.
  static Status check_range_shapes(const InferContext& ctx, const Shape& x) {
    const bool per_channel = kVariant == Variant::kPerChannel;
    if (per_channel && x.known_rank() && (x.rank() < 1 || x.rank() > 4)) {
      return ctx.error("input 0 must have rank 1 to 4, got shape ", x.str());
    }
    const int64_t depth = x.known_rank() && x.rank() >= 1 ? x.dim(x.rank() - 1) : kUnknownDim;
    for (int i = 1; i < 3; ++i) {
      const Shape& s = ctx.input_shape(i);
      const char* name = i == 1 ? "min" : "max";
      if (!s.known_rank()) continue;
      if (!per_channel && s.rank() != 0) {
        return ctx.error("input ", i, " '", name, "' must be a scalar, got shape ", s.str());
      }
      if (per_channel && (s.rank() != 1 ||
                          (depth != kUnknownDim && s.dim(0) != kUnknownDim && s.dim(0) != depth))) {
        return ctx.error("input ", i, " '", name, "' must be a vector of the last dim of input 0 (",
                         x.str(), "), got shape ", s.str());
      }
    }
    return ok_status();
  }

  Nudged vars_nudge(const RunContext& ctx, int64_t channel) const {
    const float min = ctx.input(1).data<float>()[channel];
    const float max = ctx.input(2).data<float>()[channel];
    Nudged n;
    if (min == 0.0f && max == 0.0f) {
      n.zero = true;
      return n;
    }
    return nudge(min, max, quant_min_, quant_max_);
  }

  Status run_per_channel(const RunContext& ctx, const float* x, float* y, int64_t total) const {
    const int64_t depth = ctx.input(1).num_elements();
    if (depth == 0 || total == 0) return ok_status();
    const int64_t rows = total / depth;
    parallel_for(rows, std::max<int64_t>(1, kMinParallelCheap / depth),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t c = 0; c < depth; ++c) {
                     const Nudged n = vars_nudge(ctx, c);
                     for (int64_t r = begin; r < end; ++r) {
                       const int64_t i = r * depth + c;
                       y[i] = n.zero ? 0.0f : fake_quant<false>(x[i], n);
                     }
                   }
                 });
    return ok_status();
  }

  int quant_min_ = 0;
  int quant_max_ = 255;
  Nudged args_;
};

}  // namespace

Status register_fake_quant_ops(OpRegistry& registry) {
  return registry.add_all({
      {"FakeQuantWithMinMaxArgs", op_record<FakeQuantKernel<Variant::kArgs>>().in_place()},
      {"FakeQuantWithMinMaxVars", op_record<FakeQuantKernel<Variant::kVars>>().in_place()},
      {"FakeQuantWithMinMaxVarsPerChannel", op_record<FakeQuantKernel<Variant::kPerChannel>>().in_place()},
  });
}

}  // namespace pbmem
