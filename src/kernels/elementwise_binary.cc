// Binary elementwise ops with NumPy broadcasting (Add, Mul, comparisons, ...), Select/SelectV2,
// AddN and ClipByValue. The broadcast is collapsed once at prepare time; run() walks contiguous
// rows whose inner loop is specialised on which operands vary, so same-shape, scalar, per-channel
// and [N,1,1,C] x [N,H,W,C] cases all become plain vectorisable loops.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/elementwise_util.h"

namespace pbmem {
namespace {

// Checks run() must make on the second operand before computing integer results: TF fails on
// integer division by zero and on negative integer exponents instead of producing garbage.
enum class OperandCheck { kNone, kIntDivisorNonZero, kIntExponentNonNegative };

struct BinaryDefaults {
  static constexpr bool kBoolOut = false;
  static constexpr bool kCostly = false;
  static constexpr OperandCheck kCheck = OperandCheck::kNone;
  static constexpr bool kHasIncompatibleShapeAttr = false;
};

// Truncating integer division; the divisor is known to be non-zero. x / -1 wraps like TF
// (INT_MIN / -1 == INT_MIN) instead of trapping.
template <typename T>
T truncating_div(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    return y == T{-1} ? wrap_neg(x) : static_cast<T>(x / y);
  } else {
    return x / y;
  }
}

struct AddOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> static T apply(T a, T b) { return wrap_add(a, b); }
};
struct SubOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> static T apply(T a, T b) { return wrap_sub(a, b); }
};
struct MulOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> static T apply(T a, T b) { return wrap_mul(a, b); }
};
// RealDiv and Div: true division for floats, truncating division for integers.
struct DivOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  static constexpr OperandCheck kCheck = OperandCheck::kIntDivisorNonZero;
  template <typename T> static T apply(T a, T b) { return truncating_div(a, b); }
};
struct FloorDivOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  static constexpr OperandCheck kCheck = OperandCheck::kIntDivisorNonZero;
  template <typename T> static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      if (b == T{-1}) return wrap_neg(a);
      T q = static_cast<T>(a / b);
      if (a % b != 0 && ((a < 0) != (b < 0))) --q;
      return q;
    } else {
      return std::floor(a / b);
    }
  }
};
// The result takes the divisor's sign, as Python's %.
struct FloorModOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  static constexpr bool kCostly = true;
  static constexpr OperandCheck kCheck = OperandCheck::kIntDivisorNonZero;
  template <typename T> static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      if (b == T{-1}) return T{0};
      T r = static_cast<T>(a % b);
      return (r != 0 && ((r < 0) != (b < 0))) ? static_cast<T>(r + b) : r;
    } else {
      T r = std::fmod(a, b);
      return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
    }
  }
};
// Mod and TruncateMod: the remainder of truncating division, taking the dividend's sign (C's
// % and fmod).
struct TruncateModOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  static constexpr bool kCostly = true;
  static constexpr OperandCheck kCheck = OperandCheck::kIntDivisorNonZero;
  template <typename T> static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return b == T{-1} ? T{0} : static_cast<T>(a % b);  // INT_MIN % -1 would trap
    } else {
      return std::fmod(a, b);
    }
  }
};
struct Atan2Op : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  static constexpr bool kCostly = true;
  template <typename T> static T apply(T y, T x) { return std::atan2(y, x); }
};
struct MaximumOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> static T apply(T a, T b) { return propagate_nan_max(a, b); }
};
struct MinimumOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> static T apply(T a, T b) { return propagate_nan_min(a, b); }
};
struct PowOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  static constexpr bool kCostly = true;
  static constexpr OperandCheck kCheck = OperandCheck::kIntExponentNonNegative;
  template <typename T> static T apply(T base, T exponent) {
    if constexpr (std::is_integral_v<T>) {
      T result = 1;
      while (exponent > 0) {  // square-and-multiply, wrapping like TF
        if (exponent & 1) result = wrap_mul(result, base);
        base = wrap_mul(base, base);
        exponent = static_cast<T>(exponent >> 1);
      }
      return result;
    } else {
      return std::pow(base, exponent);
    }
  }
};
struct SquaredDifferenceOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  template <typename T> static T apply(T a, T b) {
    T d = wrap_sub(a, b);
    return wrap_mul(d, d);
  }
};
struct DivNoNanOp : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesFloating;
  template <typename T> static T apply(T a, T b) {
    return fast_math::select(b == T{0}, T{0}, a / b);
  }
};

