// Helpers shared by the elementwise, activation and reduction kernels: dtype dispatch over small
// type sets, wrapping integer arithmetic (TF's integer ops wrap on overflow; signed overflow is
// undefined in C++, so we compute in unsigned), and N-ary NumPy broadcasting that collapses
// adjacent dims with the same broadcast pattern so the innermost loop is long and contiguous.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/status.h"
#include "kernels/fast_math.h"
#include "kernels/kernel.h"
#include "kernels/util.h"

namespace pbmem {

// ---- dtype sets and dispatch ----

enum TypeBit : unsigned {
  kTypeFloat = 1u << 0,
  kTypeDouble = 1u << 1,
  kTypeInt32 = 1u << 2,
  kTypeInt64 = 1u << 3,
  kTypeBool = 1u << 4,
};
inline constexpr unsigned kTypesFloating = kTypeFloat | kTypeDouble;
inline constexpr unsigned kTypesInteger = kTypeInt32 | kTypeInt64;
inline constexpr unsigned kTypesNumeric = kTypesFloating | kTypesInteger;

// The bit of a DType, or 0 for types no elementwise kernel computes with.
unsigned type_bit(DType dtype);
// "float, double, int32" for error messages.
std::string type_set_names(unsigned set);

// Calls fn(T{}) with the C++ type of `dtype` when it is in kSet; only those types are
// instantiated. Returns false (without calling fn) for any other dtype.
template <unsigned kSet, typename Fn>
bool visit_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat:
      if constexpr ((kSet & kTypeFloat) != 0) { fn(float{}); return true; }
      break;
    case DType::kDouble:
      if constexpr ((kSet & kTypeDouble) != 0) { fn(double{}); return true; }
      break;
    case DType::kInt32:
      if constexpr ((kSet & kTypeInt32) != 0) { fn(int32_t{}); return true; }
      break;
    case DType::kInt64:
      if constexpr ((kSet & kTypeInt64) != 0) { fn(int64_t{}); return true; }
      break;
    case DType::kBool:
      if constexpr ((kSet & kTypeBool) != 0) { fn(bool{}); return true; }
      break;
    default:
      break;
  }
  return false;
}

// Error for a dtype outside `set`: names node, op, the input and the supported types.
Status unsupported_dtype(const Node& node, DType dtype, unsigned set, const char* what = "input");

// All inputs in [first, last) share input `first`'s dtype, which must be in `set`.
Status check_input_dtypes(const InferContext& ctx, int first, int last, unsigned set);

// ---- wrapping integer arithmetic (identity for floating point) ----

template <typename T>
PBMEM_ALWAYS_INLINE T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename T>
PBMEM_ALWAYS_INLINE T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}
template <typename T>
PBMEM_ALWAYS_INLINE T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}
template <typename T>
PBMEM_ALWAYS_INLINE T wrap_neg(T a) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(U{0} - static_cast<U>(a));
  } else {
    return -a;
  }
}

// NaN-propagating max/min, as TF's Maximum/Minimum and Max/Min reductions.
template <typename T>
PBMEM_ALWAYS_INLINE T propagate_nan_max(T a, T b) {
  return fast_math::select((a > b) | (a != a), a, b);  // a != a is false for integers
}
template <typename T>
PBMEM_ALWAYS_INLINE T propagate_nan_min(T a, T b) {
  return fast_math::select((a < b) | (a != a), a, b);
}

// ---- max/min over a contiguous run, in explicit vectors ----
// GCC does not vectorise float max/min reductions without -ffast-math (and not at all with
// NaN propagation), so these use GCC vector extensions: 8 lanes, lowered to whatever the
// enclosing function's ISA offers (SSE2 halves, AVX2 whole registers).

inline constexpr int kVectorLanes = 8;
template <typename T>
struct LaneVector {
  typedef T type __attribute__((vector_size(kVectorLanes * sizeof(T))));
};

enum class Extreme {
  kMaxPropagateNan,  // TF's Max/Maximum: any NaN gives NaN
  kMinPropagateNan,
  kMaxIgnoreNan,     // largest non-NaN value (ArgMax), `init` when there is none
  kMinIgnoreNan,
};

// One step of the reduction, for scalars and (inlined into the loop below) lane vectors.
#define PBMEM_EXTREME_STEP(kKind, acc, v)                                          \
  ((kKind) == Extreme::kMaxPropagateNan   ? (((acc > v) | (acc != acc)) ? acc : v) \
   : (kKind) == Extreme::kMinPropagateNan ? (((acc < v) | (acc != acc)) ? acc : v) \
   : (kKind) == Extreme::kMaxIgnoreNan    ? ((v > acc) ? v : acc)                  \
                                          : ((v < acc) ? v : acc))

