// oneDNN glue. Compiles against oneDNN 2.x (op descriptors, then primitive_desc(desc, attr,
// engine)) and 3.x (primitive_desc(engine, ...) directly); every difference is behind
// DNNL_VERSION_MAJOR in this file.
#include "kernels/dnnl_adapter.h"

#include "memory/allocator.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
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
    case EltwiseKind::kSwish: return dnnl::algorithm::eltwise_swish;
  }
  return dnnl::algorithm::eltwise_relu;
}

// The post-op slot of a fused residual: it comes first, so it is post-op 0.
constexpr int kResidualArg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1;

// How a fused residual tensor reaches a conv's dst.
enum class ResidualPostOp {
  kNone,
  kBinary,  // a binary add post-op reads it (kResidualArg)
  kSum,     // the caller copies it into dst first and the sum post-op adds dst's old value
};

// User-managed scratchpad (the runtime owns all memory) plus fused ops: a residual tensor added
// to dst (before the activations, as TF's Add precedes them), then element-wise ops.
dnnl::primitive_attr make_attr(const std::vector<EltwisePostOp>& post_ops,
                               const memory::desc* residual = nullptr,
                               ResidualPostOp residual_op = ResidualPostOp::kBinary) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (residual == nullptr) residual_op = ResidualPostOp::kNone;
  if (!post_ops.empty() || residual_op != ResidualPostOp::kNone) {
    dnnl::post_ops ops;
    if (residual_op == ResidualPostOp::kBinary) {
      ops.append_binary(dnnl::algorithm::binary_add, *residual);
    } else if (residual_op == ResidualPostOp::kSum) {
      ops.append_sum();
    }
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

// An activation of NHWC dims `nhwc`, with `depth` (NDHWC, logical NCDHW) for a 3-D op, laid
// out as TF's (plain) or as oneDNN prefers (any; 2-D convs only).
memory::desc activation_desc(const Dims4& nhwc, const std::optional<int64_t>& depth, bool any) {
  if (!depth) return any ? memory::desc({nhwc[0], nhwc[3], nhwc[1], nhwc[2]}, DataType::f32, Tag::any) : nhwc_desc(nhwc);
  return memory::desc({nhwc[0], nhwc[3], *depth, nhwc[1], nhwc[2]}, DataType::f32, Tag::ndhwc);
}

// The spatial window params oneDNN takes ({D,} H, W); dilations as oneDNN counts them (gaps).
struct Window {
  memory::dims strides, kernel, dilations, pad_l, pad_r;
};
Window make_window(const Dims2& strides, const Dims2& kernel, const Dims2& dilations,
                   const Dims2& pad_l, const Dims2& pad_r, const std::optional<DepthDim>& depth) {
  Window w;
  if (depth) {
    w.strides.push_back(depth->stride);
    w.kernel.push_back(depth->kernel);
    w.dilations.push_back(depth->dilation - 1);
    w.pad_l.push_back(depth->pad_l);
    w.pad_r.push_back(depth->pad_r);
  }
  for (int i = 0; i < kSpatialDims; ++i) {
    w.strides.push_back(strides[i]);
    w.kernel.push_back(kernel[i]);
    w.dilations.push_back(dilations[i] - 1);
    w.pad_l.push_back(pad_l[i]);
    w.pad_r.push_back(pad_r[i]);
  }
  return w;
}

std::optional<int64_t> src_depth(const std::optional<DepthDim>& d) {
  return d ? std::optional<int64_t>(d->src) : std::nullopt;
}
std::optional<int64_t> dst_depth(const std::optional<DepthDim>& d) {
  return d ? std::optional<int64_t>(d->dst) : std::nullopt;
}

// Logical dims of a memory desc (the accessor was renamed in oneDNN 3).
memory::dims dims_of(const memory::desc& md) {
#if DNNL_VERSION_MAJOR >= 3
  return md.get_dims();
#else
  return md.dims();
#endif
}

// oneDNN's tag name of a layout ("acdb" = NHWC, "aBcd8b" = nChw8c): dims from outermost to
// innermost stride as letters, upper case when blocked, then the inner blocks. oneDNN 2.x does
// not export its own formatter, so this mirrors it; "?" for a non-blocked (opaque) layout.
std::string layout_name(const memory::desc& md) {
#if DNNL_VERSION_MAJOR >= 3
  if (md.get_format_kind() != memory::format_kind::blocked) return "?";
  const memory::dims strides = md.get_strides();
  const memory::dims inner_blks = md.get_inner_blks(), inner_idxs = md.get_inner_idxs();
#else
  if (md.data.format_kind != dnnl_blocked) return "?";
  const dnnl_blocking_desc_t& blocking = md.data.format_desc.blocking;
  const memory::dims strides(blocking.strides, blocking.strides + md.data.ndims);
  const memory::dims inner_blks(blocking.inner_blks, blocking.inner_blks + blocking.inner_nblks);
  const memory::dims inner_idxs(blocking.inner_idxs, blocking.inner_idxs + blocking.inner_nblks);
#endif
  std::vector<int> order(strides.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return strides[a] > strides[b]; });
  std::string name;
  for (int dim : order) {
    const bool blocked = std::find(inner_idxs.begin(), inner_idxs.end(), dim) != inner_idxs.end();
    name += static_cast<char>((blocked ? 'A' : 'a') + dim);
  }
  for (size_t i = 0; i < inner_blks.size(); ++i) {
    name += std::to_string(inner_blks[i]) + static_cast<char>('a' + inner_idxs[i]);
  }
  return name;
}

