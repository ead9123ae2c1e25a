// Conv3D (NDHWC input, DHWIO filter [KD, KH, KW, C, O]) and MaxPool3D / AvgPool3D (NDHWC) on
// oneDNN, through the adapter's 3-D params (dnnl_adapter::DepthDim). strides, dilations and
// ksize are TF's 5-entry NDHWC lists (batch and channel entries 1); padding SAME or VALID with
// TF's window arithmetic per spatial dim. AvgPool3D divides by the non-padded window size, and
// padding never wins a max, as in TF. A constant filter is packed once at prepare; a computed
// one is bound every run. NCDHW is unsupported.
#include <array>
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

constexpr int kRank5 = 5;
using DHW = std::array<int64_t, 3>;  // {depth, height, width}

// A 5-entry NDHWC list attribute: entries >= 1, batch and channel entries 1.
Result<DHW> read_ndhwc_attr(const Node& node, const char* name, bool required) {
  std::vector<int64_t> values;
  if (required) {
    PBMEM_ASSIGN_OR_RETURN(values, node.attr_ints(name));
  } else {
    PBMEM_ASSIGN_OR_RETURN(values, node.attr_ints_or(name, {1, 1, 1, 1, 1}));
  }
  if (values.size() != static_cast<size_t>(kRank5)) {
    return node.error("attribute '", name, "' must have 5 entries, got ", values.size());
  }
  for (int64_t v : values) {
    if (v < 1) return node.error("attribute '", name, "' entries must be >= 1, got ", v);
  }
  if (values[0] != 1 || values[4] != 1) {
    return node.unsupported("attribute '", name, "' must be 1 in the batch and channel dims");
  }
  return DHW{values[1], values[2], values[3]};
}

Status require_ndhwc(const Node& node) {
  PBMEM_ASSIGN_OR_RETURN(std::string format, node.attr_string_or("data_format", "NDHWC"));
  if (format == "NDHWC") return ok_status();
  if (format == "NCDHW")
    return node.unsupported("data_format 'NCDHW' is not supported (only NDHWC)");
  return node.error("attribute 'data_format' must be NDHWC or NCDHW, got '", format, "'");
}

int64_t dim_of(const Shape& s, int i) { return s.known_rank() ? s.dim(i) : kUnknownDim; }

// The 3-D ops' shared shape rule: out = [N, D', H', W', channels] from the windows.
class Op3D : public Kernel {
 protected:
  // Reads padding, strides and dilations; validates the input; returns the output shape.
  Result<Shape> infer_windows(const InferContext& ctx, const DHW& kernel, int64_t channels) {
    const Node& node = ctx.node();
    PBMEM_RETURN_IF_ERROR(require_ndhwc(node));
    PBMEM_RETURN_IF_ERROR(require_float_input(ctx, 0, "input"));
    PBMEM_ASSIGN_OR_RETURN(padding_, read_padding(node));
    if (padding_.padding == Padding::kExplicit)
      return ctx.error("3-D ops take SAME or VALID padding");
    PBMEM_ASSIGN_OR_RETURN(strides_, read_ndhwc_attr(node, "strides", true));
    const Shape& x = ctx.input_shape(0);
    if (x.known_rank() && x.rank() != kRank5) {
      return ctx.error("input 0 must be rank 5 (NDHWC), got shape ", x.str());
    }
    Shape out({dim_of(x, 0), kUnknownDim, kUnknownDim, kUnknownDim, channels});
    // spatial_window's axes: depth, height, width.
    const int axes[3] = {kDepthAxis, 0, 1};
    for (int i = 0; i < 3; ++i) {
      const size_t a = static_cast<size_t>(i);
      PBMEM_ASSIGN_OR_RETURN(
          windows_[a], spatial_window(node, dim_of(x, i + 1), kernel[a], strides_[a], dilations_[a],
                                      padding_, axes[i]));
      out.dim(i + 1) = windows_[a].output;
    }
    return out;
  }

