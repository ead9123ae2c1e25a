// Convolutions (Conv2D, DepthwiseConv2dNative, Conv2DBackpropInput) on oneDNN through
// dnnl_adapter, plus BiasAdd. NHWC only. A constant filter is reordered once at prepare into
// oneDNN's preferred layout (with WeightsMode::kMapped, a filter in the model file is used in
// place in TF's layout where oneDNN has a fast kernel for it); a filter computed at run time is
// reordered on every run into a buffer allocated at prepare (correct, just slower).
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/dnnl_adapter.h"
#include "kernels/epilogue.h"
#include "kernels/kernel.h"
#include "kernels/nn_ops.h"
#include "graph/mapped_file.h"
#include "kernels/util.h"

namespace pbmem {
namespace {

namespace dnnl = dnnl_adapter;

constexpr int kFilterHeight = 0;
constexpr int kFilterWidth = 1;
constexpr int kFilterIn = 2;
constexpr int kFilterOut = 3;
constexpr int64_t kBiasAddMinChunk = 4096;  // elements per parallel chunk

enum class ConvOp { kConv2D, kDepthwise, kBackpropInput };

int64_t dim_or_unknown(const Shape& shape, int i) {
  return shape.known_rank() && shape.rank() > i ? shape.dim(i) : kUnknownDim;
}

bool known(int64_t d) { return d != kUnknownDim; }

// Everything infer() derives; prepare() turns it into oneDNN params.
struct ConvGeometry {
  Shape output;
  int64_t groups = 1;
  WindowDim rows;  // forward conv windows (for BackpropInput: of the conv whose input grad this is)
  WindowDim cols;
};

class ConvKernel : public Kernel {
 public:
  explicit ConvKernel(ConvOp op) : op_(op) {}

