// MaxPool, MaxPoolV2 (ksize/strides as inputs) and AvgPool on oneDNN, NHWC. TF's AvgPool divides
// by the number of non-padded elements in each window (oneDNN's avg_exclude_padding) and padding
// never wins a max.
#include <memory>
#include <string>
#include <vector>

#include "kernels/dnnl_adapter.h"
#include "kernels/kernel.h"
#include "kernels/nn_ops.h"
#include "kernels/util.h"

namespace pbmem {
namespace {

namespace dnnl = dnnl_adapter;

enum class PoolOp { kMaxPool, kMaxPoolV2, kAvgPool };

constexpr int kMaxPoolV2KsizeInput = 1;
constexpr int kMaxPoolV2StridesInput = 2;

int64_t dim_or_unknown(const Shape& shape, int i) {
  return shape.known_rank() && shape.rank() > i ? shape.dim(i) : kUnknownDim;
}

// A 4-entry NHWC window from a constant input (MaxPoolV2's ksize and strides).
Result<HW> window_from_input(const InferContext& ctx, int input, const char* name) {
  const Tensor* t = ctx.const_input(input);
  Result<std::vector<int64_t>> values = read_int_tensor(*t, name);
  if (!values.ok()) return ctx.error(values.status().message());
  const std::vector<int64_t>& v = *values;
  if (t->shape().rank() != 1 || v.size() != static_cast<size_t>(kNhwcRank)) {
    return ctx.error(name, " must be a vector of ", kNhwcRank, " entries, got shape ",
                     t->shape().str());
  }
  for (int64_t x : v) {
    if (x < 1) return ctx.error(name, " entries must be >= 1, got ", x);
  }
  if (v[kNhwcBatch] != 1 || v[kNhwcChannel] != 1) {
    return ctx.unsupported(name, " must be 1 in the batch and channel dims");
  }
  return HW{v[kNhwcHeight], v[kNhwcWidth]};
}

class PoolKernel : public Kernel {
 public:
  explicit PoolKernel(PoolOp op) : op_(op) {}

