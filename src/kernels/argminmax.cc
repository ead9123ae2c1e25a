// ArgMax / ArgMin over one constant axis. Ties go to the first index and NaN never wins
// (unless every value is NaN: then index 0), which is what TF's CPU kernels return.
#include <limits>
#include <type_traits>

#include "kernels/reduce_util.h"

namespace pbmem {
namespace {

// Output columns one task scans at once (stack blocks of best values and indices).
inline constexpr int64_t kArgColumnBlock = 256;
inline constexpr int64_t kMinParallelArg = 1 << 14;

// `|` and `&` rather than `||`/`&&`: no branches, so the column loops vectorise.
struct ArgMaxCompare {
  static constexpr Extreme kExtreme = Extreme::kMaxIgnoreNan;
  template <typename T> static T worst() {
    return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                : std::numeric_limits<T>::lowest();
  }
  template <typename T> static bool better(T v, T best) {
    return (v > best) | ((best != best) & (v == v));
  }
};
struct ArgMinCompare {
  static constexpr Extreme kExtreme = Extreme::kMinIgnoreNan;
  template <typename T> static T worst() {
    return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                : std::numeric_limits<T>::max();
  }
  template <typename T> static bool better(T v, T best) {
    return (v < best) | ((best != best) & (v == v));
  }
};

// The input viewed as [outer, axis, inner].
struct ArgPlan {
  int64_t outer = 0;
  int64_t axis = 0;
  int64_t inner = 0;
};

// Tasks [begin, end) of arg_reduce: task = (outer index, block of inner columns).
template <typename Compare, typename T, typename Index>
PBMEM_SIMD_CLONES void arg_reduce_tasks(const ArgPlan& plan, const T* x, Index* out, int64_t begin,
                                        int64_t end) {
  const int64_t inner = plan.inner;
  const int64_t axis = plan.axis;
  if (inner == 1) {
    // Contiguous rows: find the extreme non-NaN value (vectorised), then its first index.
    // No non-NaN value: index 0, as TF.
    for (int64_t row = begin; row < end; ++row) {
      const T* x_row = x + row * axis;
      const T target =
          extreme_contiguous<Compare::kExtreme>(x_row, axis, Compare::template worst<T>());
      int64_t found = 0;
      while (found < axis && !(x_row[found] == target)) ++found;
      out[row] = static_cast<Index>(found == axis ? 0 : found);
    }
    return;
  }
  const int64_t blocks = (inner + kArgColumnBlock - 1) / kArgColumnBlock;
  T best[kArgColumnBlock];
  Index index[kArgColumnBlock];
  for (int64_t task = begin; task < end; ++task) {
    const int64_t o = task / blocks;
    const int64_t column = (task % blocks) * kArgColumnBlock;
    const int64_t width = std::min(kArgColumnBlock, inner - column);
    const T* base = x + o * axis * inner + column;
    for (int64_t j = 0; j < width; ++j) {
      best[j] = base[j];
      index[j] = 0;
    }
    for (int64_t a = 1; a < axis; ++a) {
      const T* row = base + a * inner;
      for (int64_t j = 0; j < width; ++j) {
        const bool better = Compare::better(row[j], best[j]);
        best[j] = fast_math::select(better, row[j], best[j]);
        index[j] = better ? static_cast<Index>(a) : index[j];
      }
    }
    Index* o_row = out + o * inner + column;
    for (int64_t j = 0; j < width; ++j) o_row[j] = index[j];
  }
}

template <typename Compare, typename T, typename Index>
void arg_reduce(const ArgPlan& plan, const T* x, Index* out) {
  const int64_t blocks = (plan.inner + kArgColumnBlock - 1) / kArgColumnBlock;
  const int64_t work = std::max<int64_t>(1, plan.axis * std::min(plan.inner, kArgColumnBlock));
  parallel_for(plan.outer * blocks, std::max<int64_t>(1, kMinParallelArg / work),
               [&](int64_t begin, int64_t end) {
    arg_reduce_tasks<Compare, T, Index>(plan, x, out, begin, end);
  });
}

template <typename Compare>
class ArgReduceKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 0, 1, kTypesNumeric));
    PBMEM_ASSIGN_OR_RETURN(output_type_, ctx.node().attr_type_or("output_type", DType::kInt64));
    if (output_type_ != DType::kInt32 && output_type_ != DType::kInt64) {
      return ctx.unsupported("attribute 'output_type' must be int32 or int64, got ",
                             dtype_name(output_type_));
    }
    const Shape& in = ctx.input_shape(0);
    const DType dim_dtype = ctx.input_dtype(1);
    if (dim_dtype != DType::kInt32 && dim_dtype != DType::kInt64) {
      return ctx.error("dimension (input 1) must be int32 or int64, got ", dtype_name(dim_dtype));
    }
    const Tensor* dimension = ctx.const_input(1);
    if (dimension == nullptr) {
      if (ctx.concrete()) return ctx.unsupported("dimension (input 1) must be a constant");
      if (!in.known_rank() || in.rank() < 1) {
        ctx.set_output(0, output_type_, Shape::unknown_rank());
      } else {
        std::vector<int64_t> dims(static_cast<size_t>(in.rank() - 1), kUnknownDim);
        ctx.set_output(0, output_type_, Shape(std::move(dims)));
      }
      return ok_status();
    }
    if (dimension->num_elements() != 1) {
      return ctx.error("dimension (input 1) must be a scalar, got shape ",
                       dimension->shape().str());
    }
    if (!in.known_rank()) {
      ctx.set_output(0, output_type_, Shape::unknown_rank());
      return ok_status();
    }
    if (in.rank() < 1) return ctx.error("input must have at least 1 dimension, got a scalar");
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> values, read_int_tensor(*dimension, "dimension"));
    auto axis = normalize_axis(values[0], in.rank(), "dimension");
    if (!axis.ok()) return ctx.error(axis.status().message());
    axis_ = *axis;
    if (in.dim(axis_) == 0) {
      return ctx.error("reduction axis ", axis_, " is empty in shape ", in.str());
    }
    std::vector<int64_t> dims = in.dims();
    dims.erase(dims.begin() + axis_);
    ctx.set_output(0, output_type_, Shape(std::move(dims)));
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    plan_.outer = 1;
    plan_.inner = 1;
    for (int i = 0; i < axis_; ++i) plan_.outer *= in.dim(i);
    for (int i = axis_ + 1; i < in.rank(); ++i) plan_.inner *= in.dim(i);
    plan_.axis = in.dim(axis_);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    if (plan_.outer * plan_.inner != out.num_elements()) {
      return internal_error(ctx.node().describe(), ": run() without a matching prepare()");
    }
    if (out.num_elements() == 0) return ok_status();
    bool known = visit_dtype<kTypesNumeric>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (output_type_ == DType::kInt32) {
        arg_reduce<Compare, T, int32_t>(plan_, in.data<T>(), out.data<int32_t>());
      } else {
        arg_reduce<Compare, T, int64_t>(plan_, in.data<T>(), out.data<int64_t>());
      }
    });
    if (!known) return unsupported_dtype(ctx.node(), in.dtype(), kTypesNumeric);
    return ok_status();
  }

 private:
  DType output_type_ = DType::kInt64;
  int axis_ = 0;
  ArgPlan plan_;
};

}  // namespace

Status register_arg_reduce_ops(OpRegistry& registry) {
  return registry.add_all({
      {"ArgMax", op_record<ArgReduceKernel<ArgMaxCompare>>()},
      {"ArgMin", op_record<ArgReduceKernel<ArgMinCompare>>()},
  });
}

}  // namespace pbmem
