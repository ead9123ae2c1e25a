#include <cstdio>
#include <cstdlib>

#include "kernels/kernel.h"

namespace pbmem {

Status OpRegistry::add(std::string_view op, OpRecord record) {
  if (record.factory == nullptr) return internal_error("op '", op, "' is registered without a kernel");
  auto [it, inserted] = records_.emplace(std::string(op), record);
  if (!inserted) return internal_error("op '", op, "' is registered twice");
  return ok_status();
}

Status OpRegistry::add_all(const std::vector<OpDef>& defs) {
  for (const OpDef& def : defs) PBMEM_RETURN_IF_ERROR(add(def.op, def.record));
  return ok_status();
}

const OpRecord* OpRegistry::find(std::string_view op) const {
  auto it = records_.find(op);
  return it == records_.end() ? nullptr : &it->second;
}

const std::vector<std::string>* OpRegistry::output_args(std::string_view op) const {
  const OpRecord* record = find(op);
  return record == nullptr || record->output_arg_names.empty() ? nullptr
                                                                : &record->output_arg_names;
}

std::vector<std::string> OpRegistry::ops() const {
  std::vector<std::string> names;
  names.reserve(records_.size());
  for (const auto& [name, record] : records_) names.push_back(name);
  return names;
}

namespace {

OpRegistry build_global_registry() {
  using RegisterFn = Status (*)(OpRegistry&);
  // Grouped by domain; each family lists its own ops.
  const RegisterFn families[] = {
      register_array_ops,      register_slice_ops,  register_elementwise_ops,
      register_activation_ops, register_reduce_ops, register_nn_ops,
      register_matmul_ops,     register_image_ops,  register_memory_stats_ops,
  };
  OpRegistry registry;
  for (RegisterFn family : families) {
    Status status = family(registry);
    if (!status.ok()) {
      // A duplicate registration is a build defect, found by every test run.
      std::fprintf(stderr, "pbmem: %s\n", status.to_string().c_str());
      std::abort();
    }
  }
  return registry;
}

}  // namespace

const OpRegistry& OpRegistry::global() {
  static const OpRegistry registry = build_global_registry();
  return registry;
}

void InferContext::set_output(int i, DType dtype, Shape shape) {
  if (static_cast<int>(outputs_.size()) <= i) outputs_.resize(static_cast<size_t>(i) + 1);
  TensorInfo& out = outputs_[static_cast<size_t>(i)];
  out.dtype = dtype;
  out.shape = std::move(shape);
  out.value.reset();
}

void InferContext::set_output_value(int i, Tensor value) {
  set_output(i, value.dtype(), value.shape());
  outputs_[static_cast<size_t>(i)].value = std::make_shared<const Tensor>(std::move(value));
}

Status InferContext::expect_inputs(int min, int max) const {
  if (num_inputs() < min || num_inputs() > max) {
    if (min == max) return error("expects ", min, " inputs, got ", num_inputs());
    return error("expects ", min, " to ", max, " inputs, got ", num_inputs());
  }
  return ok_status();
}

}  // namespace pbmem
