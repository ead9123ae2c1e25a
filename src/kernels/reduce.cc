// Reductions (Sum, Mean, Max, Min, Prod, All, Any) over constant axes, and ArgMax/ArgMin
// (argminmax.cc).
//
// The input dims are collapsed into alternating groups of kept and reduced dims (size-1 dims
// dropped). Two loop shapes then cover everything:
//   inner group kept    (e.g. Mean over H,W of NHWC = global average pooling): each task owns a
//                        block of contiguous output columns and adds whole input rows into a
//                        local accumulator block;
//   inner group reduced (e.g. Mean over the last axis): each output element reduces contiguous
//                        runs with independent lanes.
// Float sums accumulate in double, so long axes do not drift from TF's (tree-summed) results.
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/reduce_util.h"

namespace pbmem {
namespace {

// ---- reducers: identity, accumulate, merge partial results, finish ----

template <typename T>
struct SumReducer {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  static Acc identity() { return Acc{0}; }
  static Acc add(Acc acc, T x) { return wrap_add(acc, static_cast<Acc>(x)); }
  static Acc merge(Acc a, Acc b) { return wrap_add(a, b); }
  static T finish(Acc acc, int64_t /*count*/) { return static_cast<T>(acc); }
};

// Integer means truncate toward zero like TF, and (like TF) accumulate in int64, so an int32
// mean does not overflow; an empty float mean is NaN, an empty integer mean 0.
template <typename T>
struct MeanReducer {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  static Acc identity() { return Acc{0}; }
  static Acc add(Acc acc, T x) { return wrap_add(acc, static_cast<Acc>(x)); }
  static Acc merge(Acc a, Acc b) { return wrap_add(a, b); }
  static T finish(Acc acc, int64_t count) {
    if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(acc / static_cast<double>(count));
    } else {
      return count == 0 ? T{0} : static_cast<T>(acc / count);
    }
  }
};

template <typename T>
struct MaxReducer {
  using Acc = T;
  static constexpr Extreme kExtreme = Extreme::kMaxPropagateNan;
  static Acc identity() {
    if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
    return std::numeric_limits<T>::lowest();
  }
  static Acc add(Acc acc, T x) { return propagate_nan_max(acc, x); }
  static Acc merge(Acc a, Acc b) { return propagate_nan_max(a, b); }
  static T finish(Acc acc, int64_t /*count*/) { return acc; }
};

template <typename T>
struct MinReducer {
  using Acc = T;
  static constexpr Extreme kExtreme = Extreme::kMinPropagateNan;
  static Acc identity() {
    if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::infinity();
    return std::numeric_limits<T>::max();
  }
  static Acc add(Acc acc, T x) { return propagate_nan_min(acc, x); }
  static Acc merge(Acc a, Acc b) { return propagate_nan_min(a, b); }
  static T finish(Acc acc, int64_t /*count*/) { return acc; }
};

// Products stay in T: an intermediate overflow to inf must happen where TF's does.
template <typename T>
struct ProdReducer {
  using Acc = T;
  static Acc identity() { return T{1}; }
  static Acc add(Acc acc, T x) { return wrap_mul(acc, x); }
  static Acc merge(Acc a, Acc b) { return wrap_mul(a, b); }
  static T finish(Acc acc, int64_t /*count*/) { return acc; }
};

template <typename T>
struct AllReducer {
  using Acc = bool;
  static Acc identity() { return true; }
  static Acc add(Acc acc, T x) { return acc && x; }
  static Acc merge(Acc a, Acc b) { return a && b; }
  static T finish(Acc acc, int64_t /*count*/) { return acc; }
};

template <typename T>
struct AnyReducer {
  using Acc = bool;
  static Acc identity() { return false; }
  static Acc add(Acc acc, T x) { return acc || x; }
  static Acc merge(Acc a, Acc b) { return a || b; }
  static T finish(Acc acc, int64_t /*count*/) { return acc; }
};

// ---- hot loops ----

// Independent accumulators for a contiguous reduction: vectorisable, short dependency chains.
inline constexpr int kReduceLanes = 8;
// Output columns one task accumulates at once (a stack block of accumulators).
inline constexpr int64_t kColumnBlock = 256;
// Input elements per parallel task, at least.
inline constexpr int64_t kMinParallelReduce = 1 << 14;

template <typename R, typename = void>
struct HasExtreme : std::false_type {};
template <typename R>
struct HasExtreme<R, std::void_t<decltype(R::kExtreme)>> : std::true_type {};

template <typename R, typename T>
PBMEM_SIMD_CLONES typename R::Acc reduce_contiguous(const T* x, int64_t n) {
  using Acc = typename R::Acc;
  if constexpr (HasExtreme<R>::value) {
    return extreme_contiguous<R::kExtreme>(x, n, R::identity());
  }
  Acc lanes[kReduceLanes];
  for (int j = 0; j < kReduceLanes; ++j) lanes[j] = R::identity();
  int64_t i = 0;
  for (; i + kReduceLanes <= n; i += kReduceLanes) {
    for (int j = 0; j < kReduceLanes; ++j) lanes[j] = R::add(lanes[j], x[i + j]);
  }
  Acc acc = R::identity();
  for (; i < n; ++i) acc = R::add(acc, x[i]);
  for (int j = 0; j < kReduceLanes; ++j) acc = R::merge(acc, lanes[j]);
  return acc;
}

template <typename R, typename T>
PBMEM_SIMD_CLONES void accumulate_row(typename R::Acc* acc, const T* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] = R::add(acc[j], x[j]);
}