  // Forward convolutions fold a per-channel scale into their weights, a shift into their bias
  // and activations into oneDNN post-ops.
  bool accepts_epilogue(const Epilogue& epilogue) const override {
    std::vector<dnnl::EltwisePostOp> post_ops;
    return op_ != ConvOp::kBackpropInput &&
           activations_to_post_ops(epilogue.activations, &post_ops);
  }
  void set_epilogue(Epilogue epilogue) override { epilogue_ = std::move(epilogue); }
  std::vector<TensorRef> extra_inputs() const override {
    return epilogue_.residual ? std::vector<TensorRef>{*epilogue_.residual} : std::vector<TensorRef>{};
  }
  // A zero Pad before a forward conv becomes part of the conv's own padding.
  bool accepts_input_padding() const override { return op_ != ConvOp::kBackpropInput; }
  void set_input_padding(InputPadding padding) override { input_padding_ = padding; }

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(read_attrs(ctx.node()));
    PBMEM_ASSIGN_OR_RETURN(geometry_, op_ == ConvOp::kBackpropInput ? infer_backprop(ctx)
                                                                    : infer_forward(ctx));
    ctx.set_output(0, DType::kFloat, geometry_.output);
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    const Shape& data = ctx.input_shape(data_input());
    const Shape& filter = ctx.input_shape(kFilterInput);
    const Shape& output = ctx.outputs()[0].shape;
    prepared_data_shape_ = data;
    prepared_filter_shape_ = filter;
    // Kept until the new op is built: its packed weights are reused when their layout holds
    // (they were packed from the same filter and fused scale).
    std::unique_ptr<dnnl::DnnlOp> replaced = std::move(dnnl_);
    filter_constant_ = false;
    filter_packed_ = false;
    zero_fill_ = false;
    if (output.num_elements_unchecked() == 0) return ok_status();  // nothing to compute
    if (data.num_elements_unchecked() == 0 || filter.num_elements_unchecked() == 0) {
      zero_fill_ = true;  // every output sums over nothing (or padding only)
      return ok_status();
    }
    dnnl::ConvParams params;
    params.direction = op_ == ConvOp::kBackpropInput ? dnnl::ConvDirection::kBackwardData
                                                     : dnnl::ConvDirection::kForward;
    params.src = to_dims4(data);
    // A fused Pad: the bytes are the unpadded input; its padding joins the conv's.
    params.src[kNhwcHeight] -= input_padding_.top + input_padding_.bottom;
    params.src[kNhwcWidth] -= input_padding_.left + input_padding_.right;
    if (params.src[kNhwcHeight] <= 0 || params.src[kNhwcWidth] <= 0) {
      zero_fill_ = true;  // the conv sees only padding
      return ok_status();
    }
    params.dst = to_dims4(output);
    params.weights = to_dims4(filter);
    if (op_ == ConvOp::kDepthwise) {
      // [KH, KW, C, M] has the bytes of the grouped filter [KH, KW, 1, C*M] with C groups.
      params.weights[kFilterIn] = 1;
      params.weights[kFilterOut] = output.dim(kNhwcChannel);
    }
    params.groups = geometry_.groups;
    params.strides = strides_;
    params.dilations = dilations_;
    params.pad_l = {geometry_.rows.pad_before + input_padding_.top,
                    geometry_.cols.pad_before + input_padding_.left};
    params.pad_r = {geometry_.rows.pad_after + input_padding_.bottom,
                    geometry_.cols.pad_after + input_padding_.right};
    params.replaces = replaced.get();
    const std::shared_ptr<const Tensor>& filter_value = ctx.input(kFilterInput).value;
    PBMEM_RETURN_IF_ERROR(prepare_epilogue(ctx, &params));
    filter_constant_ = filter_value != nullptr;
    filter_packed_ = false;
    if (filter_constant_ && should_map(ctx.node(), *filter_value)) {
      PBMEM_ASSIGN_OR_RETURN(bool mapped, try_mapped(ctx, params, *filter_value));
      if (mapped) return ok_status();
    }
    // The fused scale is folded by the packing reorder when there is one (no scaled copy), unless
    // a scaled copy from the last prepare is all that is left of the filter.
    if (filter_value != nullptr && !scaled_filter_.valid()) params.weights_scale = epilogue_.scale;
    Result<std::unique_ptr<dnnl::DnnlOp>> op = dnnl::make_conv(params);
    if (!op.ok()) return op.status().with_context(ctx.node().describe());
    dnnl_ = std::move(op).value();
    if (filter_constant_ && dnnl_->weights_adopted()) {
      // Taken over, already packed, from the replaced op (the filter's bytes may even have been
      // released by the session's constant cache): nothing to reorder or allocate.
      filter_packed_ = true;
      scaled_filter_ = Tensor();
    } else if (filter_constant_ && !filter_value->valid() && !scaled_filter_.valid()) {
      return internal_error(ctx.node().describe(),
                            ": the filter's packed layout changed but its bytes were released");
    } else if (filter_constant_) {
      // Our scaled copy, when oneDNN read it in place last time, outlives the filter's bytes.
      // The fused scale multiplies a copy of the filter (kept only if oneDNN reads it in place).
      if (!epilogue_.scale.empty() && !scaled_filter_.valid() && !dnnl_->weights_scaled()) {
        PBMEM_ASSIGN_OR_RETURN(scaled_filter_, scale_output_channels(*filter_value, params.dst[kNhwcChannel],
                                                                     epilogue_.scale));
      }
      const Tensor& weights = scaled_filter_.valid() ? scaled_filter_ : *filter_value;
      Status bound = dnnl_->bind_weights(weights.raw_data());
      if (!bound.ok()) return bound.with_context(ctx.node().describe());
      // A packed copy replaces the filter; one used in place must stay alive (the runtime
      // keeps inputs that needs_input_at_run() asks for; a scaled copy is ours).
      filter_packed_ = dnnl_->packed_weights_bytes() > 0;
      if (filter_packed_) scaled_filter_ = Tensor();
    }
    return ok_status();
  }

  void set_weights_mode(WeightsMode mode) override { weights_mode_ = mode; }

  bool needs_input_at_run(int input) const override {
    return !(input == kFilterInput && (filter_packed_ || scaled_filter_.valid()));
  }

