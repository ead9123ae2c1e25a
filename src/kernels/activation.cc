// Activations: pointwise ones through UnaryKernel (float paths use the vectorisable fast_math
// exp/sigmoid/tanh), and Softmax/LogSoftmax over the last axis, stabilised by subtracting the
// row maximum. NaN and +-inf behave as in TF (checked by tests/py/test_ops_activation.py).
//
// TF 2.21 has no fused Gelu op: tf.nn.gelu lowers to Erfc/Mul (exact) or Tanh/Pow (approximate),
// so Erf and Erfc are what GELU needs.
#include <cmath>
#include <type_traits>

#include "kernels/fast_math.h"
#include "kernels/unary_kernel.h"

namespace pbmem {
namespace {

// exp() and expm1() that are fast and vectorisable for float, libm for double.
template <typename T>
PBMEM_ALWAYS_INLINE T exp_any(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return fast_math::exp(x);
  } else {
    return std::exp(x);
  }
}
template <typename T>
PBMEM_ALWAYS_INLINE T expm1_any(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return fast_math::expm1(x);
  } else {
    return std::expm1(x);
  }
}

inline constexpr float kRelu6Cap = 6.0f;
inline constexpr float kLeakyReluDefaultAlpha = 0.2f;
// SELU's constants (Klambauer et al. 2017), as in TF.
inline constexpr double kSeluScale = 1.0507009873554804934193349852946;
inline constexpr double kSeluAlpha = 1.6732632423543772848170429916717;

struct ReluOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> T apply(T x) const { return x < T{0} ? T{0} : x; }  // NaN stays NaN
};
struct Relu6Op : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> T apply(T x) const {
    const T cap = static_cast<T>(kRelu6Cap);
    return x < T{0} ? T{0} : (x > cap ? cap : x);
  }
};
struct LeakyReluOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  float alpha = kLeakyReluDefaultAlpha;
  Status init(const Node& node) {
    PBMEM_ASSIGN_OR_RETURN(alpha, node.attr_float_or("alpha", kLeakyReluDefaultAlpha));
    return ok_status();
  }
  template <typename T> T apply(T x) const {
    return fast_math::select(x > T{0}, x, x * static_cast<T>(alpha));
  }
};
struct EluOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const { return fast_math::select(x < T{0}, expm1_any(x), x); }
};
struct SeluOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const {
    const T scale = static_cast<T>(kSeluScale);
    const T scale_alpha = static_cast<T>(kSeluScale * kSeluAlpha);
    return fast_math::select(x < T{0}, scale_alpha * expm1_any(x), scale * x);
  }
};
struct SigmoidOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const {
    if constexpr (std::is_same_v<T, float>) {
      return fast_math::sigmoid(x);
    } else {
      return T{1} / (T{1} + std::exp(-x));
    }
  }
};
struct TanhOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const {
    if constexpr (std::is_same_v<T, float>) {
      return fast_math::tanh(x);
    } else {
      return std::tanh(x);
    }
  }
};
// log(1 + e^x) written so that neither branch overflows: max(x, 0) + log1p(e^-|x|).
struct SoftplusOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const {
    const T positive = x > T{0} ? x : T{0};
    return positive + std::log1p(exp_any(-std::fabs(x)));
  }
};
struct SoftsignOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  template <typename T> T apply(T x) const { return x / (T{1} + std::fabs(x)); }
};
struct ErfOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const {
    if constexpr (std::is_same_v<T, float>) {
      return fast_math::erf(x);
    } else {
      return std::erf(x);
    }
  }
};
struct ErfcOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const {
    if constexpr (std::is_same_v<T, float>) {
      return fast_math::erfc(x);
    } else {
      return std::erfc(x);
    }
  }
};

// ---- Softmax / LogSoftmax over the last axis ----

// Independent partial results: shorter dependency chains and a vectorisable loop.
inline constexpr int kRowLanes = 8;