  // Starts prepare(): false when the output is empty (nothing to build), an error when the
  // input is empty but the output is not.
  Result<bool> begin_prepare(const InferContext& ctx, const char* what) {
    const Shape& x = ctx.input_shape(0);
    prepared_ = x;
    dnnl_.reset();
    if (ctx.outputs()[0].shape.num_elements_unchecked() == 0) return false;
    if (x.num_elements_unchecked() == 0) {
      return ctx.unsupported(what, " of an empty input ", x.str(), " into a non-empty output");
    }
    return true;
  }

  // The oneDNN dims, strides and pads of a conv or pool (NHWC parts and the depth part).
  template <typename Params>
  void describe(const InferContext& ctx, const DHW& kernel, Params* p) const {
    const Shape& x = ctx.input_shape(0);
    const Shape& out = ctx.outputs()[0].shape;
    p->src = {x.dim(0), x.dim(2), x.dim(3), x.dim(4)};
    p->dst = {out.dim(0), out.dim(2), out.dim(3), out.dim(4)};
    p->strides = {strides_[1], strides_[2]};
    p->pad_l = {windows_[1].pad_before, windows_[2].pad_before};
    p->pad_r = {windows_[1].pad_after, windows_[2].pad_after};
    dnnl::DepthDim d;
    d.src = x.dim(1);
    d.dst = out.dim(1);
    d.kernel = kernel[0];
    d.stride = strides_[0];
    d.dilation = dilations_[0];
    d.pad_l = windows_[0].pad_before;
    d.pad_r = windows_[0].pad_after;
    p->depth = d;
  }

  Status adopt(const InferContext& ctx, Result<std::unique_ptr<dnnl::DnnlOp>> op) {
    if (!op.ok()) return op.status().with_context(ctx.node().describe());
    dnnl_ = std::move(op).value();
    return ok_status();
  }

  // Runs the built op on input 0 into output 0 (binding `weights` first when non-null).
  Status run_op(RunContext& ctx, const void* weights) {
    const Tensor& x = ctx.input(0);
    if (x.shape() != prepared_) {
      return ctx.error("input shape ", x.shape().str(), " differs from the prepared ",
                       prepared_.str());
    }
    if (!dnnl_) return ok_status();  // empty output
    if (weights != nullptr) PBMEM_RETURN_IF_ERROR(dnnl_->bind_weights(weights));
    dnnl::RunBuffers buffers;
    buffers.src = x.raw_data();
    buffers.dst = ctx.output(0).raw_data();
    buffers.scratch = ctx.scratch();
    Status status = dnnl_->run(buffers);
    return status.ok() ? status : status.with_context(ctx.node().describe());
  }

 public:
  size_t scratch_bytes() const override { return dnnl_ ? dnnl_->scratch_bytes() : 0; }

 protected:
  Padding2D padding_;
  DHW strides_{1, 1, 1};
  DHW dilations_{1, 1, 1};
  WindowDim windows_[3];
  Shape prepared_;
  std::unique_ptr<dnnl::DnnlOp> dnnl_;
};

