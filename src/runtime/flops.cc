// Session::flops: counts the multiply-adds of the executed conv/matmul-family steps from the
// shapes prepare inferred (output shape x filter or reduction size), 2 FLOPs each, as benchmarks
// quote GFLOP/s. Element-wise ops are left out: they are memory-bound and a rounding error here.
#include <string>
#include <vector>

#include "runtime/session_impl.h"

namespace pbmem {

namespace {

double num_elements(const Shape& shape) {
  double n = 1;
  for (int i = 0; i < shape.rank(); ++i) n *= static_cast<double>(shape.dim(i));
  return n;
}

bool fully_known(const TensorInfo* info) { return info != nullptr && info->shape.fully_defined(); }

// Multiply-adds of one node, from its first output and its inputs' shapes; 0 for other ops.
double multiply_adds(const Node& node, const TensorInfo* out,
                     const std::vector<const TensorInfo*>& in) {
  const TensorInfo* in0 = in.size() > 0 ? in[0] : nullptr;
  const TensorInfo* in1 = in.size() > 1 ? in[1] : nullptr;
  constexpr int kFilterRank = 4;
  if (node.op == "Conv2D" || node.op == "Conv2DBackpropInput") {
    // Forward: each output element (N,OH,OW,Cout) sums KH*KW*Cin products. Backprop input is
    // the same product count, with the forward output as its input 2 (out_backprop).
    // Both take the filter (KH, KW, Cin, Cout) as input 1.
    if (!fully_known(in1) || in1->shape.rank() != kFilterRank) return 0;
    const Shape& f = in1->shape;
    double per_output = static_cast<double>(f.dim(0)) * static_cast<double>(f.dim(1)) *
                        static_cast<double>(f.dim(2));
    if (node.op == "Conv2D") return num_elements(out->shape) * per_output;
    const TensorInfo* out_backprop = in.size() > 2 ? in[2] : nullptr;
    return fully_known(out_backprop) ? num_elements(out_backprop->shape) * per_output : 0;
  }
  if (node.op == "DepthwiseConv2dNative") {
    if (!fully_known(in1) || in1->shape.rank() != kFilterRank) return 0;
    return num_elements(out->shape) * static_cast<double>(in1->shape.dim(0)) *
           static_cast<double>(in1->shape.dim(1));
  }
  if (node.op == "MatMul" || node.op == "BatchMatMul" || node.op == "BatchMatMulV2" ||
      node.op == "BatchMatMulV3") {
    // out has [..., M, N]; the reduction size K is the dim of input 0 that is not M.
    if (!fully_known(in0) || in0->shape.rank() < 2) return 0;
    const Shape& a = in0->shape;
    bool transposed = false;
    for (const char* key : {"transpose_a", "adj_x"}) {
      const AttrValue* attr = node.attr(key);
      if (attr != nullptr && attr->kind == AttrValue::Kind::kB) transposed |= attr->b;
    }
    double k = static_cast<double>(a.dim(transposed ? a.rank() - 2 : a.rank() - 1));
    return num_elements(out->shape) * k;
  }
  return 0;
}

}  // namespace

Result<double> Session::flops() const {
  const Impl& s = *impl_;
  if (!s.prepared) {
    return invalid_argument("flops: the session is not prepared yet (run or plan first)");
  }
  const Graph& graph = s.model->graph();
  constexpr double kFlopsPerMultiplyAdd = 2;
  double total = 0;
  for (const Step& step : s.steps) {
    const Node& node = graph.node(step.node);
    const auto& outs = s.infos[static_cast<size_t>(step.node)];
    if (outs.empty() || !fully_known(&outs[0])) continue;
    std::vector<const TensorInfo*> inputs;
    for (const TensorRef& ref : node.inputs) {
      const auto& infos = s.infos[static_cast<size_t>(ref.node)];
      inputs.push_back(static_cast<size_t>(ref.port) < infos.size()
                           ? &infos[static_cast<size_t>(ref.port)]
                           : nullptr);
    }
    total += kFlopsPerMultiplyAdd * multiply_adds(node, &outs[0], inputs);
  }
  return total;
}

}  // namespace pbmem
