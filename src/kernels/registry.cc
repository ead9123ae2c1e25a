#include <cstdio>
#include <cstdlib>

#include "kernels/kernel.h"

namespace pbmem {

Status OpRegistry::add(std::string_view op, KernelFactory factory,
                       std::vector<std::string> output_args) {
  auto [it, inserted] = entries_.emplace(std::string(op), Entry{factory, std::move(output_args)});
  if (!inserted) return internal_error("op '", op, "' is registered twice");
  return ok_status();
}

KernelFactory OpRegistry::find(std::string_view op) const {
  auto it = entries_.find(op);
  return it == entries_.end() ? nullptr : it->second.factory;
}

const std::vector<std::string>* OpRegistry::output_args(std::string_view op) const {
  auto it = entries_.find(op);
  if (it == entries_.end() || it->second.output_args.empty()) return nullptr;
  return &it->second.output_args;
}

std::vector<std::string> OpRegistry::ops() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) names.push_back(name);
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
