// Shared pieces of the NN kernel family (conv.cc, pool.cc, batchnorm.cc, fake_quant.cc, lrn.cc):
// family registration hooks and TF's NHWC attribute rules (strides/ksize/dilations lists,
// SAME/VALID/EXPLICIT padding), so every op validates them the same way.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "graph/ir.h"
#include "kernels/kernel.h"
#include "kernels/util.h"

namespace pbmem {

// Called from register_nn_ops (conv.cc).
Status register_pool_ops(OpRegistry& registry);        // kernels/pool.cc
Status register_batchnorm_ops(OpRegistry& registry);   // kernels/batchnorm.cc
Status register_fake_quant_ops(OpRegistry& registry);  // kernels/fake_quant.cc
Status register_lrn_ops(OpRegistry& registry);         // kernels/lrn.cc
Status register_conv3d_ops(OpRegistry& registry);      // kernels/conv3d.cc
Status register_dilation_ops(OpRegistry& registry);    // kernels/dilation2d.cc

inline constexpr int kNhwcRank = 4;
inline constexpr int kNhwcBatch = 0;
inline constexpr int kNhwcHeight = 1;
inline constexpr int kNhwcWidth = 2;
inline constexpr int kNhwcChannel = 3;

using HW = std::array<int64_t, 2>;  // {height, width}

// The node's data_format attribute (default NHWC): NCHW (or NCHW_VECT_C) is unimplemented.
Status require_nhwc(const Node& node);

// A 4-entry NHWC list attribute (strides, dilations, ksize): every entry >= 1 and the batch and
// channel entries 1. `fallback` is used when the attribute is absent (empty: required).
Result<HW> read_nhwc_window_attr(const Node& node, const char* name,
                                 const std::vector<int64_t>& fallback);

// The padding and explicit_paddings attributes.
struct Padding2D {
  Padding padding = Padding::kValid;
  HW before{0, 0};  // EXPLICIT only: top, left
  HW after{0, 0};   // EXPLICIT only: bottom, right
};
Result<Padding2D> read_padding(const Node& node);

// Output size and pads of one spatial dim as TF computes them; unknown input -> unknown output.
// Fails like TF when the output size would be negative. axis: 0 = height, 1 = width,
// kDepthAxis = depth (of a 3-D op; SAME or VALID only).
inline constexpr int kDepthAxis = 2;
Result<WindowDim> spatial_window(const Node& node, int64_t input, int64_t filter, int64_t stride,
                                 int64_t dilation, const Padding2D& padding, int axis);

// Input i must be float32 (the only type the NN kernels compute in); kInvalid (not yet known)
// passes.
Status require_float_input(const InferContext& ctx, int i, const char* what);

// Input i has rank 4 when its rank is known.
Status require_rank4_if_known(const InferContext& ctx, int i, const char* what);

}  // namespace pbmem
