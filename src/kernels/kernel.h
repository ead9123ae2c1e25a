// The kernel interface and the op registry.
//
// Life of a kernel (one instance per node per session), after TFLite Micro's
// init/prepare/invoke:
//   infer()   shapes and dtypes of the outputs from those of the inputs. Runs at load time with
//             partial shapes (unknown batch = kUnknownDim) and again at prepare time with
//             concrete shapes. Must not fail merely because a dim is unknown: it then leaves the
//             output dim unknown. May read constant inputs (ctx.const_input) and may publish
//             constant outputs (ctx.set_output_value) — that is how shape subgraphs fold.
//   prepare() concrete shapes only: validates what infer could not, builds oneDNN primitives,
//             reorders weights once, and states its scratch needs. Never called on a hot path.
//   run()     computes into preallocated outputs. Never allocates.
//
// Adding an op: one kernel file (or a section in its family file), one OpRecord line in the
// family's register_*_ops() function (the kernel and every fact the runtime needs about the op),
// one TF conformance test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/status.h"
#include "core/tensor.h"
#include "graph/ir.h"

namespace pbmem {

class MemoryAccount;

// What is known about one tensor before running: dtype, (partial) shape, and its value when it
// is a constant (weights, folded shape subgraphs).
struct TensorInfo {
  DType dtype = DType::kInvalid;
  Shape shape = Shape::unknown_rank();
  // Non-null when the tensor is constant. An empty (invalid) Tensor when the session released
  // the constant's bytes after this consumer packed them (re-prepare with reuse_buffers).
  std::shared_ptr<const Tensor> value;
};

// How conv/matmul kernels hold constant weights (SessionOptions::weights).
//   kPacked: reordered once at prepare into oneDNN's preferred (blocked) layout, a copy we
//            allocate (weights_packed); the fastest kernels.
//   kMapped: read in place from the mapped model file in TF's layout (HWIO filters, row-major
//            matrices), no copy, when the bytes are in the file (4-byte aligned there) and
//            oneDNN has a fast kernel for that layout (Conv2D, MatMul; not depthwise); otherwise
//            packed as above. A BatchNorm scale is then not fused into a mapped Conv2D
//            (runtime/fusion.h). docs/WEIGHTS.md has the cases and measurements.
enum class WeightsMode { kPacked, kMapped };

// Element-wise functions a producer can apply to its own output (graph fusion).
enum class ActivationKind {
  kRelu,       // max(x, 0)
  kLeakyRelu,  // x < 0 ? alpha * x : x
  kRelu6,      // min(max(x, 0), 6)
  kElu,        // x < 0 ? exp(x) - 1 : x
  kSigmoid,
  kTanh,
  kSwish,      // x * sigmoid(alpha * x) (SiLU at alpha = 1)
};
struct Activation {
  ActivationKind kind = ActivationKind::kRelu;
  float alpha = 0.0f;
};

// What the runtime's fusion pass (runtime/fusion.h) folds into a conv/matmul node from the ops
// that follow it: y = activations(x * scale[c] + shift[c] + residual) over the output's last
// (channel) dim. An empty scale means 1, an empty shift 0, no residual 0.
struct Epilogue {
  std::vector<float> scale;
  std::vector<float> shift;
  std::vector<Activation> activations;
  // A tensor of the output's shape (a fused residual Add's other operand), which the node then
  // reads as an extra input (Kernel::extra_inputs).
  std::optional<TensorRef> residual;
  bool empty() const {
    return scale.empty() && shift.empty() && activations.empty() && !residual;
  }
};

// Fusion of a zero Pad of the spatial dims before a conv (runtime/fusion.h): the data input
// arrives unpadded, under the padded shape, and the conv pads it by these amounts itself.
struct InputPadding {
  int64_t top = 0;
  int64_t bottom = 0;
  int64_t left = 0;
  int64_t right = 0;
};

class InferContext {
 public:
  InferContext(const Node& node, std::vector<const TensorInfo*> inputs, bool concrete)
      : node_(node), inputs_(std::move(inputs)), concrete_(concrete) {}

