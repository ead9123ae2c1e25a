// oneDNN glue. Compiles against oneDNN 2.x (op descriptors, then primitive_desc(desc, attr,
// engine)) and 3.x (primitive_desc(engine, ...) directly); every difference is behind
// DNNL_VERSION_MAJOR in this file.
#include "kernels/dnnl_adapter.h"

#include "memory/allocator.h"

#include <exception>
#include <new>
#include <string>
#include <utility>

#include <oneapi/dnnl/dnnl.hpp>

namespace pbmem {
namespace dnnl_adapter {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using DataType = memory::data_type;

constexpr int kSpatialDims = 2;

// The process-wide CPU engine. Created on first use (inside a try block of a caller).
const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One in-order stream per thread: sessions on different threads never share one.
dnnl::stream& cpu_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

// Turns the exception in flight into a Status.
Status status_from_exception(const char* what) {
  try {
    throw;
  } catch (const dnnl::error& e) {
    if (e.status == dnnl_unimplemented) {
      return unimplemented("oneDNN has no implementation for this ", what, " (", e.what(), ")");
    }
    return internal_error("oneDNN failed on a ", what, ": ", e.what());
  } catch (const std::bad_alloc&) {
    return resource_exhausted("out of memory while setting up a oneDNN ", what);
  } catch (const std::exception& e) {
    return internal_error("oneDNN failed on a ", what, ": ", e.what());
  }
}

dnnl::algorithm eltwise_algorithm(EltwiseKind kind) {
  switch (kind) {
    case EltwiseKind::kRelu: return dnnl::algorithm::eltwise_relu;
    case EltwiseKind::kClip: return dnnl::algorithm::eltwise_clip;
    case EltwiseKind::kElu: return dnnl::algorithm::eltwise_elu;
    case EltwiseKind::kLogistic: return dnnl::algorithm::eltwise_logistic;
    case EltwiseKind::kTanh: return dnnl::algorithm::eltwise_tanh;
  }
  return dnnl::algorithm::eltwise_relu;
}

// User-managed scratchpad (the runtime owns all memory) plus fused element-wise ops.
dnnl::primitive_attr make_attr(const std::vector<EltwisePostOp>& post_ops) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (!post_ops.empty()) {
    dnnl::post_ops ops;
    for (const EltwisePostOp& op : post_ops) {
#if DNNL_VERSION_MAJOR >= 3
      ops.append_eltwise(eltwise_algorithm(op.kind), op.alpha, op.beta);
#else
      constexpr float kPostOpScale = 1.0f;
      ops.append_eltwise(kPostOpScale, eltwise_algorithm(op.kind), op.alpha, op.beta);
#endif
    }
    attr.set_post_ops(ops);
  }
  return attr;
}

// NHWC dims -> oneDNN's logical NCHW order, laid out as NHWC.
memory::desc nhwc_desc(const Dims4& nhwc) {
  return memory::desc({nhwc[0], nhwc[3], nhwc[1], nhwc[2]}, DataType::f32, Tag::nhwc);
}

// Row-major strides of `dims`.
memory::dims compact_strides(const memory::dims& dims) {
  memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return strides;
}

bool all_positive(const memory::dims& dims) {
  for (int64_t d : dims) {
    if (d <= 0) return false;
  }
  return true;
}

// Per-output-channel factors for the weights reorder and the dims of oneDNN's logical weights
// they run over (mask bits: output channels, or groups and outputs per group), or none.
struct WeightsScale {
  const std::vector<float>* factors = nullptr;
  int mask = 0;
};

}  // namespace

struct DnnlOp::Impl {
  dnnl::primitive primitive;
  memory src, weights, bias, dst, scratch;  // handle-less until run()/bind_weights()
  std::vector<dnnl_exec_arg_t> args;
  size_t scratch_bytes = 0;
  size_t packed_bytes = 0;
  bool has_weights = false;
  bool weights_bound = false;
  bool weights_adopted = false;       // the packed buffer came bound from the replaced op
  bool weights_scaled = false;        // weights_reorder applies the per-channel scale
  memory user_weights;                // only when a reorder is needed
  dnnl::reorder weights_reorder;      // user layout -> `weights`
  std::shared_ptr<void> packed_buffer;  // `weights`' bytes, from the accounted allocator

