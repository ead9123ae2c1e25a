// Shape and dtype inference over a schedule, with constant folding.
//
// Each node's kernel infers its outputs from its inputs' TensorInfo. When every data input of a
// foldable node is constant, the node is evaluated right here (infer, prepare, run on owned
// buffers) and its outputs become constants: this is how Keras shape subgraphs
// (Shape -> StridedSlice -> Pack -> Reshape) disappear before running. Source nodes (no inputs,
// e.g. Const) are never "run"; their infer() publishes their value.
//
// At load time shapes may be partial (unknown batch) and folding is limited to small tensors;
// at prepare time all shapes are concrete and folding has no size limit.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "graph/ir.h"
#include "kernels/kernel.h"

namespace pbmem {

struct InferParams {
  bool concrete = false;  // prepare time: every shape must come out fully defined
  // Largest output (bytes) folded when not concrete; keeps `inspect` from touching weights.
  int64_t load_fold_limit_bytes = 64 * 1024;
};

// Gathers a node's input infos from the per-node output infos; checks ports exist.
Result<std::vector<const TensorInfo*>> gather_inputs(const Node& node,
                                                     const std::vector<std::vector<TensorInfo>>& infos);

// Infers (and folds, when possible) one node. On success *outputs holds one info per output.
// When params.concrete, also calls kernel.prepare() for nodes that will run.
Status infer_node(Kernel& kernel, const Node& node, const std::vector<const TensorInfo*>& inputs,
                  const InferParams& params, std::vector<TensorInfo>* outputs);

// Runs a kernel once on constant inputs into freshly allocated outputs (used for folding).
Status evaluate_constant_node(Kernel& kernel, const Node& node, const InferContext& ctx,
                              std::vector<TensorInfo>* outputs);

}  // namespace pbmem