struct ComparisonDefaults : BinaryDefaults {
  static constexpr unsigned kTypes = kTypesNumeric;
  static constexpr bool kBoolOut = true;
};
struct GreaterOp : ComparisonDefaults {
  template <typename T> static bool apply(T a, T b) { return a > b; }
};
struct GreaterEqualOp : ComparisonDefaults {
  template <typename T> static bool apply(T a, T b) { return a >= b; }
};
struct LessOp : ComparisonDefaults {
  template <typename T> static bool apply(T a, T b) { return a < b; }
};
struct LessEqualOp : ComparisonDefaults {
  template <typename T> static bool apply(T a, T b) { return a <= b; }
};
// Equal/NotEqual: with incompatible_shape_error=false, unbroadcastable shapes give a scalar.
struct EqualOp : ComparisonDefaults {
  static constexpr unsigned kTypes = kTypesNumeric | kTypeBool;
  static constexpr bool kHasIncompatibleShapeAttr = true;
  static constexpr bool kIncompatibleValue = false;
  template <typename T> static bool apply(T a, T b) { return a == b; }
};
struct NotEqualOp : ComparisonDefaults {
  static constexpr unsigned kTypes = kTypesNumeric | kTypeBool;
  static constexpr bool kHasIncompatibleShapeAttr = true;
  static constexpr bool kIncompatibleValue = true;
  template <typename T> static bool apply(T a, T b) { return a != b; }
};
struct LogicalAndOp : ComparisonDefaults {
  static constexpr unsigned kTypes = kTypeBool;
  template <typename T> static bool apply(T a, T b) { return a && b; }
};
struct LogicalOrOp : ComparisonDefaults {
  static constexpr unsigned kTypes = kTypeBool;
  template <typename T> static bool apply(T a, T b) { return a || b; }
};

// Fails when an integer divisor is 0 or an integer exponent negative (TF's runtime errors).
template <typename Op, typename T>
Status check_second_operand(const RunContext& ctx, const Tensor& b) {
  if constexpr (std::is_integral_v<T> && Op::kCheck != OperandCheck::kNone) {
    const T* p = b.data<T>();
    const int64_t n = b.num_elements();
    for (int64_t i = 0; i < n; ++i) {
      if (Op::kCheck == OperandCheck::kIntDivisorNonZero && p[i] == 0) {
        return ctx.error("integer division by zero (input 1, element ", i, ")");
      }
      if (Op::kCheck == OperandCheck::kIntExponentNonNegative && p[i] < 0) {
        return ctx.error("integers to negative integer powers are not allowed (input 1, element ",
                         i, " is ", p[i], ")");
      }
    }
  }
  return ok_status();
}

template <typename Op, typename T, typename Out, bool kAVaries, bool kBVaries>
PBMEM_SIMD_CLONES void binary_chunk(const BroadcastPlan& plan, const T* a, const T* b, Out* out,
                                    int64_t begin, int64_t end) {
  for_each_broadcast_run(plan, begin, end, [&](const int64_t* offsets, int64_t pos, int64_t n)
                                                 __attribute__((always_inline)) {
    const T* pa = a + offsets[0];
    const T* pb = b + offsets[1];
    Out* po = out + pos;
    for (int64_t i = 0; i < n; ++i) {
      po[i] = Op::template apply<T>(pa[kAVaries ? i : 0], pb[kBVaries ? i : 0]);
    }
  });
}

template <typename Op, typename T, typename Out, bool kAVaries, bool kBVaries>
void run_binary_rows(const BroadcastPlan& plan, const T* a, const T* b, Out* out) {
  const int64_t min_chunk = Op::kCostly ? kMinParallelCostly : kMinParallelCheap;
  parallel_for(plan.total, min_chunk, [&](int64_t begin, int64_t end) {
    binary_chunk<Op, T, Out, kAVaries, kBVaries>(plan, a, b, out, begin, end);
  });
}