// Row-major strides of `dims`.
memory::dims compact_strides(const memory::dims& dims) {
  memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return strides;
}

// oneDNN's kernels index a dimension with a 32-bit int: a larger one wraps (a batch of 2^32 made
// oneDNN 2.6 divide by zero), so it is refused before any primitive is built.
constexpr int64_t kMaxDnnlDim = std::numeric_limits<int32_t>::max();

Status dims_within_limit(const char* op, const memory::dims& dims) {
  for (int64_t d : dims) {
    if (d > kMaxDnnlDim) {
      return invalid_argument("the ", op, " has a dimension of ", d, ", above ", kMaxDnnlDim,
                              ", the largest oneDNN's kernels index");
    }
  }
  return ok_status();
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
  memory src, weights, bias, dst, scratch, residual;  // handle-less until run()/bind_weights()
  bool residual_in_dst = false;  // a sum post-op adds the residual: run() copies it to dst first
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
  std::string implementation;           // oneDNN's impl_info_str(), for diagnostics

  // The Impl of another op (nested, so it may read DnnlOp's private pointer).
  static const Impl& of(const DnnlOp& op) { return *op.impl_; }

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
size_t DnnlOp::src_bytes() const { return impl_->src.get_desc().get_size(); }
size_t DnnlOp::dst_bytes() const { return impl_->dst.get_desc().get_size(); }
std::string DnnlOp::src_layout_name() const { return layout_name(impl_->src.get_desc()); }
std::string DnnlOp::dst_layout_name() const { return layout_name(impl_->dst.get_desc()); }
std::string DnnlOp::implementation_name() const { return impl_->implementation; }
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
    if (im.residual || im.residual_in_dst) {
      if (buffers.residual == nullptr) return internal_error("oneDNN op run without its residual");
    }
    if (im.residual) im.residual.set_data_handle(const_cast<void*>(buffers.residual));
    if (im.residual_in_dst && buffers.residual != buffers.dst) {
      // Same descriptor as dst (conv_descs), so the same bytes; the buffers never overlap
      // otherwise (the planner gives live tensors disjoint ranges).
      std::memcpy(buffers.dst, buffers.residual, im.dst.get_desc().get_size());
    }
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

namespace {

// The names of the ISA values oneDNN 2.x and 3.x share; any other value is shown by number.
std::string cpu_isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "isa " + std::to_string(static_cast<int>(isa));
  }
}

}  // namespace

