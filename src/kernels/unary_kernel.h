// A kernel template for pointwise ops with one input and one output of the same dtype and shape
// (Sqrt, Neg, Relu, Sigmoid, ...). Each op is a small struct: its supported types, an apply()
// that the compiler inlines and vectorises, and optionally attributes read in init().
#pragma once

#include "kernels/elementwise_util.h"

namespace pbmem {

struct UnaryDefaults {
  // Costly ops (transcendentals) go parallel on smaller tensors.
  static constexpr bool kCostly = false;
  // Reads and validates attributes; called from infer().
  Status init(const Node& /*node*/) { return ok_status(); }
};

template <typename Op, typename T>
PBMEM_SIMD_CLONES void unary_loop(const Op& op, const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = op.template apply<T>(x[i]);
}

template <typename Op>
class UnaryKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 0, 1, Op::kTypes));
    PBMEM_RETURN_IF_ERROR(op_.init(ctx.node()));
    ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    const int64_t n = out.num_elements();
    const Op op = op_;  // a local copy: attributes stay in registers inside the loop
    bool known = visit_dtype<Op::kTypes>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* x = in.data<T>();
      T* y = out.data<T>();
      const int64_t min_chunk = Op::kCostly ? kMinParallelCostly : kMinParallelCheap;
      parallel_for(n, min_chunk, [&](int64_t begin, int64_t end) {
        unary_loop(op, x + begin, y + begin, end - begin);
      });
    });
    if (!known) return unsupported_dtype(ctx.node(), in.dtype(), Op::kTypes);
    return ok_status();
  }

 private:
  Op op_;
};

}  // namespace pbmem