  const Node& node() const { return node_; }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  const TensorInfo& input(int i) const { return *inputs_[static_cast<size_t>(i)]; }
  DType input_dtype(int i) const { return input(i).dtype; }
  const Shape& input_shape(int i) const { return input(i).shape; }
  // The input's value when it is constant, else nullptr.
  const Tensor* const_input(int i) const { return input(i).value.get(); }
  // True at prepare time: every input shape is fully defined.
  bool concrete() const { return concrete_; }

  // Declares output i (outputs are created on demand; their count is the highest index + 1).
  void set_output(int i, DType dtype, Shape shape);
  // Declares output i as a constant with this value (its dtype and shape come from the value).
  void set_output_value(int i, Tensor value);
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  std::vector<TensorInfo>& outputs() { return outputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }

  // Errors that name the node and op: ctx.error("input 1 must be rank 1, got ", s.str()).
  template <typename... Args>
  Status error(const Args&... args) const {
    return node_.error(args...);
  }
  template <typename... Args>
  Status unsupported(const Args&... args) const {
    return node_.unsupported(args...);
  }
  // Checks the number of data inputs is within [min, max].
  Status expect_inputs(int min, int max) const;

 private:
  const Node& node_;
  std::vector<const TensorInfo*> inputs_;
  bool concrete_;
  std::vector<TensorInfo> outputs_;
};

class RunContext {
 public:
  // The vectors are borrowed (bound once at prepare), so making a context never allocates.
  RunContext(const Node& node, const std::vector<const Tensor*>& inputs,
             const std::vector<Tensor*>& outputs, void* scratch, size_t scratch_bytes)
      : node_(node), inputs_(&inputs), outputs_(&outputs), scratch_(scratch),
        scratch_bytes_(scratch_bytes) {}

  const Node& node() const { return node_; }
  int num_inputs() const { return static_cast<int>(inputs_->size()); }
  const Tensor& input(int i) const { return *(*inputs_)[static_cast<size_t>(i)]; }
  int num_outputs() const { return static_cast<int>(outputs_->size()); }
  // Preallocated with the shape and dtype that infer() declared.
  Tensor& output(int i) const { return *(*outputs_)[static_cast<size_t>(i)]; }
  // The scratch the kernel asked for in prepare(), or nullptr when it asked for none.
  void* scratch() const { return scratch_; }
  size_t scratch_bytes() const { return scratch_bytes_; }

  template <typename... Args>
  Status error(const Args&... args) const {
    return node_.error(args...);
  }

  // The session's accounted allocator (for the memory-stats ops); nullptr when folding.
  const MemoryAccount* memory_account() const { return memory_account_; }
  void set_memory_account(const MemoryAccount* account) { memory_account_ = account; }