LibraryInfo library_info() {
  const dnnl_version_t* v = dnnl_version();
  LibraryInfo info;
  info.version =
      std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  info.cpu_isa = cpu_isa_name(dnnl_get_effective_cpu_isa());
  return info;
}

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
  if (p.depth) {
    if (groups != 1 || p.direction != ConvDirection::kForward) {
      return internal_error("3-D convolutions are forward and ungrouped only");
    }
    const int64_t kd = p.depth->kernel;  // DHWIO: [KD, KH, KW, I, O]
    dims = {b, a, kd, kh, kw};
    strides = {1, b, kh * kw * a * b, kw * a * b, a * b};
  }
  PBMEM_RETURN_IF_ERROR(dims_within_limit("convolution", dims));
  PBMEM_RETURN_IF_ERROR(dims_within_limit("convolution", {p.src[0], p.src[1], p.src[2], p.src[3],
                                                          p.dst[1], p.dst[2], p.dst[3]}));
  if (p.depth) {
    PBMEM_RETURN_IF_ERROR(dims_within_limit("convolution", {p.depth->src, p.depth->dst}));
  }
  if (!all_positive(dims) || !all_positive({p.src[0], p.src[1], p.src[2], p.dst[1], p.dst[2]}) ||
      (p.depth && !all_positive({p.depth->src, p.depth->dst}))) {
    return internal_error("conv params with an empty dimension reached oneDNN");
  }
  const bool any = p.activation_layout == ActivationLayout::kAny;
  if (any && p.depth) return internal_error("3-D convolutions take plain NDHWC activations only");
  d.src = activation_desc(p.src, src_depth(p.depth), any);
  d.dst = activation_desc(p.dst, dst_depth(p.depth), any);
  d.bias = memory::desc({dst_c}, DataType::f32, Tag::a);
  d.user_weights = memory::desc(dims, DataType::f32, strides);
  d.any_weights = memory::desc(dims, DataType::f32, Tag::any);
  const Window w = make_window(p.strides, {kh, kw}, p.dilations, p.pad_l, p.pad_r, p.depth);
  d.strides = w.strides;
  d.dilations = w.dilations;
  d.pad_l = w.pad_l;
  d.pad_r = w.pad_r;
  return d;
}

// Wraps a built primitive-desc of an op with weights: creates the primitive and its
// (handle-less) memory objects.
template <typename Primitive, typename PrimitiveDesc>
Result<std::unique_ptr<DnnlOp>> finish(const PrimitiveDesc& pd, const memory::desc& user_weights,
                                       bool has_bias, DnnlOp* replaces, const WeightsScale& scale,
                                       const memory::desc* residual = nullptr,
                                       bool residual_in_dst = false) {
  auto impl = std::make_unique<DnnlOp::Impl>();
  impl->primitive = Primitive(pd);
  impl->implementation = pd.impl_info_str();
  impl->residual_in_dst = residual_in_dst;
  memory::desc bias_md = has_bias ? pd.bias_desc() : memory::desc();
  impl->add_common_args(pd.src_desc(), pd.dst_desc(), has_bias ? &bias_md : nullptr,
                        pd.scratchpad_desc());
  if (residual != nullptr && !residual_in_dst) {
    impl->add_arg(kResidualArg, *residual, &impl->residual);
  }
  PBMEM_RETURN_IF_ERROR(impl->add_weights(user_weights, pd.weights_desc(), replaces, scale));
  return std::make_unique<DnnlOp>(std::move(impl));
}

// oneDNN's reference kernels run any layout but are one to two orders of magnitude slower than
// its JIT/GEMM ones: plain (mapped) weights are only used when something better takes them.
template <typename PrimitiveDesc>
bool is_reference_impl(const PrimitiveDesc& pd) {
  const std::string name = pd.impl_info_str();
  return name.rfind("ref", 0) == 0;
}

// A grouped (depthwise) conv on plain weights runs as one small GEMM per group: measured ~30x
// slower than the depthwise JIT kernel on packed weights (oneDNN 2.6, 28x28x192, docs/WEIGHTS.md)
// to save a 3x3xC filter of a few KiB. Such convs are packed.
template <typename PrimitiveDesc>
bool is_slow_for_plain_weights(const PrimitiveDesc& pd, int64_t groups) {
  const std::string name = pd.impl_info_str();
  return is_reference_impl(pd) || (groups > 1 && name.find("gemm") != std::string::npos);
}

// The inference primitive desc of a convolution (Primitive: convolution_forward or
// deconvolution_forward) with weights in layout `weights`.
template <typename Primitive>
typename Primitive::primitive_desc conv_primitive_desc(dnnl::algorithm algorithm, const ConvDescs& d,
                                                       const memory::desc& weights,
                                                       const memory::desc& bias,
                                                       const dnnl::primitive_attr& attr) {
#if DNNL_VERSION_MAJOR >= 3
  return typename Primitive::primitive_desc(cpu_engine(), dnnl::prop_kind::forward_inference,
                                            algorithm, d.src, weights, bias, d.dst, d.strides,
                                            d.dilations, d.pad_l, d.pad_r, attr);
#else
  typename Primitive::desc desc(dnnl::prop_kind::forward_inference, algorithm, d.src, weights,
                                bias, d.dst, d.strides, d.dilations, d.pad_l, d.pad_r);
  return typename Primitive::primitive_desc(desc, attr, cpu_engine());
#endif
}

