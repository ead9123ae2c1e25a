// LRN (local response normalisation across channels, AlexNet/GoogLeNet-v1), as TF defines it
// for NHWC float input:
//   sqr_sum[n, h, w, d] = sum of input[n, h, w, d']^2 for d' in [d - depth_radius, d +
//   depth_radius] output = input / (bias + alpha * sqr_sum) ^ beta
#include <algorithm>
#include <climits>
#include <cmath>

#include "kernels/elementwise_util.h"
#include "kernels/nn_ops.h"

namespace pbmem {
namespace {

class LrnKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    PBMEM_RETURN_IF_ERROR(require_float_input(ctx, 0, "input"));
    PBMEM_RETURN_IF_ERROR(require_rank4_if_known(ctx, 0, "input"));
    const Node& node = ctx.node();
    PBMEM_ASSIGN_OR_RETURN(int64_t radius, node.attr_int_or("depth_radius", 5));
    PBMEM_ASSIGN_OR_RETURN(bias_, node.attr_float_or("bias", 1.0f));
    PBMEM_ASSIGN_OR_RETURN(alpha_, node.attr_float_or("alpha", 1.0f));
    PBMEM_ASSIGN_OR_RETURN(beta_, node.attr_float_or("beta", 0.5f));
    if (radius < 0 || radius >= INT_MAX) {  // TF's bound: a non-negative int
      return ctx.error("attribute 'depth_radius' must be in [0, ", INT_MAX, "), got ", radius);
    }
    radius_ = radius;
    ctx.set_output(0, DType::kFloat, ctx.input_shape(0));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    const int64_t depth = in.shape().dim(kNhwcChannel);
    if (depth == 0) return ok_status();
    const int64_t rows = in.num_elements() / depth;
    const float* x = in.data<float>();
    float* y = ctx.output(0).data<float>();
    const int64_t min_rows = std::max<int64_t>(1, kMinParallelCostly / depth);
    parallel_for(rows, min_rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) normalize_row(x + r * depth, y + r * depth, depth);
    });
    return ok_status();
  }

 private:
  void normalize_row(const float* x, float* y, int64_t depth) const {
    for (int64_t d = 0; d < depth; ++d) {
      const int64_t lo = std::max<int64_t>(0, d - radius_);
      const int64_t hi = std::min(depth - 1, d + radius_);
      float sum = 0.0f;
      for (int64_t k = lo; k <= hi; ++k) sum += x[k] * x[k];
      y[d] = x[d] / std::pow(bias_ + alpha_ * sum, beta_);
    }
  }

  int64_t radius_ = 5;
  float bias_ = 1.0f;
  float alpha_ = 1.0f;
  float beta_ = 0.5f;
};

}  // namespace

Status register_lrn_ops(OpRegistry& registry) {
  return registry.add_all({
      {"LRN", op_record<LrnKernel>()},
  });
}

}  // namespace pbmem
