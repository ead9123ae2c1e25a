// The one place that talks to oneDNN. Kernels describe an operation with a small params struct
// (TF layouts: NHWC activations, HWIO filters, row-major matrices); the adapter builds the
// primitive once (at prepare), picks the weights layout oneDNN prefers (format `any`) and
// reorders weights into it once, and runs with caller-owned buffers and caller-owned scratch.
//
// No oneDNN type appears here, so only dnnl_adapter.cc depends on the oneDNN major version
// (2.x on Debian 12, 3.x on Debian 13). oneDNN exceptions never escape: they become Statuses.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace pbmem {
namespace dnnl_adapter {

class DnnlOp;

using Dims2 = std::array<int64_t, 2>;  // {height, width}
using Dims4 = std::array<int64_t, 4>;  // NHWC, or a TF filter [KH, KW, A, B]

// Element-wise operations oneDNN can fuse after a conv/matmul (for later graph fusions).
enum class EltwiseKind {
  kRelu,      // alpha = negative slope (0: plain ReLU; LeakyRelu otherwise)
  kClip,      // clamp to [alpha, beta] (Relu6: 0, 6)
  kElu,       // alpha = scale of the negative part
  kLogistic,  // sigmoid
  kTanh,
  kSwish,     // x * sigmoid(alpha * x)
};
struct EltwisePostOp {
  EltwiseKind kind = EltwiseKind::kRelu;
  float alpha = 0.0f;
  float beta = 0.0f;
};

// The depth dim of a 3-D op (NDHWC activations, DHWIO filters [KD, KH, KW, I, O]): the other
// params then describe the N, H, W, C dims as for 2-D. Forward convs (groups = 1) and pools only.
struct DepthDim {
  int64_t src = 1;
  int64_t dst = 1;
  int64_t kernel = 1;  // filter or window depth
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t pad_l = 0;  // front
  int64_t pad_r = 0;  // back
};

// How a conv's src and dst activations are laid out in memory.
enum class ActivationLayout {
  kNhwc,  // plain NHWC, TF's bytes: what every other kernel reads (the default)
  kAny,   // oneDNN's choice (blocked, e.g. nChw8c on AVX2, for most shapes): only oneDNN ops with
          // the same layout, or the reorders of make_layout_reorder(), can read these bytes
};

enum class ConvDirection {
  kForward,       // Conv2D, DepthwiseConv2dNative (grouped)
  kBackwardData,  // Conv2DBackpropInput (oneDNN deconvolution)
};

// A 2-D convolution over NHWC float tensors. `weights` are the dims of the TF filter, whose
// bytes are HWIO:
//   forward:       [KH, KW, src C / groups, dst C]; output channel o belongs to group
//                  o / (dst C / groups). A depthwise filter [KH, KW, C, M] is exactly the
//                  grouped filter [KH, KW, 1, C*M] with groups = C.
//   backward data: [KH, KW, dst C, src C] (the filter of the forward conv whose input gradient
//                  this is), groups = 1.
// Dilations and pads are TF's (dilation 1 = dense); pads are those of the forward conv.
struct ConvParams {
  ConvDirection direction = ConvDirection::kForward;
  Dims4 src{};
  Dims4 weights{};
  Dims4 dst{};
  Dims2 strides{1, 1};
  Dims2 dilations{1, 1};
  Dims2 pad_l{0, 0};  // top, left
  Dims2 pad_r{0, 0};  // bottom, right
  std::optional<DepthDim> depth;  // set for Conv3D
  int64_t groups = 1;
  bool has_bias = false;  // bias: [dst C]
  // Forward only: dst += a residual tensor of dst's dims (NHWC), after the bias and before
  // post_ops (a fused residual Add); run() then needs RunBuffers::residual.
  bool residual_add = false;
  std::vector<EltwisePostOp> post_ops;
  // kAny: src and dst use the layout oneDNN picks; size buffers with src_bytes()/dst_bytes().
  ActivationLayout activation_layout = ActivationLayout::kNhwc;
  // Use the weights in their TF layout, in place (mapped weights): fails with Unimplemented
  // when oneDNN has no fast implementation for that layout (only a reference one, or for a
  // grouped/depthwise conv only a GEMM per group; the caller then packs). False: oneDNN's
  // preferred layout (packed, unless that is TF's layout: packed_weights_bytes() is then 0).
  bool plain_weights = false;
  // Per-output-channel factors (dst C of them, forward only) for constant weights, or empty.
  // When the weights are packed, the packing reorder multiplies them in (one pass over the
  // weights instead of a scaled copy and then the reorder); weights_scaled() then says so and
  // bind_weights() takes the unscaled weights. Otherwise the caller binds scaled weights.
  std::vector<float> weights_scale;
  // The op this one replaces (re-prepare for new shapes), or null. When the packed weight layout
  // is unchanged its packed buffer is taken instead of allocating a new one; otherwise it is
  // freed first. Either way `replaces` must not run again.
  DnnlOp* replaces = nullptr;
};

// dst[..., M, N] = op(A)[..., M, K] x op(B)[..., K, N] (+ bias[N]), row-major. `batch_a` and
// `batch_b` have the same length (callers pad with leading 1s); a 1 broadcasts against the
// other side, NumPy style. With transpose_a the bytes of A are [..., K, M] (same for B).
struct MatMulParams {
  std::vector<int64_t> batch_a;
  std::vector<int64_t> batch_b;
  int64_t m = 0;
  int64_t k = 0;
  int64_t n = 0;
  bool transpose_a = false;
  bool transpose_b = false;
  // B is constant: bind_weights() reorders it once into oneDNN's preferred layout. Otherwise B
  // is used in place every run (bind_weights() just records the pointer).
  bool constant_weights = false;
  bool has_bias = false;
  std::vector<EltwisePostOp> post_ops;
  bool plain_weights = false;  // as ConvParams::plain_weights (constant weights only)
  DnnlOp* replaces = nullptr;  // as ConvParams::replaces
};

enum class PoolKind {
  kMax,                  // padding never wins
  kAvgExcludePadding,    // divides by the number of non-padded elements (TF's AvgPool)
};

struct PoolParams {
  PoolKind kind = PoolKind::kMax;
  Dims4 src{};  // NHWC
  Dims4 dst{};  // NHWC
  Dims2 kernel{1, 1};
  Dims2 strides{1, 1};
  Dims2 pad_l{0, 0};
  Dims2 pad_r{0, 0};
  std::optional<DepthDim> depth;  // set for MaxPool3D / AvgPool3D
};

// Buffers of one run. Activations are plain NHWC / row-major float.
struct RunBuffers {
  const void* src = nullptr;
  const void* bias = nullptr;  // when the params said has_bias
  void* dst = nullptr;
  void* scratch = nullptr;     // scratch_bytes() bytes, kTensorAlignment-aligned
  const void* residual = nullptr;  // when the params said residual_add (last: positional inits)
};

// A built oneDNN primitive with its memory objects. Not thread-safe: one per kernel instance.
class DnnlOp {
 public:
  ~DnnlOp();
  DnnlOp(const DnnlOp&) = delete;
  DnnlOp& operator=(const DnnlOp&) = delete;