  Status infer(InferContext& ctx) override {
    const Node& node = ctx.node();
    const bool v2 = op_ == PoolOp::kMaxPoolV2;
    PBMEM_RETURN_IF_ERROR(v2 ? ctx.expect_inputs(3, 3) : ctx.expect_inputs(1, 1));
    PBMEM_RETURN_IF_ERROR(require_float_input(ctx, 0, "input"));
    PBMEM_RETURN_IF_ERROR(require_rank4_if_known(ctx, 0, "input"));
    PBMEM_RETURN_IF_ERROR(require_nhwc(node));
    PBMEM_ASSIGN_OR_RETURN(padding_, read_padding(node));
    if (op_ == PoolOp::kAvgPool && padding_.padding == Padding::kExplicit) {
      return ctx.error("AvgPool does not take EXPLICIT padding");
    }
    const Shape& x = ctx.input_shape(0);
    Shape out({dim_or_unknown(x, kNhwcBatch), kUnknownDim, kUnknownDim,
               dim_or_unknown(x, kNhwcChannel)});
    windows_known_ = true;
    if (!v2) {
      PBMEM_ASSIGN_OR_RETURN(ksize_, read_nhwc_window_attr(node, "ksize", {}));
      PBMEM_ASSIGN_OR_RETURN(strides_, read_nhwc_window_attr(node, "strides", {}));
    } else if (ctx.const_input(kMaxPoolV2KsizeInput) && ctx.const_input(kMaxPoolV2StridesInput)) {
      PBMEM_ASSIGN_OR_RETURN(ksize_, window_from_input(ctx, kMaxPoolV2KsizeInput, "input 1 (ksize)"));
      PBMEM_ASSIGN_OR_RETURN(strides_,
                             window_from_input(ctx, kMaxPoolV2StridesInput, "input 2 (strides)"));
    } else if (ctx.concrete()) {
      return ctx.unsupported("inputs 1 (ksize) and 2 (strides) must be constant by prepare time");
    } else {
      windows_known_ = false;
    }
    if (windows_known_) {
      for (int axis = 0; axis < 2; ++axis) {
        const size_t a = static_cast<size_t>(axis);
        if (padding_.padding == Padding::kExplicit &&
            (padding_.before[a] >= ksize_[a] || padding_.after[a] >= ksize_[a])) {
          return ctx.unsupported("explicit padding must be smaller than the window (ksize ",
                                 ksize_[a], ")");
        }
        const int64_t input = dim_or_unknown(x, axis == 0 ? kNhwcHeight : kNhwcWidth);
        PBMEM_ASSIGN_OR_RETURN(windows_[a], spatial_window(node, input, ksize_[a], strides_[a],
                                                           /*dilation=*/1, padding_, axis));
        out.dim(axis == 0 ? kNhwcHeight : kNhwcWidth) = windows_[a].output;
      }
    }
    ctx.set_output(0, DType::kFloat, out);
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    const Shape& x = ctx.input_shape(0);
    const Shape& out = ctx.outputs()[0].shape;
    prepared_shape_ = x;
    dnnl_.reset();
    if (out.num_elements_unchecked() == 0) return ok_status();
    if (x.num_elements_unchecked() == 0) {
      return ctx.unsupported("pooling an empty input ", x.str(), " into a non-empty output");
    }
    dnnl::PoolParams params;
    params.kind = op_ == PoolOp::kAvgPool ? dnnl::PoolKind::kAvgExcludePadding
                                          : dnnl::PoolKind::kMax;
    params.src = {x.dim(0), x.dim(1), x.dim(2), x.dim(3)};
    params.dst = {out.dim(0), out.dim(1), out.dim(2), out.dim(3)};
    params.kernel = ksize_;
    params.strides = strides_;
    params.pad_l = {windows_[0].pad_before, windows_[1].pad_before};
    params.pad_r = {windows_[0].pad_after, windows_[1].pad_after};
    Result<std::unique_ptr<dnnl::DnnlOp>> op = dnnl::make_pool(params);
    if (!op.ok()) return op.status().with_context(ctx.node().describe());
    dnnl_ = std::move(op).value();
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    if (x.shape() != prepared_shape_) {
      return ctx.error("input shape ", x.shape().str(), " differs from the prepared ",
                       prepared_shape_.str());
    }
    if (!dnnl_) return ok_status();  // empty output
    if (ctx.scratch_bytes() < dnnl_->scratch_bytes()) {
      return internal_error(ctx.node().describe(), ": got ", ctx.scratch_bytes(),
                            " scratch bytes, needs ", dnnl_->scratch_bytes());
    }
    dnnl::RunBuffers buffers;
    buffers.src = x.raw_data();
    buffers.dst = ctx.output(0).raw_data();
    buffers.scratch = ctx.scratch();
    Status status = dnnl_->run(buffers);
    return status.ok() ? status : status.with_context(ctx.node().describe());
  }

  size_t scratch_bytes() const override { return dnnl_ ? dnnl_->scratch_bytes() : 0; }

 private:
  PoolOp op_;
  Padding2D padding_;
  HW ksize_{1, 1};
  HW strides_{1, 1};
  bool windows_known_ = false;
  WindowDim windows_[2];
  Shape prepared_shape_;
  std::unique_ptr<dnnl::DnnlOp> dnnl_;
};

class MaxPoolKernel : public PoolKernel {
 public:
  MaxPoolKernel() : PoolKernel(PoolOp::kMaxPool) {}
};
class MaxPoolV2Kernel : public PoolKernel {
 public:
  MaxPoolV2Kernel() : PoolKernel(PoolOp::kMaxPoolV2) {}
};
class AvgPoolKernel : public PoolKernel {
 public:
  AvgPoolKernel() : PoolKernel(PoolOp::kAvgPool) {}
};

}  // namespace

Status register_pool_ops(OpRegistry& registry) {
  return registry.add_all({
      {"MaxPool", op_record<MaxPoolKernel>()},
      {"MaxPoolV2", op_record<MaxPoolV2Kernel>()},
      {"AvgPool", op_record<AvgPoolKernel>()},
  });
}

}  // namespace pbmem