template <typename T>
PBMEM_ALWAYS_INLINE T row_sum(const T* x, int64_t n) {
  T lanes[kRowLanes] = {};
  int64_t i = 0;
  for (; i + kRowLanes <= n; i += kRowLanes) {
    for (int j = 0; j < kRowLanes; ++j) lanes[j] += x[i + j];
  }
  T sum = T{0};
  for (; i < n; ++i) sum += x[i];
  for (int j = 0; j < kRowLanes; ++j) sum += lanes[j];
  return sum;
}

// y[i] = exp(x[i] - shift); returns the sum of y. Two loops, each of which vectorises.
template <typename T>
PBMEM_ALWAYS_INLINE T exp_shifted_sum(const T* x, T shift, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_any(x[i] - shift);
  return row_sum(y, n);
}

template <bool kLog, typename T>
PBMEM_SIMD_CLONES void softmax_rows(const T* x, T* y, int64_t depth, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const T* xr = x + r * depth;
    T* yr = y + r * depth;
    const T shift = extreme_contiguous<Extreme::kMaxPropagateNan>(xr, depth, xr[0]);
    const T sum = exp_shifted_sum(xr, shift, yr, depth);
    if constexpr (kLog) {
      const T log_sum = std::log(sum);
      for (int64_t i = 0; i < depth; ++i) yr[i] = (xr[i] - shift) - log_sum;
    } else {
      const T inverse = T{1} / sum;
      for (int64_t i = 0; i < depth; ++i) yr[i] *= inverse;
    }
  }
}

template <bool kLog>
class SoftmaxKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 0, 1, kTypesFloating));
    const Shape& shape = ctx.input_shape(0);
    if (shape.known_rank() && shape.rank() < 1) {
      return ctx.error("logits must have at least 1 dimension, got a scalar");
    }
    ctx.set_output(0, ctx.input_dtype(0), shape);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    const int64_t depth = in.shape().dim(in.shape().rank() - 1);
    if (depth == 0 || in.num_elements() == 0) return ok_status();
    const int64_t rows = in.num_elements() / depth;
    bool known = visit_dtype<kTypesFloating>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* x = in.data<T>();
      T* y = out.data<T>();
      const int64_t min_rows = std::max<int64_t>(1, kMinParallelCostly / depth);
      parallel_for(rows, min_rows, [&](int64_t begin, int64_t end) {
        softmax_rows<kLog, T>(x, y, depth, begin, end);
      });
    });
    if (!known) return unsupported_dtype(ctx.node(), in.dtype(), kTypesFloating);
    return ok_status();
  }
};

}  // namespace

Status register_activation_ops(OpRegistry& registry) {
  return registry.add_all({
      {"Relu", op_record<UnaryKernel<ReluOp>>().in_place().activation(ActivationKind::kRelu)},
      {"Relu6", op_record<UnaryKernel<Relu6Op>>().in_place().activation(ActivationKind::kRelu6)},
      {"LeakyRelu", op_record<UnaryKernel<LeakyReluOp>>().in_place().activation(ActivationKind::kLeakyRelu)},
      {"Elu", op_record<UnaryKernel<EluOp>>().in_place().activation(ActivationKind::kElu)},
      {"Selu", op_record<UnaryKernel<SeluOp>>().in_place()},
      {"Sigmoid", op_record<UnaryKernel<SigmoidOp>>().in_place().activation(ActivationKind::kSigmoid)},
      {"Tanh", op_record<UnaryKernel<TanhOp>>().in_place().activation(ActivationKind::kTanh)},
      {"Softplus", op_record<UnaryKernel<SoftplusOp>>()},
      {"Softsign", op_record<UnaryKernel<SoftsignOp>>()},
      {"Erf", op_record<UnaryKernel<ErfOp>>().in_place()},
      {"Erfc", op_record<UnaryKernel<ErfcOp>>()},
      {"Softmax", op_record<SoftmaxKernel<false>>()},
      {"LogSoftmax", op_record<SoftmaxKernel<true>>()},
  });
}

}  // namespace pbmem