  // Scratch run() needs (user-managed scratchpad).
  size_t scratch_bytes() const;
  // Bytes of the src and dst buffers run() reads and writes, in the op's own layouts (more than
  // the NHWC size when a blocked layout pads the channels to a multiple of the block).
  size_t src_bytes() const;
  size_t dst_bytes() const;
  // oneDNN's names for the src layout (e.g. "aBcd8b" = nChw8c, "acdb" = NHWC) and for the
  // implementation it chose (e.g. "jit:avx2"): for benchmarks and diagnostics.
  std::string src_layout_name() const;
  std::string dst_layout_name() const;
  std::string implementation_name() const;
  // Bytes the op holds for reordered weights (0 when weights are used in place).
  size_t packed_weights_bytes() const;
  // True when the packed weights were taken over, already bound, from the op this one replaces
  // (same layout, same constant): bind_weights() may then be skipped.
  bool weights_adopted() const;
  // True when bind_weights() multiplies the weights by ConvParams::weights_scale itself.
  bool weights_scaled() const;
  // Supplies the weights in their TF layout. When oneDNN wants another layout they are
  // reordered into a buffer the op allocated at creation; otherwise the pointer is used in
  // place and the caller keeps the bytes alive. Call once at prepare for constant weights, or
  // before every run for weights computed at run time. Never allocates.
  Status bind_weights(const void* user_weights);
  // Executes. Never allocates.
  Status run(const RunBuffers& buffers);

  struct Impl;
  explicit DnnlOp(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Builders, called at prepare time. Errors name no node: callers add context.
Result<std::unique_ptr<DnnlOp>> make_conv(const ConvParams& params);
Result<std::unique_ptr<DnnlOp>> make_matmul(const MatMulParams& params);
Result<std::unique_ptr<DnnlOp>> make_pool(const PoolParams& params);

// Reorders between plain NHWC and the activation layout of a built 4-D op (conv or pool):
// kNhwcToSrc turns NHWC bytes into the op's src layout, kDstToNhwc its dst bytes into NHWC.
// Run the result with RunBuffers{src, dst} (and scratch when scratch_bytes() > 0); when the
// op's layout is NHWC it is a plain copy.
enum class LayoutReorder { kNhwcToSrc, kDstToNhwc };
Result<std::unique_ptr<DnnlOp>> make_layout_reorder(const DnnlOp& op, LayoutReorder direction);

// Largest rank oneDNN accepts for a matmul operand (batch dims + 2).
int max_matmul_rank();

// The oneDNN library the process runs, and the instruction set its kernels use on this CPU:
// the CPU's best, or lower when the ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) environment
// variable caps it. Numerics, scratch sizes and kernel names depend on both, so they belong
// in any report that compares runs across machines.
struct LibraryInfo {
  std::string version;  // "2.6.3"
  std::string cpu_isa;  // "avx2", "avx512_core_bf16", ...
};
LibraryInfo library_info();

}  // namespace dnnl_adapter
}  // namespace pbmem