  Status run(RunContext& ctx) override {
    const Tensor& data = ctx.input(data_input());
    const Tensor& filter = ctx.input(kFilterInput);
    if (data.shape() != prepared_data_shape_ || filter.shape() != prepared_filter_shape_) {
      return ctx.error("input shapes ", data.shape().str(), " and ", filter.shape().str(),
                       " differ from the prepared ", prepared_data_shape_.str(), " and ",
                       prepared_filter_shape_.str());
    }
    Tensor& out = ctx.output(0);
    const Tensor* residual = nullptr;
    if (epilogue_.residual) {
      // The fused Add's other operand comes after the graph inputs.
      residual = &ctx.input(ctx.num_inputs() - 1);
      if (residual->shape() != out.shape() || residual->dtype() != DType::kFloat) {
        return ctx.error("fused residual ", residual->shape().str(), " does not match the output ",
                         out.shape().str());
      }
    }
    if (zero_fill_) {
      fill_with_epilogue_of_zero(epilogue_, residual, &out);
      return ok_status();
    }
    if (!dnnl_) return ok_status();  // empty output
    if (!filter_constant_) PBMEM_RETURN_IF_ERROR(dnnl_->bind_weights(filter.raw_data()));
    if (ctx.scratch_bytes() < dnnl_->scratch_bytes()) {
      return internal_error(ctx.node().describe(), ": got ", ctx.scratch_bytes(),
                            " scratch bytes, needs ", dnnl_->scratch_bytes());
    }
    dnnl::RunBuffers buffers;
    buffers.src = data.raw_data();
    buffers.dst = out.raw_data();
    buffers.bias = bias_.valid() ? bias_.raw_data() : nullptr;
    buffers.residual = residual != nullptr ? residual->raw_data() : nullptr;
    buffers.scratch = ctx.scratch();
    Status status = dnnl_->run(buffers);
    return status.ok() ? status : status.with_context(ctx.node().describe());
  }

  size_t scratch_bytes() const override { return dnnl_ ? dnnl_->scratch_bytes() : 0; }

 private:
  static constexpr int kFilterInput = 1;  // in all three ops

  // The fused epilogue's shift as the conv's bias and its activations as post-ops (the scale is
  // folded into the filter when it is bound). The bias survives re-prepares: the shift is fixed.
  Status prepare_epilogue(const InferContext& ctx, dnnl::ConvParams* params) {
    if (epilogue_.empty()) return ok_status();
    params->residual_add = epilogue_.residual.has_value();
    if (!activations_to_post_ops(epilogue_.activations, &params->post_ops)) {
      return internal_error(ctx.node().describe(), ": fused activation oneDNN cannot apply");
    }
    const int64_t channels = params->dst[kNhwcChannel];
    if (!epilogue_.scale.empty() && ctx.input(kFilterInput).value == nullptr) {
      return internal_error(ctx.node().describe(), ": a fused scale needs a constant filter");
    }
    if (!epilogue_.shift.empty()) {
      if (static_cast<int64_t>(epilogue_.shift.size()) != channels) {
        return internal_error(ctx.node().describe(), ": fused shift has ", epilogue_.shift.size(),
                              " channels, the output ", channels);
      }
      if (!bias_.valid()) {
        PBMEM_ASSIGN_OR_RETURN(bias_, make_bias_tensor(epilogue_.shift));
      }
      params->has_bias = true;
    }
    return ok_status();
  }
  int data_input() const { return op_ == ConvOp::kBackpropInput ? 2 : 0; }

  // Mapped weights: a forward conv whose filter bytes lie in the model file, without a fused
  // scale (in mapped mode the fusion pass leaves a BatchNorm Mul after such a conv as its own
  // op, runtime/fusion.cc; a scale folded anyway means the filter is to be packed). Folded or
  // realigned filters (tensor_content not 4-byte aligned in the file is copied at load, see
  // graph/tensor_proto.cc) are our own copies already: packing them costs about the same bytes
  // and gives oneDNN its fastest kernels.
  bool should_map(const Node& node, const Tensor& filter) const {
    return weights_mode_ == WeightsMode::kMapped && op_ != ConvOp::kBackpropInput &&
           epilogue_.scale.empty() && filter.valid() && node.file != nullptr &&
           node.file->contains(filter.raw_data());
  }

  // Builds the conv on the filter's file bytes in TF's layout. False (nothing changed) when
  // oneDNN has no fast kernel for that layout: pack instead.
  Result<bool> try_mapped(const InferContext& ctx, const dnnl::ConvParams& packed_params,
                          const Tensor& filter) {
    dnnl::ConvParams params = packed_params;
    params.plain_weights = true;
    Result<std::unique_ptr<dnnl::DnnlOp>> op = dnnl::make_conv(params);
    if (op.status().code() == StatusCode::kUnimplemented) return false;
    if (!op.ok()) return op.status().with_context(ctx.node().describe());
    Status bound = (*op)->bind_weights(filter.raw_data());
    if (!bound.ok()) return bound.with_context(ctx.node().describe());
    dnnl_ = std::move(op).value();
    scaled_filter_ = Tensor();
    return true;
  }