template <typename Op, typename T, typename Out>
void run_binary(const BroadcastPlan& plan, const T* a, const T* b, Out* out) {
  const bool a_varies = plan.inner_varies(0);
  const bool b_varies = plan.inner_varies(1);
  if (a_varies && b_varies) {
    run_binary_rows<Op, T, Out, true, true>(plan, a, b, out);
  } else if (a_varies) {
    run_binary_rows<Op, T, Out, true, false>(plan, a, b, out);
  } else if (b_varies) {
    run_binary_rows<Op, T, Out, false, true>(plan, a, b, out);
  } else {
    run_binary_rows<Op, T, Out, false, false>(plan, a, b, out);
  }
}

Status with_node(const Node& node, const Status& status) {
  return Status(status.code(), node.describe() + ": " + status.message());
}

template <typename Op>
class BinaryKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 0, 2, Op::kTypes));
    const DType out_dtype = Op::kBoolOut ? DType::kBool : ctx.input_dtype(0);
    incompatible_ = false;
    auto shape = broadcast_shapes(ctx.input_shape(0), ctx.input_shape(1));
    if (!shape.ok()) {
      if constexpr (Op::kHasIncompatibleShapeAttr) {
        PBMEM_ASSIGN_OR_RETURN(bool must_fail,
                               ctx.node().attr_bool_or("incompatible_shape_error", true));
        if (!must_fail) {
          incompatible_ = true;
          ctx.set_output(0, out_dtype, Shape());
          return ok_status();
        }
      }
      return with_node(ctx.node(), shape.status());
    }
    ctx.set_output(0, out_dtype, std::move(shape).value());
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    if (incompatible_) return ok_status();
    const Shape* shapes[] = {&ctx.input_shape(0), &ctx.input_shape(1)};
    Status status = make_broadcast_plan(shapes, 2, ctx.outputs()[0].shape, &plan_);
    return status.ok() ? status : with_node(ctx.node(), status);
  }

  Status run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    if constexpr (Op::kHasIncompatibleShapeAttr) {
      if (incompatible_) {
        *out.data<bool>() = Op::kIncompatibleValue;
        return ok_status();
      }
    }
    if (plan_.total != out.num_elements()) {
      return internal_error(ctx.node().describe(), ": run() without a matching prepare()");
    }
    if (plan_.total == 0) return ok_status();
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    Status status;
    bool known = visit_dtype<Op::kTypes>(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      using Out = std::conditional_t<Op::kBoolOut, bool, T>;
      status = check_second_operand<Op, T>(ctx, b);
      if (status.ok()) run_binary<Op, T, Out>(plan_, a.data<T>(), b.data<T>(), out.data<Out>());
    });
    if (!known) return unsupported_dtype(ctx.node(), a.dtype(), Op::kTypes);
    return status;
  }

 private:
  BroadcastPlan plan_;
  bool incompatible_ = false;  // Equal/NotEqual with incompatible_shape_error=false
};

// ---- Select / SelectV2 ----

inline constexpr unsigned kSelectTypes = kTypesNumeric | kTypeBool;

