// Cumsum(x, axis) and Cumprod(x, axis): running sums/products along one axis, with TF's
// attributes
//   exclusive: element k combines the elements before k only (the first is 0, or 1 for Cumprod);
//   reverse:   the scan runs from the end of the axis.
// The axis does not decide the shape, so it may be computed at run time (read in run()).
// Integer results wrap like TF's.
#include <cstring>

#include "kernels/array_helpers.h"
#include "kernels/elementwise_util.h"
#include "kernels/reduce_util.h"

namespace pbmem {
namespace {

struct SumScan {
  template <typename T>
  static T identity() {
    return T{0};
  }
  template <typename T>
  static T combine(T a, T b) {
    return wrap_add(a, b);
  }
};
struct ProdScan {
  template <typename T>
  static T identity() {
    return T{1};
  }
  template <typename T>
  static T combine(T a, T b) {
    return wrap_mul(a, b);
  }
};

template <typename Scan>
class ScanKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 0, 1, kTypesNumeric));
    PBMEM_RETURN_IF_ERROR(array_detail::expect_index_dtype(ctx, 1, "axis"));
    PBMEM_ASSIGN_OR_RETURN(exclusive_, ctx.node().attr_bool_or("exclusive", false));
    PBMEM_ASSIGN_OR_RETURN(reverse_, ctx.node().attr_bool_or("reverse", false));
    const Shape& axis = ctx.input_shape(1);
    if (axis.known_rank() && axis.rank() != 0) {
      return ctx.error("input 1 'axis' must be a scalar, got shape ", axis.str());
    }
    const Shape& x = ctx.input_shape(0);
    if (x.known_rank() && x.rank() == 0) {
      return ctx.error("input 0 must be at least 1-D, got a scalar");
    }
    if (const Tensor* axis_t = ctx.const_input(1); axis_t != nullptr && x.known_rank()) {
      PBMEM_RETURN_IF_ERROR(axis_of(ctx.node(), *axis_t, x.rank()).status());
    }
    ctx.set_output(0, ctx.input_dtype(0), x);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Shape& shape = x.shape();
    PBMEM_ASSIGN_OR_RETURN(int axis, axis_of(ctx.node(), ctx.input(1), shape.rank()));
    const int64_t outer = array_detail::dims_product(shape.dims(), 0, axis);
    const int64_t n = shape.dim(axis);
    const int64_t inner = array_detail::dims_product(shape.dims(), axis + 1, shape.rank());
    bool known = visit_dtype<kTypesNumeric>(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* in = x.data<T>();
      T* out = ctx.output(0).data<T>();
      parallel_for(outer, 1, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o) {
          scan_block(in + o * n * inner, out + o * n * inner, n, inner);
        }
      });
    });
    if (!known) return unsupported_dtype(ctx.node(), x.dtype(), kTypesNumeric);
    return ok_status();
  }

 private:
  static Result<int> axis_of(const Node& node, const Tensor& t, int rank) {
    PBMEM_ASSIGN_OR_RETURN(int64_t raw, array_detail::read_int_scalar(node, t, 1, "axis"));
    auto axis = normalize_axis(raw, rank, "input 1 'axis'");
    if (!axis.ok()) return array_detail::on_node(node, axis.status());
    return axis;
  }

  // One [n, inner] block: rows are combined as whole vectors, in the scan's direction.
  template <typename T>
  void scan_block(const T* in, T* out, int64_t n, int64_t inner) const {
    if (n == 0 || inner == 0) return;
    const int64_t step = reverse_ ? -1 : 1;
    int64_t k = reverse_ ? n - 1 : 0;
    T* prev = out + k * inner;
    if (exclusive_) {
      for (int64_t j = 0; j < inner; ++j) prev[j] = Scan::template identity<T>();
    } else {
      std::memmove(prev, in + k * inner, static_cast<size_t>(inner) * sizeof(T));
    }
    for (int64_t i = 1; i < n; ++i) {
      // Exclusive: out[k] = out[k - step] (+) in[k - step]; inclusive: out[k - step] (+) in[k].
      const int64_t from = exclusive_ ? k : k + step;
      k += step;
      T* row = out + k * inner;
      const T* add = in + from * inner;
      for (int64_t j = 0; j < inner; ++j) row[j] = Scan::combine(prev[j], add[j]);
      prev = row;
    }
  }

  bool exclusive_ = false;
  bool reverse_ = false;
};

}  // namespace

Status register_scan_ops(OpRegistry& registry) {
  return registry.add_all({
      {"Cumsum", op_record<ScanKernel<SumScan>>()},
      {"Cumprod", op_record<ScanKernel<ProdScan>>()},
  });
}

}  // namespace pbmem