  static dnnl::Dims4 to_dims4(const Shape& s) { return {s.dim(0), s.dim(1), s.dim(2), s.dim(3)}; }

  Status read_attrs(const Node& node) {
    PBMEM_RETURN_IF_ERROR(require_nhwc(node));
    PBMEM_ASSIGN_OR_RETURN(strides_, read_nhwc_window_attr(node, "strides", {}));
    PBMEM_ASSIGN_OR_RETURN(dilations_, read_nhwc_window_attr(node, "dilations", {1, 1, 1, 1}));
    PBMEM_ASSIGN_OR_RETURN(padding_, read_padding(node));
    return ok_status();
  }

  Status check_filter(const InferContext& ctx) const {
    PBMEM_RETURN_IF_ERROR(require_float_input(ctx, kFilterInput, "filter"));
    PBMEM_RETURN_IF_ERROR(require_rank4_if_known(ctx, kFilterInput, "filter"));
    return ok_status();
  }

  Result<WindowDim> window(const InferContext& ctx, int64_t input, const Shape& filter,
                           int axis) const {
    const int64_t size = dim_or_unknown(filter, axis == 0 ? kFilterHeight : kFilterWidth);
    const size_t a = static_cast<size_t>(axis);
    if (!known(size)) return WindowDim{kUnknownDim, 0, 0};
    return spatial_window(ctx.node(), input, size, strides_[a], dilations_[a], padding_, axis);
  }

  // Conv2D: filter [KH, KW, C_in / groups, C_out]; DepthwiseConv2dNative: [KH, KW, C, M].
  Result<ConvGeometry> infer_forward(const InferContext& ctx) const {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(require_float_input(ctx, 0, "input"));
    PBMEM_RETURN_IF_ERROR(require_rank4_if_known(ctx, 0, "input"));
    PBMEM_RETURN_IF_ERROR(check_filter(ctx));
    const Shape& x = ctx.input_shape(0);
    const Shape& f = ctx.input_shape(kFilterInput);
    const int64_t in_c = dim_or_unknown(x, kNhwcChannel);
    const int64_t f_in = dim_or_unknown(f, kFilterIn);
    const int64_t f_out = dim_or_unknown(f, kFilterOut);
    ConvGeometry g;
    int64_t out_c = kUnknownDim;
    if (op_ == ConvOp::kConv2D) {
      out_c = f_out;
      if (known(in_c) && known(f_in)) {
        if (f_in <= 0 || in_c <= 0 || in_c % f_in != 0) {
          return ctx.error("input depth ", in_c, " is not a positive multiple of the filter's ",
                           "input depth ", f_in);
        }
        g.groups = in_c / f_in;
        if (known(f_out) && f_out % g.groups != 0) {
          return ctx.error("filter output depth ", f_out, " is not a multiple of the ",
                           g.groups, " groups");
        }
      }
    } else {
      if (known(in_c) && known(f_in) && in_c != f_in) {
        return ctx.error("input depth ", in_c, " differs from the filter's depth ", f_in);
      }
      if (known(f_in) && known(f_out) && !checked_mul(f_in, f_out, &out_c)) {
        return ctx.error("output depth ", f_in, " x ", f_out, " overflows");
      }
      g.groups = known(f_in) ? f_in : 1;
    }
    PBMEM_ASSIGN_OR_RETURN(g.rows, window(ctx, dim_or_unknown(x, kNhwcHeight), f, 0));
    PBMEM_ASSIGN_OR_RETURN(g.cols, window(ctx, dim_or_unknown(x, kNhwcWidth), f, 1));
    g.output = Shape({dim_or_unknown(x, kNhwcBatch), g.rows.output, g.cols.output, out_c});
    return g;
  }