 private:
  const Node& node_;
  const MemoryAccount* memory_account_ = nullptr;
  const std::vector<const Tensor*>* inputs_;
  const std::vector<Tensor*>* outputs_;
  void* scratch_;
  size_t scratch_bytes_;
};

struct OpRecord;

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual Status infer(InferContext& ctx) = 0;
  // Called with ctx.concrete() == true after a successful infer() on the same context.
  virtual Status prepare(const InferContext& /*ctx*/) { return ok_status(); }
  virtual Status run(RunContext& ctx) = 0;
  // Bytes of scratch run() needs; valid after prepare().
  virtual size_t scratch_bytes() const { return 0; }
  // Output 0 is input 0's bytes under another shape (Identity, Reshape, Squeeze, ExpandDims,
  // StopGradient): the executor passes the view through and run() is not called.
  virtual bool aliases_input0() const { return false; }
  // The input whose bytes output 0 is (run() is then not called), or -1. Views alias input 0;
  // ops fused into their producer alias the input that producer computes.
  virtual int aliased_input() const { return aliases_input0() ? 0 : -1; }
  // Every output i is a view of input i (IdentityN): run() is not called.
  virtual bool forwards_inputs() const { return false; }
  // Fusion: may this node apply `epilogue` to its output? If so, set_epilogue() is called once,
  // before infer(), and run() then writes the epilogue's result.
  virtual bool accepts_epilogue(const Epilogue& /*epilogue*/) const { return false; }
  virtual void set_epilogue(Epilogue /*epilogue*/) {}
  // Tensors run() reads beyond the node's graph inputs (a fused residual), passed to it as
  // inputs num_graph_inputs, num_graph_inputs + 1, ...: the runtime schedules the node after
  // their producers and keeps them alive until it has run.
  virtual std::vector<TensorRef> extra_inputs() const { return {}; }
  // True for a node whose work a neighbouring node does (fusion): it is a view, never run.
  virtual bool fused_away() const { return false; }
  // Fusion: may this node take over the zero padding of the Pad that produces its input 0?
  virtual bool accepts_input_padding() const { return false; }
  virtual void set_input_padding(InputPadding /*padding*/) {}
  // False when run() no longer reads input i's bytes (e.g. constant weights that prepare()
  // reordered into a packed copy): the runtime then frees them. The input's dtype and shape
  // are still passed.
  virtual bool needs_input_at_run(int /*input*/) const { return true; }
  // The session's weights mode, set once before fusion and prepare (only conv/matmul use it).
  virtual void set_weights_mode(WeightsMode /*mode*/) {}
  // May the runtime evaluate this node at prepare time when all its inputs are constant?
  // The op's record says (OpRecord::foldable); a node fused into its producer never folds.
  bool foldable() const;
  // The record this kernel was made from (OpRecord::make), or nullptr for a bare kernel.
  const OpRecord* op_record() const { return record_; }

 private:
  friend struct OpRecord;
  const OpRecord* record_ = nullptr;
};

// The input whose bytes output `port` of a node with `num_outputs` outputs is, or -1: input i
// for every output of a forwarding kernel, aliased_input() for a single-output view.
inline int aliased_input_of_output(const Kernel& kernel, int port, size_t num_outputs) {
  if (kernel.forwards_inputs()) return port;
  return num_outputs == 1 && port == 0 ? kernel.aliased_input() : -1;
}

// True when every output of the node is a view of one of its inputs: nothing runs.
inline bool is_view_node(const Kernel& kernel, size_t num_outputs) {
  return kernel.forwards_inputs() || (num_outputs == 1 && kernel.aliased_input() >= 0);
}

using KernelFactory = std::unique_ptr<Kernel> (*)();

// Elements of a fully known shape, as a double (FLOP counts of large models overflow nothing).
inline double element_count(const Shape& shape) {
  double n = 1;
  for (int i = 0; i < shape.rank(); ++i) n *= static_cast<double>(shape.dim(i));
  return n;
}

// The shape of an input for a FLOP count, or nullptr when it is absent or not fully known.
inline const Shape* known_shape(const TensorInfo* info) {
  return info != nullptr && info->shape.fully_defined() ? &info->shape : nullptr;
}

// Multiply-adds of one node, from its first output's and its inputs' inferred shapes (0 when
// one it needs is unknown): Session::flops, for GFLOP/s.
using MultiplyAddsFn = double (*)(const Node& node, const TensorInfo& output,
                                  const std::vector<const TensorInfo*>& inputs);

// Everything the runtime knows of an op type, made at its registration, as tflite-micro's
// TFLMRegistration and XNNPACK's node-type table keep it: the kernel, and the facts that the
// planner, the fusion pass, the scheduler and the FLOP count read. No list of op names lives
// anywhere else. Built by chaining: op_record<ReluKernel>().in_place().activation(kRelu).
struct OpRecord {
  KernelFactory factory = nullptr;
  // Output 0 may take input 0's buffer: the kernel reads element i of input 0 before it writes
  // element i of output 0 (the planner shares the buffer when input 0 dies here).
  bool runs_in_place = false;
  // May be evaluated at prepare when all its inputs are constant; false when its value depends
  // on when it runs (Placeholder, memory stats).
  bool is_foldable = true;
  // Reads the allocator at its place in the file's order: the memory-aware scheduler then keeps
  // that order (MaxBytesInUse and friends).
  bool pins_order = false;
  // A conv/matmul whose output the fusion pass may give an epilogue (scale, shift, residual,
  // activations).
  bool is_fusion_producer = false;
  // The activation a producer can apply in place of a node of this op (fusion).
  std::optional<ActivationKind> fusable_activation;
  MultiplyAddsFn multiply_adds = nullptr;  // null: memory-bound, left out of the FLOP count
  // For an op with several output args, their names in port order (each one tensor), as in
  // TF's OpDef: function bodies name outputs "node:arg:index" (graph/inline.h). Empty for the
  // usual single output arg, whose index is the port.
  std::vector<std::string> output_arg_names;