// The extreme of init and x[0..n).
template <Extreme kKind, typename T>
PBMEM_ALWAYS_INLINE T extreme_contiguous(const T* x, int64_t n, T init) {
  using V = typename LaneVector<T>::type;
  T best = init;
  int64_t i = 0;
  if (n >= kVectorLanes) {
    V acc;
    std::memcpy(&acc, x, sizeof(V));
    for (i = kVectorLanes; i + kVectorLanes <= n; i += kVectorLanes) {
      V v;
      std::memcpy(&v, x + i, sizeof(V));
      acc = PBMEM_EXTREME_STEP(kKind, acc, v);
    }
    for (int j = 0; j < kVectorLanes; ++j) {
      const T lane = acc[j];
      best = PBMEM_EXTREME_STEP(kKind, best, lane);
    }
  }
  for (; i < n; ++i) best = PBMEM_EXTREME_STEP(kKind, best, x[i]);
  return best;
}

// ---- N-ary broadcasting ----

// Most dims a broadcast may have after collapsing (TF itself stops at 8 for most ops).
inline constexpr int kMaxBroadcastRank = 16;
inline constexpr int kMaxBroadcastOperands = 3;

// The output is iterated as rows of the innermost collapsed dim; operand k is read at
// offset sum_d index[d] * strides[k][d] (stride 0 where it is broadcast).
struct BroadcastPlan {
  int num_operands = 0;
  int rank = 1;  // at least 1: a scalar output is one row of one element
  int64_t dims[kMaxBroadcastRank] = {1};
  int64_t strides[kMaxBroadcastOperands][kMaxBroadcastRank] = {};
  int64_t total = 1;  // output elements
  int64_t inner() const { return dims[rank - 1]; }
  // Operand k varies along the innermost dim (stride 1) rather than being repeated (stride 0).
  bool inner_varies(int k) const { return strides[k][rank - 1] != 0; }
};

// Plans the broadcast of `num_operands` concrete shapes into `out` (their broadcast shape).
// Fails when a shape does not broadcast to `out` or too many dims remain after collapsing.
Status make_broadcast_plan(const Shape* const* shapes, int num_operands, const Shape& out,
                           BroadcastPlan* plan);

// Calls body(offsets, out_begin, count) for each contiguous run of output elements in
// [begin, end): offsets[k] is operand k's element offset at out_begin; along the run operand k
// advances by plan.inner_varies(k) ? 1 : 0.
template <typename Body>
PBMEM_ALWAYS_INLINE void for_each_broadcast_run(const BroadcastPlan& plan, int64_t begin,
                                                int64_t end, Body&& body) {
  const int outer_rank = plan.rank - 1;
  const int n = plan.num_operands;
  const int64_t inner = plan.inner();
  int64_t index[kMaxBroadcastRank];
  int64_t offsets[kMaxBroadcastOperands] = {};
  int64_t row = begin / inner;
  int64_t col = begin % inner;
  for (int d = outer_rank - 1; d >= 0; --d) {
    index[d] = row % plan.dims[d];
    row /= plan.dims[d];
    for (int k = 0; k < n; ++k) offsets[k] += index[d] * plan.strides[k][d];
  }
  int64_t pos = begin;
  while (pos < end) {
    const int64_t count = std::min(inner - col, end - pos);
    int64_t run_offsets[kMaxBroadcastOperands];
    for (int k = 0; k < n; ++k) run_offsets[k] = offsets[k] + col * plan.strides[k][outer_rank];
    body(static_cast<const int64_t*>(run_offsets), pos, count);
    pos += count;
    col = 0;
    for (int d = outer_rank - 1; d >= 0; --d) {
      for (int k = 0; k < n; ++k) offsets[k] += plan.strides[k][d];
      if (++index[d] < plan.dims[d]) break;
      for (int k = 0; k < n; ++k) offsets[k] -= plan.strides[k][d] * plan.dims[d];
      index[d] = 0;
    }
  }
}

// Output elements per parallel chunk: cheap ops need big chunks to pay for the threads.
inline constexpr int64_t kMinParallelCheap = 1 << 15;
inline constexpr int64_t kMinParallelCostly = 1 << 11;

// ---- registration of the split elementwise family ----

// Defined in elementwise_unary.cc; register_elementwise_ops (elementwise_binary.cc) calls it.
Status register_elementwise_unary_ops(OpRegistry& registry);

}  // namespace pbmem
