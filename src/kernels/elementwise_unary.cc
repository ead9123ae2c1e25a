// Unary math ops (Sqrt, Exp, Neg, Round, Sin, ...) and the bool-valued IsNan/IsFinite. Integer
// Neg/Abs/Square wrap like TF. Activations (Relu, Sigmoid, Erf, ...) live in activation.cc.
#include <cmath>
#include <type_traits>

#include "kernels/unary_kernel.h"

namespace pbmem {
namespace {

struct RsqrtOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  template <typename T> T apply(T x) const { return T{1} / std::sqrt(x); }
};
struct SqrtOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  template <typename T> T apply(T x) const { return std::sqrt(x); }
};
struct SquareOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> T apply(T x) const { return wrap_mul(x, x); }
};
struct ExpOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const {
    if constexpr (std::is_same_v<T, float>) {
      return fast_math::exp(x);  // vectorisable; within ~1 ulp like TF's own float exp
    } else {
      return std::exp(x);
    }
  }
};
struct LogOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const { return std::log(x); }
};
struct NegOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> T apply(T x) const { return wrap_neg(x); }
};
struct AbsOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> T apply(T x) const {
    if constexpr (std::is_integral_v<T>) {
      return x < 0 ? wrap_neg(x) : x;  // abs(INT_MIN) wraps to INT_MIN, as in TF
    } else {
      return std::fabs(x);
    }
  }
};
struct FloorOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  template <typename T> T apply(T x) const { return std::floor(x); }
};
struct CeilOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  template <typename T> T apply(T x) const { return std::ceil(x); }
};
// Round half to even (banker's rounding), as TF: nearbyint under the default rounding mode.
struct RoundOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  template <typename T> T apply(T x) const { return std::nearbyint(x); }
};
struct ReciprocalOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  template <typename T> T apply(T x) const { return T{1} / x; }
};
// -1, 0 or 1; NaN stays NaN and -0 becomes +0, as in TF.
struct SignOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> T apply(T x) const {
    const T sign = static_cast<T>((x > T{0}) - (x < T{0}));
    if constexpr (std::is_floating_point_v<T>) {
      return fast_math::select(x != x, x, sign);
    } else {
      return sign;
    }
  }
};
struct SinOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const { return std::sin(x); }
};
struct CosOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> T apply(T x) const { return std::cos(x); }
};
struct LogicalNotOp : UnaryDefaults {
  static constexpr unsigned kTypes = kTypeBool;
  template <typename T> T apply(T x) const { return !x; }
};

// ---- IsNan / IsFinite: a float input, a bool output of its shape ----

struct IsNanOp {
  template <typename T> static bool apply(T x) { return x != x; }
};
struct IsFiniteOp {
  template <typename T> static bool apply(T x) { return std::isfinite(x); }
};

template <typename Op, typename T>
PBMEM_SIMD_CLONES void predicate_loop(const T* x, bool* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = Op::apply(x[i]);
}

template <typename Op>
class PredicateKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 0, 1, kTypesFloating));
    ctx.set_output(0, DType::kBool, ctx.input_shape(0));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    bool* y = ctx.output(0).data<bool>();
    bool known = visit_dtype<kTypesFloating>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* x = in.data<T>();
      parallel_for(in.num_elements(), kMinParallelCheap, [&](int64_t begin, int64_t end) {
        predicate_loop<Op>(x + begin, y + begin, end - begin);
      });
    });
    if (!known) return unsupported_dtype(ctx.node(), in.dtype(), kTypesFloating);
    return ok_status();
  }
};

}  // namespace

Status register_elementwise_unary_ops(OpRegistry& registry) {
  return registry.add_all({
      {"Rsqrt", op_record<UnaryKernel<RsqrtOp>>().in_place()},
      {"Sqrt", op_record<UnaryKernel<SqrtOp>>().in_place()},
      {"Square", op_record<UnaryKernel<SquareOp>>().in_place()},
      {"Exp", op_record<UnaryKernel<ExpOp>>().in_place()},
      {"Log", op_record<UnaryKernel<LogOp>>().in_place()},
      {"Neg", op_record<UnaryKernel<NegOp>>().in_place()},
      {"Abs", op_record<UnaryKernel<AbsOp>>().in_place()},
      {"Floor", op_record<UnaryKernel<FloorOp>>()},
      {"Ceil", op_record<UnaryKernel<CeilOp>>()},
      {"Round", op_record<UnaryKernel<RoundOp>>()},
      {"Reciprocal", op_record<UnaryKernel<ReciprocalOp>>()},
      {"Sign", op_record<UnaryKernel<SignOp>>()},
      {"LogicalNot", op_record<UnaryKernel<LogicalNotOp>>()},
      {"Sin", op_record<UnaryKernel<SinOp>>().in_place()},
      {"Cos", op_record<UnaryKernel<CosOp>>().in_place()},
      {"IsNan", op_record<PredicateKernel<IsNanOp>>()},
      {"IsFinite", op_record<PredicateKernel<IsFiniteOp>>()},
  });
}

}  // namespace pbmem