  std::unique_ptr<Kernel> make() const {
    std::unique_ptr<Kernel> kernel = factory();
    kernel->record_ = this;
    return kernel;
  }

  OpRecord in_place() const { return with(&OpRecord::runs_in_place, true); }
  OpRecord not_foldable() const { return with(&OpRecord::is_foldable, false); }
  OpRecord pins_schedule() const { return with(&OpRecord::pins_order, true); }
  OpRecord fusion_producer() const { return with(&OpRecord::is_fusion_producer, true); }
  OpRecord activation(ActivationKind kind) const {
    return with(&OpRecord::fusable_activation, std::optional<ActivationKind>(kind));
  }
  OpRecord flops(MultiplyAddsFn fn) const { return with(&OpRecord::multiply_adds, fn); }
  OpRecord output_args(std::vector<std::string> names) const {
    return with(&OpRecord::output_arg_names, std::move(names));
  }

 private:
  template <typename T>
  OpRecord with(T OpRecord::*field, T value) const {
    OpRecord copy = *this;
    copy.*field = value;
    return copy;
  }
};

// A registry line: TF's op string and its record.
struct OpDef {
  const char* op;
  OpRecord record;
};

// The record of an op whose kernel is K, with every fact at its default.
template <typename K>
OpRecord op_record() {
  OpRecord record;
  record.factory = [] { return std::unique_ptr<Kernel>(std::make_unique<K>()); };
  return record;
}

// The record of an op whose kernels `factory` makes (one that picks a kernel class by attrs).
inline OpRecord op_record(KernelFactory factory) {
  OpRecord record;
  record.factory = factory;
  return record;
}

inline bool Kernel::foldable() const {
  return (record_ == nullptr || record_->is_foldable) && !fused_away();
}

// Keyed by TF's op string. Registering the same op twice is an error.
class OpRegistry {
 public:
  Status add(std::string_view op, OpRecord record);
  // Every line of a family (the one style every register_*_ops() function uses).
  Status add_all(const std::vector<OpDef>& defs);
  // The op's record, or nullptr. Records stay where they are for the registry's lifetime.
  const OpRecord* find(std::string_view op) const;
  // The op's output arg names (OpRecord::output_arg_names), or nullptr for an op with a single
  // output arg or an unknown op.
  const std::vector<std::string>* output_args(std::string_view op) const;
  std::vector<std::string> ops() const;  // sorted
  // All ops of every family (registry.cc).
  static const OpRegistry& global();

 private:
  std::map<std::string, OpRecord, std::less<>> records_;
};

// Per-family registration (one function per kernel file family). Each returns the first
// duplicate-registration error, if any.
Status register_array_ops(OpRegistry& registry);        // kernels/array.cc
Status register_slice_ops(OpRegistry& registry);        // kernels/slice_pad.cc
Status register_elementwise_ops(OpRegistry& registry);  // kernels/elementwise.cc
Status register_activation_ops(OpRegistry& registry);   // kernels/activation.cc
Status register_reduce_ops(OpRegistry& registry);       // kernels/reduce.cc
Status register_nn_ops(OpRegistry& registry);           // kernels/conv.cc, pool.cc, batchnorm.cc
Status register_matmul_ops(OpRegistry& registry);       // kernels/matmul.cc
Status register_image_ops(OpRegistry& registry);        // kernels/resize.cc
Status register_memory_stats_ops(OpRegistry& registry); // kernels/memory_stats.cc

}  // namespace pbmem