  // Conv2DBackpropInput(input_sizes, filter [KH, KW, C_in, C_out], out_backprop [N, OH, OW,
  // C_out]) -> [N, H, W, C_in] with input_sizes = [N, H, W, C_in] or [H, W].
  Result<ConvGeometry> infer_backprop(const InferContext& ctx) const {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
    PBMEM_RETURN_IF_ERROR(check_filter(ctx));
    PBMEM_RETURN_IF_ERROR(require_float_input(ctx, 2, "out_backprop"));
    PBMEM_RETURN_IF_ERROR(require_rank4_if_known(ctx, 2, "out_backprop"));
    const Shape& f = ctx.input_shape(kFilterInput);
    const Shape& dy = ctx.input_shape(2);
    std::vector<int64_t> out = {dim_or_unknown(dy, kNhwcBatch), kUnknownDim, kUnknownDim,
                                dim_or_unknown(f, kFilterIn)};
    if (const Tensor* sizes = ctx.const_input(0)) {
      Result<std::vector<int64_t>> values = read_int_tensor(*sizes, "input 0 (input_sizes)");
      if (!values.ok()) return ctx.error(values.status().message());
      const std::vector<int64_t>& v = *values;
      if (sizes->shape().rank() != 1 || (v.size() != 4 && v.size() != 2)) {
        return ctx.error("input 0 (input_sizes) must be a vector of 4 (or 2) entries, got shape ",
                         sizes->shape().str());
      }
      for (int64_t d : v) {
        if (d < 0) return ctx.error("input 0 (input_sizes) has a negative entry ", d);
      }
      if (v.size() == 4) {
        out = v;
      } else {
        out[kNhwcHeight] = v[0];
        out[kNhwcWidth] = v[1];
      }
    } else if (ctx.concrete()) {
      return ctx.unsupported("input 0 (input_sizes) must be constant by prepare time");
    }
    if (known(out[kNhwcChannel]) && known(dim_or_unknown(f, kFilterIn)) &&
        out[kNhwcChannel] != f.dim(kFilterIn)) {
      return ctx.error("input_sizes depth ", out[kNhwcChannel], " differs from the filter's ",
                       "input depth ", f.dim(kFilterIn));
    }
    if (known(dim_or_unknown(dy, kNhwcChannel)) && known(dim_or_unknown(f, kFilterOut)) &&
        dy.dim(kNhwcChannel) != f.dim(kFilterOut)) {
      return ctx.error("out_backprop depth ", dy.dim(kNhwcChannel), " differs from the ",
                       "filter's output depth ", f.dim(kFilterOut));
    }
    if (known(out[kNhwcBatch]) && known(dim_or_unknown(dy, kNhwcBatch)) &&
        out[kNhwcBatch] != dy.dim(kNhwcBatch)) {
      return ctx.error("input_sizes batch ", out[kNhwcBatch], " differs from out_backprop's ",
                       dy.dim(kNhwcBatch));
    }
    ConvGeometry g;
    PBMEM_ASSIGN_OR_RETURN(g.rows, window(ctx, out[kNhwcHeight], f, 0));
    PBMEM_ASSIGN_OR_RETURN(g.cols, window(ctx, out[kNhwcWidth], f, 1));
    const int64_t dy_h = dim_or_unknown(dy, kNhwcHeight), dy_w = dim_or_unknown(dy, kNhwcWidth);
    if ((known(dy_h) && known(g.rows.output) && dy_h != g.rows.output) ||
        (known(dy_w) && known(g.cols.output) && dy_w != g.cols.output)) {
      return ctx.error("out_backprop spatial size ", dy_h, "x", dy_w, " differs from ",
                       g.rows.output, "x", g.cols.output, ", the forward conv output for ",
                       "input_sizes ", Shape(out).str());
    }
    g.output = Shape(out);
    return g;
  }

