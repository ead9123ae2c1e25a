// Helpers for kernels that apply a fused Epilogue (kernel.h): the oneDNN post-ops of its
// activations, the per-output-channel scaled copy of constant weights, the bias tensor, and the
// scalar path for outputs that are all epilogue (empty reductions).
#pragma once

#include <memory>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/dnnl_adapter.h"
#include "kernels/kernel.h"

namespace pbmem {

// Every activation oneDNN can apply as a post-op; false if one cannot.
bool activations_to_post_ops(const std::vector<Activation>& activations,
                             std::vector<dnnl_adapter::EltwisePostOp>* post_ops);

// weights * scale[c] over the last dim (weights viewed as [rows, scale.size()]), in a new
// tensor allocated from the current accounted scope. Error if the last dims do not match.
Result<Tensor> scale_output_channels(const Tensor& weights, int64_t channels_per_row,
                                     const std::vector<float>& scale);

// A float [C] tensor holding `shift`.
Result<Tensor> make_bias_tensor(const std::vector<float>& shift);

// A kernel for the head of an affine + activation chain that follows no conv/matmul: it
// infers as `original` (the head op, e.g. Mul) and, given the chain's epilogue, computes
// activations(x * scale + shift) over its input `data_input` in one pass (elementwise, so it
// may run in place).
std::unique_ptr<Kernel> make_standalone_epilogue_kernel(std::unique_ptr<Kernel> original,
                                                        int data_input);

// The epilogue of 0: what every output element is when the producer sums over nothing.
// `residual` (the epilogue's residual tensor, out's shape) is added when the epilogue has one.
void fill_with_epilogue_of_zero(const Epilogue& epilogue, const Tensor* residual, Tensor* out);

}  // namespace pbmem