// With plain_weights: weights in TF's layout, or Unimplemented when oneDNN has no fast
// implementation for them (is_slow_for_plain_weights; the caller then packs). Else oneDNN's
// preferred layout.
//
// A residual is added by a binary post-op, except where oneDNN picks a GEMM-based convolution:
// oneDNN 2.6's GEMM convolution accepts a binary post-op but, on CPUs whose post-processing
// kernel is the reference one (SSE4.1), adds wrong values (found by `make test-isa`). There the
// residual goes through dst and a sum post-op, which every convolution supports.
template <typename Primitive>
typename Primitive::primitive_desc residual_conv_desc(dnnl::algorithm algorithm,
                                                      const ConvDescs& d,
                                                      const memory::desc& weights,
                                                      const memory::desc& bias,
                                                      const ConvParams& p, bool* residual_in_dst) {
  const memory::desc* residual = p.residual_add ? &d.dst : nullptr;
  auto pd = conv_primitive_desc<Primitive>(algorithm, d, weights, bias,
                                           make_attr(p.post_ops, residual));
  *residual_in_dst =
      residual != nullptr && std::string(pd.impl_info_str()).find("gemm") != std::string::npos;
  if (!*residual_in_dst) return pd;
  return conv_primitive_desc<Primitive>(algorithm, d, weights, bias,
                                        make_attr(p.post_ops, residual, ResidualPostOp::kSum));
}