  ConvOp op_;
  HW strides_{1, 1};
  HW dilations_{1, 1};
  Padding2D padding_;
  ConvGeometry geometry_;
  Shape prepared_data_shape_;
  Shape prepared_filter_shape_;
  std::unique_ptr<dnnl::DnnlOp> dnnl_;
  bool filter_constant_ = false;  // bound once at prepare
  bool filter_packed_ = false;    // and reordered into dnnl_'s own copy
  WeightsMode weights_mode_ = WeightsMode::kPacked;
  bool zero_fill_ = false;
  Epilogue epilogue_;
  InputPadding input_padding_;
  Tensor scaled_filter_;  // the filter times the fused scale, when oneDNN uses it in place
  Tensor bias_;           // the fused shift
};

class Conv2DKernel : public ConvKernel {
 public:
  Conv2DKernel() : ConvKernel(ConvOp::kConv2D) {}
};
class DepthwiseConvKernel : public ConvKernel {
 public:
  DepthwiseConvKernel() : ConvKernel(ConvOp::kDepthwise) {}
};
class Conv2DBackpropInputKernel : public ConvKernel {
 public:
  Conv2DBackpropInputKernel() : ConvKernel(ConvOp::kBackpropInput) {}
};

// ---- BiasAdd / BiasAddV1: out = value + bias along the channel dim ----

// value viewed as [rows, channels, inner].
struct BiasLayout {
  int64_t rows = 0;
  int64_t channels = 0;
  int64_t inner = 1;
};

template <typename T>
void add_bias(const Tensor& value, const Tensor& bias, Tensor& out, const BiasLayout& layout) {
  const T* x = value.data<T>();
  const T* b = bias.data<T>();
  T* y = out.data<T>();
  const int64_t rows = layout.rows, channels = layout.channels, inner = layout.inner;
  if (rows == 0 || channels == 0 || inner == 0) return;
  if (inner == 1) {  // NHWC: bias on the last dim
    parallel_for(rows, kBiasAddMinChunk / (channels > 0 ? channels : 1) + 1,
                 [&](int64_t begin, int64_t end) {
                   for (int64_t r = begin; r < end; ++r) {
                     const T* xr = x + r * channels;
                     T* yr = y + r * channels;
                     for (int64_t c = 0; c < channels; ++c) yr[c] = xr[c] + b[c];
                   }
                 });
    return;
  }
  parallel_for(rows * channels, kBiasAddMinChunk / inner + 1, [&](int64_t begin, int64_t end) {
    for (int64_t rc = begin; rc < end; ++rc) {
      const T bc = b[rc % channels];
      const T* xr = x + rc * inner;
      T* yr = y + rc * inner;
      for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] + bc;
    }
  });
}

class BiasAddKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_ASSIGN_OR_RETURN(std::string format,
                           ctx.node().attr_string_or("data_format", "NHWC"));
    if (format != "NHWC" && format != "NCHW") {
      return ctx.error("attribute 'data_format' must be NHWC or NCHW, got '", format, "'");
    }
    channels_first_ = format == "NCHW";
    const DType dtype = ctx.input_dtype(0);
    if (dtype != DType::kInvalid && dtype != DType::kFloat && dtype != DType::kDouble && dtype != DType::kInt32 &&
        dtype != DType::kInt64) {
      return ctx.unsupported("dtype ", dtype_name(dtype), " is not supported");
    }
    if (ctx.input_dtype(1) != dtype && ctx.input_dtype(1) != DType::kInvalid) {
      return ctx.error("bias dtype ", dtype_name(ctx.input_dtype(1)), " differs from value dtype ",
                       dtype_name(dtype));
    }
    const Shape& value = ctx.input_shape(0);
    const Shape& bias = ctx.input_shape(1);
    if (bias.known_rank() && bias.rank() != 1) {
      return ctx.error("input 1 (bias) must be rank 1, got shape ", bias.str());
    }
    if (value.known_rank()) {
      if (value.rank() < 2) {
        return ctx.error("input 0 (value) must be at least rank 2, got shape ", value.str());
      }
      const int64_t channels = value.dim(channel_axis(value.rank()));
      if (bias.known_rank() && known(channels) && known(bias.dim(0)) && bias.dim(0) != channels) {
        return ctx.error("bias has ", bias.dim(0), " entries but the channel dim of value ",
                         value.str(), " has ", channels);
      }
    }
    ctx.set_output(0, dtype, value);
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override {
    const Shape& value = ctx.input_shape(0);
    const int axis = channel_axis(value.rank());
    layout_ = BiasLayout();
    layout_.channels = value.dim(axis);
    layout_.rows = 1;
    for (int i = 0; i < axis; ++i) layout_.rows *= value.dim(i);
    for (int i = axis + 1; i < value.rank(); ++i) layout_.inner *= value.dim(i);
    prepared_shape_ = value;
    dtype_ = ctx.input_dtype(0);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& value = ctx.input(0);
    const Tensor& bias = ctx.input(1);
    if (value.shape() != prepared_shape_ || bias.num_elements() != layout_.channels) {
      return ctx.error("value ", value.shape().str(), " and bias ", bias.shape().str(),
                       " differ from the prepared shapes");
    }
    Tensor& out = ctx.output(0);
    switch (dtype_) {
      case DType::kFloat: add_bias<float>(value, bias, out, layout_); break;
      case DType::kDouble: add_bias<double>(value, bias, out, layout_); break;
      case DType::kInt32: add_bias<int32_t>(value, bias, out, layout_); break;
      case DType::kInt64: add_bias<int64_t>(value, bias, out, layout_); break;
      default: return ctx.error("unsupported dtype ", dtype_name(dtype_));
    }
    return ok_status();
  }

 private:
  // NCHW: dim 1 (TF's feature dim); NHWC: the last dim.
  int channel_axis(int rank) const { return channels_first_ ? 1 : rank - 1; }

  bool channels_first_ = false;
  BiasLayout layout_;
  Shape prepared_shape_;
  DType dtype_ = DType::kFloat;
};

}  // namespace

