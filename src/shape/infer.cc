#include "shape/infer.h"

#include <algorithm>
#include <cstdlib>

namespace pbmem {

Result<std::vector<const TensorInfo*>> gather_inputs(
    const Node& node, const std::vector<std::vector<TensorInfo>>& infos) {
  std::vector<const TensorInfo*> inputs;
  inputs.reserve(node.inputs.size());
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const TensorRef& ref = node.inputs[i];
    const auto& producer = infos[static_cast<size_t>(ref.node)];
    if (ref.port < 0 || ref.port >= static_cast<int>(producer.size())) {
      return node.error("input ", i, " refers to output ", ref.port, " of a node that has ",
                        producer.size(), " outputs");
    }
    inputs.push_back(&producer[static_cast<size_t>(ref.port)]);
  }
  return inputs;
}

namespace {

bool all_inputs_constant(const std::vector<const TensorInfo*>& inputs) {
  for (const TensorInfo* in : inputs) {
    if (!in->value) return false;
  }
  return true;
}

bool outputs_within(const std::vector<TensorInfo>& outputs, int64_t limit) {
  int64_t total = 0;
  for (const TensorInfo& out : outputs) {
    if (out.value) continue;
    auto bytes = out.shape.num_bytes(out.dtype);
    if (!bytes.ok() || !checked_add(total, *bytes, &total) || total > limit) return false;
  }
  return true;
}

Status check_concrete(const Node& node, const std::vector<TensorInfo>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const TensorInfo& out = outputs[i];
    if (!out.shape.fully_defined()) {
      return node.error("output ", i, " has shape ", out.shape.str(),
                        " which is not fully defined even though every input shape is known");
    }
    if (out.dtype == DType::kInvalid) return internal_error(node.describe(), ": output ", i, " has no dtype");
    PBMEM_RETURN_IF_ERROR(out.shape.num_bytes(out.dtype).status().with_context(
        node.describe() + ": output " + std::to_string(i)));
  }
  return ok_status();
}

// Every shape a kernel publishes must have a byte size that fits in int64, counting only its
// known dims, so downstream kernels can multiply dims without overflow checks.
Status check_sizes(const Node& node, const std::vector<TensorInfo>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const TensorInfo& out = outputs[i];
    int64_t bytes = std::max<int64_t>(1, static_cast<int64_t>(dtype_size(out.dtype)));
    for (int64_t d : out.shape.dims()) {
      if (d >= 0 && !checked_mul(bytes, d, &bytes)) {
        return node.error("output ", i, " has shape ", out.shape.str(), " whose size in bytes overflows int64");
      }
    }
  }
  return ok_status();
}

}  // namespace

Status evaluate_constant_node(Kernel& kernel, const Node& node, const InferContext& ctx,
                              std::vector<TensorInfo>* outputs) {
  std::vector<const Tensor*> inputs;
  for (int i = 0; i < ctx.num_inputs(); ++i) inputs.push_back(ctx.const_input(i));
  std::vector<Tensor> owned(ctx.outputs().size());
  std::vector<Tensor*> out_ptrs;
  for (size_t i = 0; i < owned.size(); ++i) {
    const TensorInfo& info = ctx.outputs()[i];
    if (info.value) {
      owned[i] = *info.value;
    } else if (kernel.aliases_input0() && i == 0) {
      owned[i] = inputs[0]->reshaped(info.shape);
    } else {
      PBMEM_ASSIGN_OR_RETURN(owned[i], Tensor::allocate(info.dtype, info.shape));
    }
    out_ptrs.push_back(&owned[i]);
  }
  bool needs_run = !(kernel.aliases_input0() && owned.size() == 1);
  if (needs_run) {
    std::unique_ptr<void, decltype(&std::free)> scratch(nullptr, &std::free);
    size_t scratch_bytes = kernel.scratch_bytes();
    if (scratch_bytes > 0) {
      scratch.reset(std::aligned_alloc(kTensorAlignment,
                                       (scratch_bytes + kTensorAlignment - 1) / kTensorAlignment *
                                           kTensorAlignment));
      if (!scratch) return resource_exhausted(node.describe(), ": cannot allocate ", scratch_bytes, " bytes of scratch");
    }
    RunContext run_ctx(node, inputs, out_ptrs, scratch.get(), scratch_bytes);
    PBMEM_RETURN_IF_ERROR(kernel.run(run_ctx));
  }
  outputs->assign(ctx.outputs().begin(), ctx.outputs().end());
  for (size_t i = 0; i < owned.size(); ++i) {
    (*outputs)[i].value = std::make_shared<const Tensor>(std::move(owned[i]));
  }
  return ok_status();
}

Status infer_node(Kernel& kernel, const Node& node, const std::vector<const TensorInfo*>& inputs,
                  const InferParams& params, std::vector<TensorInfo>* outputs) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i]->dtype == DType::kInvalid) {
      return node.error("input ", i, " has no known dtype (its producer could not be inferred)");
    }
  }
  const bool fold = kernel.foldable() && !inputs.empty() && all_inputs_constant(inputs);
  // Constant inputs have concrete shapes, so a folding node is inferred as at prepare time.
  InferContext ctx(node, inputs, params.concrete || fold);
  PBMEM_RETURN_IF_ERROR(kernel.infer(ctx));
  PBMEM_RETURN_IF_ERROR(check_sizes(node, ctx.outputs()));
  if (ctx.concrete()) PBMEM_RETURN_IF_ERROR(check_concrete(node, ctx.outputs()));
  if (fold && (params.concrete || outputs_within(ctx.outputs(), params.load_fold_limit_bytes))) {
    PBMEM_RETURN_IF_ERROR(kernel.prepare(ctx));
    return evaluate_constant_node(kernel, node, ctx, outputs);
  }
  if (fold && !params.concrete) {
    // Too large to fold at load time: keep the shapes only.
    *outputs = ctx.outputs();
    return ok_status();
  }
  bool all_const_outputs = true;
  for (const TensorInfo& out : ctx.outputs()) all_const_outputs &= static_cast<bool>(out.value);
  if (params.concrete && !all_const_outputs) PBMEM_RETURN_IF_ERROR(kernel.prepare(ctx));
  *outputs = ctx.outputs();
  return ok_status();
}

}  // namespace pbmem