class Conv3DKernel : public Op3D {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(require_float_input(ctx, 1, "filter"));
    PBMEM_ASSIGN_OR_RETURN(dilations_, read_ndhwc_attr(ctx.node(), "dilations", false));
    const Shape& f = ctx.input_shape(1);
    if (f.known_rank() && f.rank() != kRank5) {
      return ctx.error("input 1 (filter) must be rank 5 (DHWIO), got shape ", f.str());
    }
    const int64_t in_c = dim_of(ctx.input_shape(0), 4), f_c = dim_of(f, 3);
    if (in_c != kUnknownDim && f_c != kUnknownDim && in_c != f_c) {
      return ctx.unsupported("input depth ", in_c, " must equal the filter's input depth ", f_c,
                             " (grouped 3-D convolutions are not supported)");
    }
    const DHW kernel{dim_of(f, 0), dim_of(f, 1), dim_of(f, 2)};
    PBMEM_ASSIGN_OR_RETURN(Shape out, infer_windows(ctx, kernel, dim_of(f, 4)));
    ctx.set_output(0, DType::kFloat, out);
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    const Shape& f = ctx.input_shape(1);
    constant_filter_ = false;
    PBMEM_ASSIGN_OR_RETURN(bool build, begin_prepare(ctx, "a 3-D convolution"));
    if (!build) return ok_status();
    if (f.num_elements_unchecked() == 0) {
      return ctx.unsupported("a 3-D convolution with an empty filter into a non-empty output");
    }
    dnnl::ConvParams params;
    describe(ctx, {f.dim(0), f.dim(1), f.dim(2)}, &params);
    params.weights = {f.dim(1), f.dim(2), f.dim(3), f.dim(4)};
    params.dilations = {dilations_[1], dilations_[2]};
    PBMEM_RETURN_IF_ERROR(adopt(ctx, dnnl::make_conv(params)));
    const std::shared_ptr<const Tensor>& filter = ctx.input(1).value;
    if (filter != nullptr && filter->valid()) {
      Status bound = dnnl_->bind_weights(filter->raw_data());
      if (!bound.ok()) return bound.with_context(ctx.node().describe());
      constant_filter_ = true;
    }
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    return run_op(ctx, constant_filter_ ? nullptr : ctx.input(1).raw_data());
  }

 private:
  bool constant_filter_ = false;
};

class Pool3DKernel : public Op3D {
 public:
  explicit Pool3DKernel(dnnl::PoolKind kind) : kind_(kind) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    PBMEM_ASSIGN_OR_RETURN(ksize_, read_ndhwc_attr(ctx.node(), "ksize", true));
    PBMEM_ASSIGN_OR_RETURN(Shape out, infer_windows(ctx, ksize_, dim_of(ctx.input_shape(0), 4)));
    ctx.set_output(0, DType::kFloat, out);
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    PBMEM_ASSIGN_OR_RETURN(bool build, begin_prepare(ctx, "pooling"));
    if (!build) return ok_status();
    dnnl::PoolParams params;
    params.kind = kind_;
    describe(ctx, ksize_, &params);
    params.kernel = {ksize_[1], ksize_[2]};
    return adopt(ctx, dnnl::make_pool(params));
  }

  Status run(RunContext& ctx) override { return run_op(ctx, nullptr); }

 private:
  dnnl::PoolKind kind_;
  DHW ksize_{1, 1, 1};
};

template <dnnl::PoolKind kKind>
std::unique_ptr<Kernel> make_pool3d() {
  return std::make_unique<Pool3DKernel>(kKind);
}

}  // namespace

namespace {

// Each output element (N, OD, OH, OW, O) sums KD * KH * KW * I products of the DHWIO filter.
double conv3d_multiply_adds(const Node& /*node*/, const TensorInfo& out,
                            const std::vector<const TensorInfo*>& in) {
  constexpr int kFilterRank = 5;
  const Shape* f = known_shape(in.size() > 1 ? in[1] : nullptr);
  if (f == nullptr || f->rank() != kFilterRank) return 0;
  double per_output = 1;
  for (int i = 0; i + 1 < kFilterRank; ++i) per_output *= static_cast<double>(f->dim(i));
  return element_count(out.shape) * per_output;
}

}  // namespace

Status register_conv3d_ops(OpRegistry& registry) {
  return registry.add_all({
      {"Conv3D", op_record<Conv3DKernel>().flops(conv3d_multiply_adds)},
      {"MaxPool3D", op_record(make_pool3d<dnnl::PoolKind::kMax>)},
      {"AvgPool3D", op_record(make_pool3d<dnnl::PoolKind::kAvgExcludePadding>)},
  });
}

}  // namespace pbmem