constexpr int kFilterRank = 4;

// Conv2D: each output element (N, OH, OW, Cout) sums KH * KW * Cin products of the filter
// (KH, KW, Cin, Cout), input 1.
double conv_multiply_adds(const Node& /*node*/, const TensorInfo& out,
                          const std::vector<const TensorInfo*>& in) {
  const Shape* f = known_shape(in.size() > 1 ? in[1] : nullptr);
  if (f == nullptr || f->rank() != kFilterRank) return 0;
  return element_count(out.shape) * static_cast<double>(f->dim(0)) *
         static_cast<double>(f->dim(1)) * static_cast<double>(f->dim(2));
}

// Conv2DBackpropInput: the forward conv's product count, whose output is input 2 (out_backprop).
double conv_backprop_input_multiply_adds(const Node& /*node*/, const TensorInfo& /*out*/,
                                         const std::vector<const TensorInfo*>& in) {
  const Shape* f = known_shape(in.size() > 1 ? in[1] : nullptr);
  const Shape* out_backprop = known_shape(in.size() > 2 ? in[2] : nullptr);
  if (f == nullptr || out_backprop == nullptr || f->rank() != kFilterRank) return 0;
  return element_count(*out_backprop) * static_cast<double>(f->dim(0)) *
         static_cast<double>(f->dim(1)) * static_cast<double>(f->dim(2));
}

// DepthwiseConv2dNative: KH * KW products per output element.
double depthwise_multiply_adds(const Node& /*node*/, const TensorInfo& out,
                               const std::vector<const TensorInfo*>& in) {
  const Shape* f = known_shape(in.size() > 1 ? in[1] : nullptr);
  if (f == nullptr || f->rank() != kFilterRank) return 0;
  return element_count(out.shape) * static_cast<double>(f->dim(0)) *
         static_cast<double>(f->dim(1));
}

Status register_nn_ops(OpRegistry& registry) {
  PBMEM_RETURN_IF_ERROR(registry.add_all({
      {"Conv2D", op_record<Conv2DKernel>().fusion_producer().flops(conv_multiply_adds)},
      {"DepthwiseConv2dNative",
       op_record<DepthwiseConvKernel>().fusion_producer().flops(depthwise_multiply_adds)},
      {"Conv2DBackpropInput",
       op_record<Conv2DBackpropInputKernel>().flops(conv_backprop_input_multiply_adds)},
      {"BiasAdd", op_record<BiasAddKernel>().in_place()},
      {"BiasAddV1", op_record<BiasAddKernel>()},
  }));
  PBMEM_RETURN_IF_ERROR(register_pool_ops(registry));
  PBMEM_RETURN_IF_ERROR(register_batchnorm_ops(registry));
  PBMEM_RETURN_IF_ERROR(register_fake_quant_ops(registry));
  PBMEM_RETURN_IF_ERROR(register_lrn_ops(registry));
  PBMEM_RETURN_IF_ERROR(register_conv3d_ops(registry));
  return register_dilation_ops(registry);
}

}  // namespace pbmem
