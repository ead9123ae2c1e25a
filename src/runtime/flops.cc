// Session::flops: counts the multiply-adds of the executed steps whose op record can count them
// (OpRecord::multiply_adds: the conv/matmul family, from the shapes prepare inferred), 2 FLOPs
// each, as benchmarks quote GFLOP/s. Element-wise ops are left out: they are memory-bound and a
// rounding error here.
#include <vector>

#include "runtime/session_impl.h"

namespace pbmem {

Result<double> Session::flops() const {
  const Impl& s = *impl_;
  if (!s.prepared) {
    return invalid_argument("flops: the session is not prepared yet (run or plan first)");
  }
  const Graph& graph = s.model->graph();
  constexpr double kFlopsPerMultiplyAdd = 2;
  double total = 0;
  for (const Step& step : s.steps) {
    const OpRecord* record = s.model->op_record(step.node);
    if (record == nullptr || record->multiply_adds == nullptr) continue;
    const Node& node = graph.node(step.node);
    const auto& outs = s.infos[static_cast<size_t>(step.node)];
    if (outs.empty() || known_shape(&outs[0]) == nullptr) continue;
    std::vector<const TensorInfo*> inputs;
    for (const TensorRef& ref : node.inputs) {
      const auto& infos = s.infos[static_cast<size_t>(ref.node)];
      inputs.push_back(static_cast<size_t>(ref.port) < infos.size()
                           ? &infos[static_cast<size_t>(ref.port)]
                           : nullptr);
    }
    total += kFlopsPerMultiplyAdd * record->multiply_adds(node, outs[0], inputs);
  }
  return total;
}

}  // namespace pbmem
