// Graph fusion at session creation (before prepare): a Conv2D, DepthwiseConv2dNative or MatMul
// followed by a chain of
//   - per-channel affine ops with a constant operand: BiasAdd, Add/AddV2, Sub, Mul (what Keras'
//     BatchNormalization and bias lower to in a frozen graph), then
//   - element-wise activations: Relu, Relu6, LeakyRelu, Elu, Sigmoid, Tanh, and swish
//     y * sigmoid(beta * y) as TF's nn.silu and Keras lower it (Mul(beta, y), Sigmoid, Mul; the
//     IdentityN that tf.custom_gradient wraps around it is a view, see match_swish),
// is computed by the producer alone: the affine part becomes y = x * scale[c] + shift[c], which
// the conv folds into its packed weights and bias, and the activations become oneDNN post-ops.
// The fused nodes stay in the graph as views of the producer's output (no run, no buffer), so
// names, outputs and the memory plan keep working.
//
// Also, a Pad/PadV2 that adds zeros around H and W only, whose one consumer is a forward conv's
// data input, becomes part of the conv's padding (Kernel::set_input_padding): the Pad node is
// then a view of its input under the padded shape, which only that conv reads.
//
// A residual Add(chain, r) of a computed tensor r of the chain's exact shape, produced earlier
// in the schedule, joins a conv's chain after the affine ops and before the activations: the
// conv adds r as a oneDNN binary post-op and reads it as an extra input (Kernel::extra_inputs),
// so the plan keeps r alive until the conv has run and schedules the conv after r's producer.
//
// An affine op whose data input no conv/matmul produces (BatchNorm after a Concat) heads its
// own chain when one follows: its kernel becomes a one-pass kernel for the whole chain
// (make_standalone_epilogue_kernel), the rest are views as above.
//
// A chain stops at a tensor with more than one consumer (except a swish's), a control
// consumer, a requested output, a non-constant or non-per-channel operand, a shape change, or
// anything the producer's kernel does not accept (Kernel::accepts_epilogue).
#pragma once

#include <memory>
#include <vector>

#include "core/status.h"
#include "kernels/kernel.h"
#include "runtime/model.h"

namespace pbmem {

struct FusionStats {
  int producers = 0;    // conv/matmul nodes that took an epilogue
  int fused_nodes = 0;  // nodes now computed by a neighbour (epilogues and Pads)
};

// With WeightsMode::kMapped, a per-channel scale (a BatchNorm Mul) is not folded into a Conv2D
// whose filter the conv will read in place from the file: folding needs a scaled copy of the
// filter, as large as the packed one. The Mul then heads a one-pass chain of its own (below),
// in place on the conv's output, so the arena does not grow. (oneDNN's alternative, the scale
// and shift as per-channel binary post-ops, runs ~17x slower on the GEMM convolution that takes
// plain weights in oneDNN 2.6; docs/WEIGHTS.md.)
//
// Rewrites `kernels` (by node index, for the nodes in `schedule`): producers get their
// epilogue, fused nodes get a kernel that aliases the producer's output.
FusionStats fuse_epilogues(const Model& model, const std::vector<int>& schedule,
                           const std::vector<TensorRef>& requested_outputs, WeightsMode weights,
                           std::vector<std::unique_ptr<Kernel>>* kernels);

}  // namespace pbmem