  void add_arg(int arg, const memory::desc& md, memory* slot) {
    *slot = memory(md, cpu_engine(), DNNL_MEMORY_NONE);
    args.push_back({arg, slot->get()});
  }

  // Inputs/outputs of a primitive: src, dst, bias (optional) and scratchpad.
  void add_common_args(const memory::desc& src_md, const memory::desc& dst_md,
                       const memory::desc* bias_md, const memory::desc& scratch_md) {
    add_arg(DNNL_ARG_SRC, src_md, &src);
    add_arg(DNNL_ARG_DST, dst_md, &dst);
    if (bias_md != nullptr) add_arg(DNNL_ARG_BIAS, *bias_md, &bias);
    scratch_bytes = scratch_md.get_size();
    if (scratch_bytes > 0) add_arg(DNNL_ARG_SCRATCHPAD, scratch_md, &scratch);
  }

  // Weights are used in place when the user layout is what the primitive wants; otherwise they
  // go through a reorder into a buffer allocated now, so bind_weights() never allocates. The
  // buffer of the op this one replaces is taken when its layout is the same (a new batch size
  // rarely changes the weights' layout), so re-preparing allocates nothing for them.
  Status add_weights(const memory::desc& user_md, const memory::desc& primitive_md, DnnlOp* replaces,
                     const WeightsScale& scale) {
    has_weights = true;
    if (replaces != nullptr && replaces->impl_->packed_buffer) {
      Impl& old = *replaces->impl_;
      if (old.weights.get_desc() == primitive_md) {
        packed_buffer = std::move(old.packed_buffer);
        weights_adopted = old.weights_bound;
      }
      old.packed_buffer.reset();  // freed before a new copy is allocated
      old.packed_bytes = 0;
    }
    if (user_md == primitive_md) {
      packed_buffer.reset();
      add_arg(DNNL_ARG_WEIGHTS, primitive_md, &weights);
      return ok_status();
    }
    // Allocated by us, not oneDNN, so the packed copy is counted as weights_packed.
    if (!packed_buffer) {
      PBMEM_ASSIGN_OR_RETURN(packed_buffer,
                             allocate_accounted(static_cast<int64_t>(primitive_md.get_size())));
    }
    weights = memory(primitive_md, cpu_engine(), packed_buffer.get());
    weights_bound = weights_adopted;
    args.push_back({DNNL_ARG_WEIGHTS, weights.get()});
    user_weights = memory(user_md, cpu_engine(), DNNL_MEMORY_NONE);
    weights_scaled = scaled_reorder(scale, &weights_reorder);
    if (!weights_scaled) weights_reorder = dnnl::reorder(user_weights, weights);
    packed_bytes = primitive_md.get_size();
    return ok_status();
  }