template <typename Primitive>
Result<std::unique_ptr<DnnlOp>> build_conv(const ConvParams& p, const ConvDescs& d,
                                           dnnl::algorithm algorithm, const memory::desc& bias) {
  const memory::desc* residual = p.residual_add ? &d.dst : nullptr;
  bool residual_in_dst = false;
  // Output channels are dim 0 of oneDNN's weights, or dims 0 (group) and 1 (within the group).
  WeightsScale scale;
  scale.factors = &p.weights_scale;
  scale.mask = p.groups > 1 ? (1 << 0) | (1 << 1) : 1 << 0;
  if (p.plain_weights) {
    try {
      auto pd = residual_conv_desc<Primitive>(algorithm, d, d.user_weights, bias, p,
                                              &residual_in_dst);
      if (!is_slow_for_plain_weights(pd, p.groups)) {
        return finish<Primitive>(pd, d.user_weights, p.has_bias, p.replaces, scale, residual,
                                 residual_in_dst);
      }
    } catch (const dnnl::error& e) {
      if (e.status != dnnl_unimplemented) throw;
    }
    return unimplemented("oneDNN has no fast implementation (only a reference one, a GEMM per "
                         "group, or none) for this convolution with weights in TF's layout");
  }
  auto pd = residual_conv_desc<Primitive>(algorithm, d, d.any_weights, bias, p, &residual_in_dst);
  return finish<Primitive>(pd, d.user_weights, p.has_bias, p.replaces, scale, residual,
                           residual_in_dst);
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
  const bool forward = p.direction == ConvDirection::kForward;
  try {
    if (p.residual_add && !forward) {
      return internal_error("a residual add is fused into forward convolutions only");
    }
    if (forward) {
      return build_conv<dnnl::convolution_forward>(p, d, dnnl::algorithm::convolution_direct, bias);
    }
    return build_conv<dnnl::deconvolution_forward>(p, d, dnnl::algorithm::deconvolution_direct, bias);
  } catch (...) {
    return status_from_exception(forward ? "convolution" : "deconvolution");
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
  PBMEM_RETURN_IF_ERROR(dims_within_limit("matmul", a_dims));
  PBMEM_RETURN_IF_ERROR(dims_within_limit("matmul", b_dims));
  if (!all_positive(a_dims) || !all_positive(b_dims)) {
    return internal_error("matmul params with an empty dimension reached oneDNN");
  }
  memory::dims bias_dims(batch_rank + 2, 1);
  bias_dims.back() = p.n;
  try {
    const memory::desc a_md(a_dims, DataType::f32, a_strides);
    const memory::desc user_b(b_dims, DataType::f32, b_strides);
    const memory::desc dst_md(dst_dims, DataType::f32, compact_strides(dst_dims));
    const memory::desc bias_md = p.has_bias ? memory::desc(bias_dims, DataType::f32,
                                                           compact_strides(bias_dims))
                                            : memory::desc();
    dnnl::primitive_attr attr = make_attr(p.post_ops);
    auto primitive_desc = [&](const memory::desc& b_md) {
#if DNNL_VERSION_MAJOR >= 3
      return dnnl::matmul::primitive_desc(cpu_engine(), a_md, b_md, bias_md, dst_md, attr);
#else
      dnnl::matmul::desc desc(a_md, b_md, bias_md, dst_md);
      return dnnl::matmul::primitive_desc(desc, attr, cpu_engine());
#endif
    };
    // Computed weights are always used as they are; constant ones in place when asked (as
    // build_conv: Unimplemented when only a reference kernel takes them), else in oneDNN's
    // preferred layout.
    if (!p.constant_weights || p.plain_weights) {
      try {
        dnnl::matmul::primitive_desc pd = primitive_desc(user_b);
        if (!p.constant_weights || !is_reference_impl(pd)) {
          return finish<dnnl::matmul>(pd, user_b, p.has_bias, p.replaces, WeightsScale());
        }
      } catch (const dnnl::error& e) {
        if (!p.constant_weights || e.status != dnnl_unimplemented) throw;
      }
      return unimplemented("oneDNN has only a reference implementation, or none, for this "
                           "matmul with weights in TF's layout");
    }
    dnnl::matmul::primitive_desc pd = primitive_desc(memory::desc(b_dims, DataType::f32, Tag::any));
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
  PBMEM_RETURN_IF_ERROR(dims_within_limit("pooling", {p.src[0], p.src[1], p.src[2], p.src[3]}));
  if (p.depth) PBMEM_RETURN_IF_ERROR(dims_within_limit("pooling", {p.depth->src}));
  if (p.depth && !all_positive({p.depth->src, p.depth->dst})) {
    return internal_error("pooling params with an empty dimension reached oneDNN");
  }
  const dnnl::algorithm algorithm = p.kind == PoolKind::kMax
                                        ? dnnl::algorithm::pooling_max
                                        : dnnl::algorithm::pooling_avg_exclude_padding;
  const Window w = make_window(p.strides, p.kernel, {1, 1}, p.pad_l, p.pad_r, p.depth);
  const memory::dims& strides = w.strides;
  const memory::dims& kernel = w.kernel;
  const memory::dims& pad_l = w.pad_l;
  const memory::dims& pad_r = w.pad_r;
  try {
    const memory::desc src = activation_desc(p.src, src_depth(p.depth), false);
    const memory::desc dst = activation_desc(p.dst, dst_depth(p.depth), false);
    dnnl::primitive_attr attr = make_attr({});
#if DNNL_VERSION_MAJOR >= 3
    const memory::dims& no_dilation = w.dilations;  // all 0
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
    impl->implementation = pd.impl_info_str();
    impl->add_common_args(pd.src_desc(), pd.dst_desc(), nullptr, pd.scratchpad_desc());
    return std::make_unique<DnnlOp>(std::move(impl));
  } catch (...) {
    return status_from_exception("pooling");
  }
}

// ---- layout reorders ----

Result<std::unique_ptr<DnnlOp>> make_layout_reorder(const DnnlOp& op, LayoutReorder direction) {
  constexpr size_t kActivationRank = 4;
  const DnnlOp::Impl& built = DnnlOp::Impl::of(op);
  const bool to_src = direction == LayoutReorder::kNhwcToSrc;
  try {
    const memory::desc op_md = to_src ? built.src.get_desc() : built.dst.get_desc();
    const memory::dims dims = dims_of(op_md);
    if (dims.size() != kActivationRank) {
      return internal_error("layout reorder of a rank-", dims.size(), " operand (needs rank 4)");
    }
    const memory::desc plain(dims, DataType::f32, Tag::nhwc);
    const memory::desc& from = to_src ? plain : op_md;
    const memory::desc& to = to_src ? op_md : plain;
    dnnl::primitive_attr attr = make_attr({});
    dnnl::reorder::primitive_desc pd(cpu_engine(), from, cpu_engine(), to, attr);
    auto impl = std::make_unique<DnnlOp::Impl>();
    impl->primitive = dnnl::reorder(pd);
    impl->implementation = pd.impl_info_str();
    // A reorder's DNNL_ARG_FROM/TO are DNNL_ARG_SRC/DST, so it runs like any other op.
    static_assert(DNNL_ARG_FROM == DNNL_ARG_SRC && DNNL_ARG_TO == DNNL_ARG_DST, "reorder args");
    impl->add_common_args(from, to, nullptr, pd.scratchpad_desc());
    return std::make_unique<DnnlOp>(std::move(impl));
  } catch (...) {
    return status_from_exception("layout reorder");
  }
}

}  // namespace dnnl_adapter
}  // namespace pbmem