// Inner group kept: task = (output row, column block).
template <typename R, typename T>
void reduce_inner_kept(const ReducePlan& plan, const T* x, T* out) {
  using Acc = typename R::Acc;
  const int64_t inner = plan.inner;
  const int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  const int64_t rows = plan.out_elems / inner;
  const int64_t tasks = rows * blocks;
  const int64_t work_per_task =
      std::max<int64_t>(1, plan.reduce_count * std::min(inner, kColumnBlock));
  parallel_for(tasks, std::max<int64_t>(1, kMinParallelReduce / work_per_task),
               [&](int64_t begin, int64_t end) {
    Odometer kept(plan.kept);
    Odometer reduced(plan.reduced);
    Acc acc[kColumnBlock];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t row = task / blocks;
      const int64_t column = (task % blocks) * kColumnBlock;
      const int64_t width = std::min(kColumnBlock, inner - column);
      kept.seek(row);
      const T* base = x + kept.offset + column;
      for (int64_t j = 0; j < width; ++j) acc[j] = R::identity();
      reduced.seek(0);
      for (int64_t r = 0; r < plan.reduce_count; ++r) {
        accumulate_row<R, T>(acc, base + reduced.offset, width);
        reduced.next();
      }
      T* o = out + row * inner + column;
      for (int64_t j = 0; j < width; ++j) o[j] = R::finish(acc[j], plan.reduce_count);
    }
  });
}

// Inner group reduced: task = one output element, reducing contiguous runs of plan.inner.
template <typename R, typename T>
void reduce_inner_reduced(const ReducePlan& plan, const T* x, T* out) {
  using Acc = typename R::Acc;
  const int64_t runs = plan.reduce_count / plan.inner;
  parallel_for(plan.out_elems, std::max<int64_t>(1, kMinParallelReduce / plan.reduce_count),
               [&](int64_t begin, int64_t end) {
    Odometer kept(plan.kept);
    Odometer reduced(plan.reduced);
    kept.seek(begin);
    for (int64_t i = begin; i < end; ++i) {
      Acc acc = R::identity();
      reduced.seek(0);
      for (int64_t r = 0; r < runs; ++r) {
        acc = R::merge(acc, reduce_contiguous<R, T>(x + kept.offset + reduced.offset, plan.inner));
        reduced.next();
      }
      out[i] = R::finish(acc, plan.reduce_count);
      kept.next();
    }
  });
}

template <typename R, typename T>
void reduce_tensor(const ReducePlan& plan, const T* x, T* out) {
  if (plan.out_elems == 0) return;
  if (plan.reduce_count == 0) {  // an empty reduced dim: every output is the identity
    for (int64_t i = 0; i < plan.out_elems; ++i) out[i] = R::finish(R::identity(), 0);
    return;
  }
  if (plan.inner_reduced) {
    reduce_inner_reduced<R, T>(plan, x, out);
  } else {
    reduce_inner_kept<R, T>(plan, x, out);
  }
}

// ---- the kernel ----

template <template <typename> class Reducer, unsigned kTypes>
class ReduceKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 0, 1, kTypes));
    PBMEM_ASSIGN_OR_RETURN(keep_dims_, ctx.node().attr_bool_or("keep_dims", false));
    PBMEM_ASSIGN_OR_RETURN(Shape out, reduced_shape(ctx, 1, keep_dims_, &reduced_axes_));
    ctx.set_output(0, ctx.input_dtype(0), std::move(out));
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    return make_reduce_plan(ctx.node(), ctx.input_shape(0), reduced_axes_, &plan_);
  }

  Status run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    if (plan_.out_elems != out.num_elements()) {
      return internal_error(ctx.node().describe(), ": run() without a matching prepare()");
    }
    bool known = visit_dtype<kTypes>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      reduce_tensor<Reducer<T>, T>(plan_, in.data<T>(), out.data<T>());
    });
    if (!known) return unsupported_dtype(ctx.node(), in.dtype(), kTypes);
    return ok_status();
  }

 private:
  bool keep_dims_ = false;
  std::vector<bool> reduced_axes_;  // per input dim, from the constant axes
  ReducePlan plan_;
};

}  // namespace

Status register_reduce_ops(OpRegistry& registry) {
  PBMEM_RETURN_IF_ERROR(registry.add_all({
      {"Sum", op_record<ReduceKernel<SumReducer, kTypesNumeric>>()},
      {"Mean", op_record<ReduceKernel<MeanReducer, kTypesNumeric>>()},
      {"Max", op_record<ReduceKernel<MaxReducer, kTypesNumeric>>()},
      {"Min", op_record<ReduceKernel<MinReducer, kTypesNumeric>>()},
      {"Prod", op_record<ReduceKernel<ProdReducer, kTypesNumeric>>()},
      {"All", op_record<ReduceKernel<AllReducer, kTypeBool>>()},
      {"Any", op_record<ReduceKernel<AnyReducer, kTypeBool>>()},
  }));
  PBMEM_RETURN_IF_ERROR(register_scan_ops(registry));
  PBMEM_RETURN_IF_ERROR(register_arg_reduce_ops(registry));
  return ok_status();
}

}  // namespace pbmem