// SelectV2 broadcasts condition, then and else together. Select (v1) requires then/else of the
// same shape and a condition that is a scalar, of that shape, or a vector over its first dim.
template <bool kV2>
class SelectKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
    if (ctx.input_dtype(0) != DType::kBool) {
      return ctx.error("condition (input 0) must be bool, got ", dtype_name(ctx.input_dtype(0)));
    }
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 1, 3, kSelectTypes));
    const Shape& cond = ctx.input_shape(0);
    const Shape& then_shape = ctx.input_shape(1);
    const Shape& else_shape = ctx.input_shape(2);
    auto values = broadcast_shapes(then_shape, else_shape);
    if (!values.ok()) return with_node(ctx.node(), values.status());
    if (kV2) {
      auto shape = broadcast_shapes(cond, *values);
      if (!shape.ok()) return with_node(ctx.node(), shape.status());
      ctx.set_output(0, ctx.input_dtype(1), std::move(shape).value());
      return ok_status();
    }
    if (ctx.concrete()) {
      if (then_shape != else_shape) {
        return ctx.error("then (input 1) and else (input 2) must have the same shape, got ",
                         then_shape.str(), " and ", else_shape.str());
      }
      const bool vector_cond = cond.rank() == 1 && then_shape.rank() > 1;
      if (vector_cond && cond.dim(0) != then_shape.dim(0)) {
        return ctx.error("a vector condition must have the first dim of then/else, got ",
                         cond.str(), " for ", then_shape.str());
      }
      if (cond.rank() != 0 && !vector_cond && cond != then_shape) {
        return ctx.error("condition must be a scalar, a vector over the first dim or of shape ",
                         then_shape.str(), ", got ", cond.str());
      }
    }
    ctx.set_output(0, ctx.input_dtype(1), std::move(values).value());
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    Shape cond = ctx.input_shape(0);
    const Shape& out = ctx.outputs()[0].shape;
    if (!kV2 && cond.rank() == 1 && out.rank() > 1) {
      // A vector condition selects whole rows: view it as [N, 1, ..., 1].
      std::vector<int64_t> dims(static_cast<size_t>(out.rank()), 1);
      dims[0] = cond.dim(0);
      cond = Shape(std::move(dims));
    }
    const Shape* shapes[] = {&cond, &ctx.input_shape(1), &ctx.input_shape(2)};
    Status status = make_broadcast_plan(shapes, 3, out, &plan_);
    return status.ok() ? status : with_node(ctx.node(), status);
  }

  Status run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    if (plan_.total != out.num_elements()) {
      return internal_error(ctx.node().describe(), ": run() without a matching prepare()");
    }
    const bool* cond = ctx.input(0).data<bool>();
    bool known = visit_dtype<kSelectTypes>(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* then_values = ctx.input(1).data<T>();
      const T* else_values = ctx.input(2).data<T>();
      T* o = out.data<T>();
      const int64_t sc = plan_.inner_varies(0) ? 1 : 0;
      const int64_t st = plan_.inner_varies(1) ? 1 : 0;
      const int64_t se = plan_.inner_varies(2) ? 1 : 0;
      parallel_for(plan_.total, kMinParallelCheap, [&](int64_t begin, int64_t end) {
        for_each_broadcast_run(plan_, begin, end, [&](const int64_t* off, int64_t pos, int64_t n) {
          const bool* c = cond + off[0];
          const T* t = then_values + off[1];
          const T* e = else_values + off[2];
          for (int64_t i = 0; i < n; ++i) o[pos + i] = c[i * sc] ? t[i * st] : e[i * se];
        });
      });
    });
    if (!known) return unsupported_dtype(ctx.node(), out.dtype(), kSelectTypes);
    return ok_status();
  }

 private:
  BroadcastPlan plan_;
};

// ---- ClipByValue: min(t, hi) then max(., lo), each bound a scalar or of t's shape (as TF) ----

class ClipByValueKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 0, 3, kTypesNumeric));
    const Shape& t = ctx.input_shape(0);
    for (int i = 1; i < 3; ++i) {
      const Shape& bound = ctx.input_shape(i);
      const bool same = !ctx.concrete() || bound == t;
      if (bound.known_rank() && bound.rank() != 0 && !same) {
        return ctx.error("input ", i, (i == 1 ? " 'clip_value_min'" : " 'clip_value_max'"),
                         " must be a scalar or of the shape of input 0 ", t.str(), ", got ",
                         bound.str());
      }
    }
    ctx.set_output(0, ctx.input_dtype(0), t);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    const int64_t lo_step = ctx.input(1).num_elements() == 1 ? 0 : 1;
    const int64_t hi_step = ctx.input(2).num_elements() == 1 ? 0 : 1;
    bool known = visit_dtype<kTypesNumeric>(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* t = ctx.input(0).data<T>();
      const T* lo = ctx.input(1).data<T>();
      const T* hi = ctx.input(2).data<T>();
      T* o = out.data<T>();
      parallel_for(out.num_elements(), kMinParallelCheap, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          // Eigen's cwiseMin(hi).cwiseMax(lo): a NaN bound keeps the other operand, a NaN t
          // stays NaN, and lo wins when lo > hi.
          const T h = hi[i * hi_step];
          const T l = lo[i * lo_step];
          const T m = h < t[i] ? h : t[i];
          o[i] = m < l ? l : m;
        }
      });
    });
    if (!known) return unsupported_dtype(ctx.node(), out.dtype(), kTypesNumeric);
    return ok_status();
  }
};

// ---- AddN: the sum of N tensors of one shape (no broadcasting, as in TF) ----

class AddNKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    if (ctx.num_inputs() < 1) return ctx.error("expects at least 1 input, got 0");
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 0, ctx.num_inputs(), kTypesNumeric));
    Shape shape = ctx.input_shape(0);
    for (int i = 1; i < ctx.num_inputs(); ++i) {
      const Shape& other = ctx.input_shape(i);
      if (!other.known_rank()) continue;
      if (!shape.known_rank()) {
        shape = other;
        continue;
      }
      if (other.rank() != shape.rank()) {
        return ctx.error("all inputs must have the same shape, but input 0 is ",
                         ctx.input_shape(0).str(), " and input ", i, " is ", other.str());
      }
      for (int d = 0; d < shape.rank(); ++d) {
        if (shape.dim(d) == kUnknownDim) {
          shape.dim(d) = other.dim(d);
        } else if (other.dim(d) != kUnknownDim && other.dim(d) != shape.dim(d)) {
          return ctx.error("all inputs must have the same shape, but input 0 is ",
                           ctx.input_shape(0).str(), " and input ", i, " is ", other.str());
        }
      }
    }
    ctx.set_output(0, ctx.input_dtype(0), std::move(shape));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    const int64_t n = out.num_elements();
    const int num_inputs = ctx.num_inputs();
    bool known = visit_dtype<kTypesNumeric>(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* o = out.data<T>();
      parallel_for(n, kMinParallelCheap, [&](int64_t begin, int64_t end) {
        const T* first = ctx.input(0).data<T>();
        std::memcpy(o + begin, first + begin, static_cast<size_t>(end - begin) * sizeof(T));
        for (int k = 1; k < num_inputs; ++k) {
          const T* in = ctx.input(k).data<T>();
          for (int64_t i = begin; i < end; ++i) o[i] = wrap_add(o[i], in[i]);
        }
      });
    });
    if (!known) return unsupported_dtype(ctx.node(), out.dtype(), kTypesNumeric);
    return ok_status();
  }
};

}  // namespace

Status register_elementwise_ops(OpRegistry& registry) {
  PBMEM_RETURN_IF_ERROR(registry.add_all({
      {"Add", op_record<BinaryKernel<AddOp>>().in_place()},
      {"AddV2", op_record<BinaryKernel<AddOp>>().in_place()},
      {"Sub", op_record<BinaryKernel<SubOp>>().in_place()},
      {"Mul", op_record<BinaryKernel<MulOp>>().in_place()},
      {"RealDiv", op_record<BinaryKernel<DivOp>>().in_place()},
      {"Div", op_record<BinaryKernel<DivOp>>()},
      {"FloorDiv", op_record<BinaryKernel<FloorDivOp>>()},
      {"FloorMod", op_record<BinaryKernel<FloorModOp>>()},
      {"Mod", op_record<BinaryKernel<TruncateModOp>>().in_place()},
      {"TruncateMod", op_record<BinaryKernel<TruncateModOp>>().in_place()},
      {"Atan2", op_record<BinaryKernel<Atan2Op>>().in_place()},
      {"Maximum", op_record<BinaryKernel<MaximumOp>>().in_place()},
      {"Minimum", op_record<BinaryKernel<MinimumOp>>().in_place()},
      {"Pow", op_record<BinaryKernel<PowOp>>()},
      {"SquaredDifference", op_record<BinaryKernel<SquaredDifferenceOp>>().in_place()},
      {"DivNoNan", op_record<BinaryKernel<DivNoNanOp>>()},
      {"Greater", op_record<BinaryKernel<GreaterOp>>()},
      {"GreaterEqual", op_record<BinaryKernel<GreaterEqualOp>>()},
      {"Less", op_record<BinaryKernel<LessOp>>()},
      {"LessEqual", op_record<BinaryKernel<LessEqualOp>>()},
      {"Equal", op_record<BinaryKernel<EqualOp>>()},
      {"NotEqual", op_record<BinaryKernel<NotEqualOp>>()},
      {"LogicalAnd", op_record<BinaryKernel<LogicalAndOp>>()},
      {"LogicalOr", op_record<BinaryKernel<LogicalOrOp>>()},
      {"Select", op_record<SelectKernel<false>>()},
      {"SelectV2", op_record<SelectKernel<true>>()},
      {"AddN", op_record<AddNKernel>()},
      {"ClipByValue", op_record<ClipByValueKernel>().in_place()},
  }));
  PBMEM_RETURN_IF_ERROR(register_elementwise_unary_ops(registry));
  return ok_status();
}

}  // namespace pbmem
