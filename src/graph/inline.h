// Inlining of function calls at load: every PartitionedCall / StatefulPartitionedCall node is
// replaced by its function's body (recursively for calls inside bodies), so the rest of pbmem
// sees one flat graph and plans its memory as a whole.
//
// Body node `n` of a call `c` becomes node `c/n` (nested: `c/inner/n`). Function args become
// the call's inputs. Readers of `c:k` read the tensor the function returns for output arg k (its
// `ret` entry) directly, skipping the Identity tf.function returns through, and `^c` becomes
// control inputs on the body's control_ret nodes and the call's own control inputs; so no node
// or control edge stands between a producer in a body and its readers outside, and fusion sees
// them as neighbours (the skipped Identity's control inputs join `^c`'s). A call that nothing
// reads (a graph output) stays as an IdentityN named `c` over its outputs (a NoOp without
// outputs); every call's outputs stay reachable by name through GraphDefView::call_outputs
// (Graph::resolve("c:1")). The call's control inputs are added to the body nodes that read no
// other body node. Attr values that are placeholders ("$T") are bound from the call's `f`
// attrs, then from the call node's attrs.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "graph/graphdef.h"

namespace pbmem {

// Output arg names of an op that has more than one output arg, each one tensor, in port order
// (FusedBatchNormV3: y, batch_mean, ...); nullptr for an op with a single output arg, whose
// "node:arg:i" is port i whatever the arg is called (also used for unknown ops).
using OutputArgsLookup = std::function<const std::vector<std::string>*(std::string_view op)>;

// True for the ops inline_function_calls replaces by the function they call.
bool is_function_call_op(std::string_view op);

// Replaces every call node in graph->nodes by its function body. Errors name the call node and
// function: a missing function, an input count that does not match the signature, an input that
// names no body node or output arg, an unbound placeholder, recursion, or too many nodes.
Status inline_function_calls(GraphDefView* graph, const OutputArgsLookup& output_args);

}  // namespace pbmem