  // A reorder user_weights -> weights that also multiplies by `scale` (output scales over the
  // mask's dims: one factor per output channel, in the order of TF's output channels). oneDNN 3
  // takes scales as a run-time argument with other semantics; there, and when oneDNN has no
  // such reorder, the caller scales a copy instead (false).
  bool scaled_reorder(const WeightsScale& scale, dnnl::reorder* reorder) {
    if (scale.factors == nullptr || scale.factors->empty()) return false;
#if DNNL_VERSION_MAJOR >= 3
    (void)reorder;
    return false;
#else
    try {
      dnnl::primitive_attr attr;
      attr.set_output_scales(scale.mask, *scale.factors);
      *reorder = dnnl::reorder(dnnl::reorder::primitive_desc(user_weights, weights, attr));
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
#endif
  }
};

DnnlOp::DnnlOp(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnnlOp::~DnnlOp() = default;

size_t DnnlOp::scratch_bytes() const { return impl_->scratch_bytes; }
size_t DnnlOp::packed_weights_bytes() const { return impl_->packed_bytes; }
bool DnnlOp::weights_scaled() const { return impl_->weights_scaled; }
bool DnnlOp::weights_adopted() const { return impl_->weights_adopted && impl_->packed_buffer != nullptr; }

Status DnnlOp::bind_weights(const void* user_weights) {
  Impl& im = *impl_;
  if (!im.has_weights) return internal_error("bind_weights on a oneDNN op without weights");
  if (user_weights == nullptr) return internal_error("bind_weights with null weights");
  try {
    if (im.packed_bytes == 0) {
      im.weights.set_data_handle(const_cast<void*>(user_weights));
    } else {
      im.user_weights.set_data_handle(const_cast<void*>(user_weights));
      im.weights_reorder.execute(cpu_stream(), im.user_weights, im.weights);
      cpu_stream().wait();
    }
  } catch (...) {
    return status_from_exception("weights reorder");
  }
  im.weights_bound = true;
  return ok_status();
}

Status DnnlOp::run(const RunBuffers& buffers) {
  Impl& im = *impl_;
  if (im.has_weights && !im.weights_bound) return internal_error("oneDNN op run before bind_weights");
  if (buffers.src == nullptr || buffers.dst == nullptr) return internal_error("oneDNN op run without src/dst");
  if (im.scratch_bytes > 0 && buffers.scratch == nullptr) {
    return internal_error("oneDNN op needs ", im.scratch_bytes, " scratch bytes, got none");
  }
  try {
    im.src.set_data_handle(const_cast<void*>(buffers.src));
    im.dst.set_data_handle(buffers.dst);
    if (im.bias) {
      if (buffers.bias == nullptr) return internal_error("oneDNN op run without its bias");
      im.bias.set_data_handle(const_cast<void*>(buffers.bias));
    }
    if (im.scratch_bytes > 0) im.scratch.set_data_handle(buffers.scratch);
    // The C entry point takes our prebuilt argument array: nothing is allocated on our side.
    dnnl_status_t status = dnnl_primitive_execute(im.primitive.get(), cpu_stream().get(),
                                                  static_cast<int>(im.args.size()), im.args.data());
    if (status != dnnl_success) return internal_error("oneDNN execution failed with status ", status);
    cpu_stream().wait();
  } catch (...) {
    return status_from_exception("execution");
  }
  return ok_status();
}

int max_matmul_rank() { return DNNL_MAX_NDIMS; }

// ---- convolution / deconvolution ----

namespace {

struct ConvDescs {
  memory::desc src, dst, bias, user_weights, any_weights;
  memory::dims strides, dilations, pad_l, pad_r;
};

// Maps the TF filter bytes (HWIO; see ConvParams) onto oneDNN's logical weights dims with strides.
Result<ConvDescs> conv_descs(const ConvParams& p) {
  const int64_t kh = p.weights[0], kw = p.weights[1], a = p.weights[2], b = p.weights[3];
  const int64_t src_c = p.src[3], dst_c = p.dst[3];
  const int64_t groups = p.groups;
  ConvDescs d;
  memory::dims dims;
  memory::dims strides;
  if (p.direction == ConvDirection::kForward) {
    if (groups <= 0 || src_c != a * groups || dst_c != b || b % groups != 0) {
      return internal_error("inconsistent conv params: src C ", src_c, ", filter ", a, "x", b,
                            ", groups ", groups, ", dst C ", dst_c);
    }
    const int64_t out_per_group = b / groups;
    if (groups == 1) {
      dims = {b, a, kh, kw};
      strides = {1, b, kw * a * b, a * b};
    } else {
      dims = {groups, out_per_group, a, kh, kw};
      strides = {out_per_group, 1, b, kw * a * b, a * b};
    }
  } else {
    if (groups != 1 || dst_c != a || src_c != b) {
      return internal_error("inconsistent deconv params: src C ", src_c, ", filter ", a, "x", b,
                            ", dst C ", dst_c);
    }
    dims = {a, b, kh, kw};
    strides = {b, 1, kw * a * b, a * b};
  }
  if (!all_positive(dims) || !all_positive({p.src[0], p.src[1], p.src[2], p.dst[1], p.dst[2]})) {
    return internal_error("conv params with an empty dimension reached oneDNN");
  }
  d.src = nhwc_desc(p.src);
  d.dst = nhwc_desc(p.dst);
  d.bias = memory::desc({dst_c}, DataType::f32, Tag::a);
  d.user_weights = memory::desc(dims, DataType::f32, strides);
  d.any_weights = memory::desc(dims, DataType::f32, Tag::any);
  for (int i = 0; i < kSpatialDims; ++i) {
    d.strides.push_back(p.strides[i]);
    d.dilations.push_back(p.dilations[i] - 1);  // oneDNN counts inserted gaps
    d.pad_l.push_back(p.pad_l[i]);
    d.pad_r.push_back(p.pad_r[i]);
  }
  return d;
}

// Wraps a built primitive-desc of an op with weights: creates the primitive and its
// (handle-less) memory objects.
template <typename Primitive, typename PrimitiveDesc>
Result<std::unique_ptr<DnnlOp>> finish(const PrimitiveDesc& pd, const memory::desc& user_weights,
                                       bool has_bias, DnnlOp* replaces, const WeightsScale& scale) {
  auto impl = std::make_unique<DnnlOp::Impl>();
  impl->primitive = Primitive(pd);
  memory::desc bias_md = has_bias ? pd.bias_desc() : memory::desc();
  impl->add_common_args(pd.src_desc(), pd.dst_desc(), has_bias ? &bias_md : nullptr,
                        pd.scratchpad_desc());
  PBMEM_RETURN_IF_ERROR(impl->add_weights(user_weights, pd.weights_desc(), replaces, scale));
  return std::make_unique<DnnlOp>(std::move(impl));
}

}  // namespace

Result<std::unique_ptr<DnnlOp>> make_conv(const ConvParams& p) {
  PBMEM_ASSIGN_OR_RETURN(ConvDescs d, conv_descs(p));
  const memory::desc no_bias;
  const memory::desc& bias = p.has_bias ? d.bias : no_bias;
  if (!p.weights_scale.empty() && static_cast<int64_t>(p.weights_scale.size()) != p.dst[3]) {
    return internal_error("conv weights scale has ", p.weights_scale.size(), " factors for ",
                          p.dst[3], " output channels");
  }
  // Output channels are dim 0 of oneDNN's weights, or dims 0 (group) and 1 (within the group).
  WeightsScale scale;
  scale.factors = &p.weights_scale;
  scale.mask = p.groups > 1 ? (1 << 0) | (1 << 1) : 1 << 0;
  try {
    dnnl::primitive_attr attr = make_attr(p.post_ops);
    if (p.direction == ConvDirection::kForward) {
#if DNNL_VERSION_MAJOR >= 3
      dnnl::convolution_forward::primitive_desc pd(
          cpu_engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
          d.src, d.any_weights, bias, d.dst, d.strides, d.dilations, d.pad_l, d.pad_r, attr);
#else
      dnnl::convolution_forward::desc desc(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, d.src,
          d.any_weights, bias, d.dst, d.strides, d.dilations, d.pad_l, d.pad_r);
      dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu_engine());
#endif
      return finish<dnnl::convolution_forward>(pd, d.user_weights, p.has_bias, p.replaces, scale);
    }
    {
#if DNNL_VERSION_MAJOR >= 3
      dnnl::deconvolution_forward::primitive_desc pd(
          cpu_engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
          d.src, d.any_weights, bias, d.dst, d.strides, d.dilations, d.pad_l, d.pad_r, attr);
#else
      dnnl::deconvolution_forward::desc desc(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, d.src,
          d.any_weights, bias, d.dst, d.strides, d.dilations, d.pad_l, d.pad_r);
      dnnl::deconvolution_forward::primitive_desc pd(desc, attr, cpu_engine());
#endif
      return finish<dnnl::deconvolution_forward>(pd, d.user_weights, p.has_bias, p.replaces,
                                                 WeightsScale());
    }
  } catch (...) {
    return status_from_exception(p.direction == ConvDirection::kForward ? "convolution"
                                                                        : "deconvolution");
  }
}

// ---- matmul ----

Result<std::unique_ptr<DnnlOp>> make_matmul(const MatMulParams& p) {
  const size_t batch_rank = p.batch_a.size();
  if (p.batch_b.size() != batch_rank || batch_rank + 2 > static_cast<size_t>(DNNL_MAX_NDIMS)) {
    return internal_error("matmul batch ranks ", batch_rank, " and ", p.batch_b.size(),
                          " are unequal or above oneDNN's limit");
  }
  memory::dims a_dims(p.batch_a.begin(), p.batch_a.end());
  memory::dims b_dims(p.batch_b.begin(), p.batch_b.end());
  memory::dims dst_dims;
  for (size_t i = 0; i < batch_rank; ++i) {
    const int64_t da = a_dims[i], db = b_dims[i];
    if (da != db && da != 1 && db != 1) {
      return internal_error("matmul batch dims ", da, " and ", db, " do not broadcast");
    }
    dst_dims.push_back(da == 1 ? db : da);
  }
  // Stored (byte) order of A and B: transposes swap the last two dims.
  memory::dims a_stored = a_dims, b_stored = b_dims;
  a_stored.insert(a_stored.end(), {p.transpose_a ? p.k : p.m, p.transpose_a ? p.m : p.k});
  b_stored.insert(b_stored.end(), {p.transpose_b ? p.n : p.k, p.transpose_b ? p.k : p.n});
  memory::dims a_strides = compact_strides(a_stored), b_strides = compact_strides(b_stored);
  if (p.transpose_a) std::swap(a_strides[batch_rank], a_strides[batch_rank + 1]);
  if (p.transpose_b) std::swap(b_strides[batch_rank], b_strides[batch_rank + 1]);
  a_dims.insert(a_dims.end(), {p.m, p.k});
  b_dims.insert(b_dims.end(), {p.k, p.n});
  dst_dims.insert(dst_dims.end(), {p.m, p.n});
  if (!all_positive(a_dims) || !all_positive(b_dims)) {
    return internal_error("matmul params with an empty dimension reached oneDNN");
  }
  memory::dims bias_dims(batch_rank + 2, 1);
  bias_dims.back() = p.n;
  try {
    const memory::desc a_md(a_dims, DataType::f32, a_strides);
    const memory::desc user_b(b_dims, DataType::f32, b_strides);
    const memory::desc b_md = p.constant_weights ? memory::desc(b_dims, DataType::f32, Tag::any)
                                                 : user_b;
    const memory::desc dst_md(dst_dims, DataType::f32, compact_strides(dst_dims));
    const memory::desc bias_md = p.has_bias ? memory::desc(bias_dims, DataType::f32,
                                                           compact_strides(bias_dims))
                                            : memory::desc();
    dnnl::primitive_attr attr = make_attr(p.post_ops);
#if DNNL_VERSION_MAJOR >= 3
    dnnl::matmul::primitive_desc pd(cpu_engine(), a_md, b_md, bias_md, dst_md, attr);
#else
    dnnl::matmul::desc desc(a_md, b_md, bias_md, dst_md);
    dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
#endif
    return finish<dnnl::matmul>(pd, user_b, p.has_bias, p.replaces, WeightsScale());
  } catch (...) {
    return status_from_exception("matmul");
  }
}

// ---- pooling ----

Result<std::unique_ptr<DnnlOp>> make_pool(const PoolParams& p) {
  for (int64_t d : {p.src[0], p.src[1], p.src[2], p.src[3], p.dst[1], p.dst[2]}) {
    if (d <= 0) return internal_error("pooling params with an empty dimension reached oneDNN");
  }
  const dnnl::algorithm algorithm = p.kind == PoolKind::kMax
                                        ? dnnl::algorithm::pooling_max
                                        : dnnl::algorithm::pooling_avg_exclude_padding;
  const memory::dims strides = {p.strides[0], p.strides[1]};
  const memory::dims kernel = {p.kernel[0], p.kernel[1]};
  const memory::dims pad_l = {p.pad_l[0], p.pad_l[1]};
  const memory::dims pad_r = {p.pad_r[0], p.pad_r[1]};
  try {
    const memory::desc src = nhwc_desc(p.src), dst = nhwc_desc(p.dst);
    dnnl::primitive_attr attr = make_attr({});
#if DNNL_VERSION_MAJOR >= 3
    const memory::dims no_dilation = {0, 0};
    dnnl::pooling_forward::primitive_desc pd(cpu_engine(), dnnl::prop_kind::forward_inference,
                                             algorithm, src, dst, strides, kernel, no_dilation,
                                             pad_l, pad_r, attr);
#else
    dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src, dst,
                                     strides, kernel, pad_l, pad_r);
    dnnl::pooling_forward::primitive_desc pd(desc, attr, cpu_engine());
#endif
    auto impl = std::make_unique<DnnlOp::Impl>();
    impl->primitive = dnnl::pooling_forward(pd);
    impl->add_common_args(pd.src_desc(), pd.dst_desc(), nullptr, pd.scratchpad_desc());
    return std::make_unique<DnnlOp>(std::move(impl));
  } catch (...) {
    return status_from_exception("pooling");
  }
}

}  // namespace dnnl_adapter
}  // namespace pbmem
