// The public C++ API.
//
//   auto model = pbmem::Model::load("model.pb");          // mmap + parse + IR + checks
//   if (!model.ok()) { ... model.status().message() ... }
//   pbmem::Session session(**model, {.num_threads = 2});
//   auto outputs = session.run({{"x", input_tensor}});    // names: "x" or "x:0"
//
// Data flows one way: file -> IR -> shapes -> plan -> executor -> outputs + stats.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "graph/ir.h"
#include "kernels/kernel.h"
#include "memory/allocator.h"

namespace pbmem {

struct TensorSpec {
  std::string name;  // "x:0" style for outputs with port > 0, plain node name otherwise
  DType dtype = DType::kInvalid;
  Shape shape;       // partial: unknown dims are kUnknownDim
  bool has_default = false;  // PlaceholderWithDefault: feeding it is optional
};

struct OpCount {
  std::string op;
  int64_t count = 0;
};

// What `pbmem inspect` shows. Computed without touching weight bytes.
struct ModelSummary {
  std::string path;
  uint64_t file_bytes = 0;
  int64_t num_nodes = 0;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<OpCount> op_histogram;  // most frequent first
  int64_t num_params = 0;             // elements of floating-point Const tensors
  int64_t weight_bytes = 0;           // bytes of all Const tensors
  std::vector<std::string> unsupported;  // "OpType (node 'a', node 'b')"
};

class Model {
 public:
  struct Options {
    // Checks every op is supported and fails with the full list when not. `inspect` turns it
    // off to report them instead.
    bool require_supported_ops = true;
    // Kernels for ops the built-in registry lacks (extensions; tests use it for kernels with
    // run-time behaviour no built-in op has). Looked up after the built-in registry; must
    // outlive the model.
    const OpRegistry* extra_ops = nullptr;
  };
  static Result<std::shared_ptr<Model>> load(const std::string& path, const Options& options);
  static Result<std::shared_ptr<Model>> load(const std::string& path) { return load(path, Options()); }
  static Result<std::shared_ptr<Model>> from_bytes(std::string bytes, const Options& options);

  const Graph& graph() const { return graph_; }
  const std::string& path() const { return path_; }
  const std::vector<TensorSpec>& inputs() const { return inputs_; }
  const std::vector<TensorSpec>& outputs() const { return outputs_; }
  ModelSummary summary() const;
  // Load-time (partial) info of every node output: infos()[node][port].
  const std::vector<std::vector<TensorInfo>>& infos() const { return infos_; }
  // The op record per node (nullptr for unsupported ops): its kernel and the op's facts. The
  // registry that holds it (the global one, or Options::extra_ops) outlives the model.
  const OpRecord* op_record(int node) const { return records_[static_cast<size_t>(node)]; }

  Model(Graph graph, std::string path);
  ~Model();

 private:
  friend class Session;
  Status initialise(const Options& options);
  Graph graph_;
  std::string path_;
  std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
  std::vector<std::vector<TensorInfo>> infos_;
  std::vector<const OpRecord*> records_;
  std::vector<std::string> unsupported_;  // "OpType (node 'a', node 'b')"
};

// The user-facing names of WeightsMode ("packed", "mapped"): the CLI's --weights and Python's
// weights=. `what` names the setting in the error.
Result<WeightsMode> parse_weights_mode(const std::string& text, const char* what);
const char* weights_mode_name(WeightsMode mode);

struct SessionOptions {
  int num_threads = 0;  // 0: all cores
  // Hard cap on the bytes pbmem allocates for this session (0: none); reported as bytes_limit.
  int64_t memory_limit = 0;
  // Reorder the schedule to lower the peak (never above the default order's).
  bool memory_aware_schedule = true;
  // Let whitelisted ops (Relu, BiasAdd, elementwise, BatchNorm) write over an input that dies.
  bool in_place = true;
  // Fold per-channel affine ops and activations that follow a conv/matmul into it
  // (runtime/fusion.h).
  bool fuse = true;
  // Constant conv/matmul weights: packed copies (default) or read in place from the mapped file
  // where the kernel allows it (kernels/kernel.h, docs/WEIGHTS.md).
  WeightsMode weights = WeightsMode::kPacked;
  // Output tensor names to compute; empty: the graph's sinks.
  std::vector<std::string> outputs;
  // Shapes to use for inputs whose dims are unknown in the graph (before inputs are given).
  std::map<std::string, Shape> input_shapes;
  // Pooling for batch processing: when a new input shape needs a new plan, the arena, scratch
  // and I/O blocks already held are reused if they are big enough (a short last batch then
  // allocates none of them) and only too-small ones are replaced. The session then holds the
  // largest shape's blocks; the plan's predicted peak counts them at their held size. Constants
  // that depend on no input are kept from the first prepare and packed weights whose layout
  // holds are taken over, so re-preparing re-folds and re-packs nothing (session_pool.cc).
  bool reuse_buffers = false;
};

// A tensor live at the plan's peak step.
struct LiveTensor {
  std::string name;      // "node" or "node:port"
  std::string op;        // producer's op
  int64_t bytes = 0;
  int first_step = 0;
  int last_step = 0;
  std::string producer;  // the producing node
  Shape shape;
  // Nodes that read its buffer, in step order: the tensor itself, views of it and outputs
  // written over it in place (these keep the buffer live until last_step).
  std::vector<std::string> consumers;
};

// One step of the plan's schedule (MemoryPlanReport::steps[i] runs at step i).
struct PlanStep {
  std::string node;
  std::string op;
  // Aligned bytes of the arena's buffers live at this step; the maximum over the steps is
  // lower_bound_bytes, first reached at peak_step.
  int64_t live_bytes = 0;
  bool alias_only = false;  // a view of its input: nothing runs
  std::vector<Shape> output_shapes;
  int64_t output_bytes = 0;
};

// The weights a layer (a run-time node) holds: packed copies we allocated while preparing it
// (reordered, realigned, folded constants it reads) and weights it reads in place from the file.
struct LayerWeights {
  std::string node;
  std::string op;
  int64_t packed_bytes = 0;
  int64_t mapped_bytes = 0;
};

// The static memory plan of a session for one set of input shapes (before running).
// predicted_peak_bytes is what the accounted allocators will hold during a run:
//   weights_packed_bytes + arena_bytes + scratch_bytes + io_bytes (+ pooled_extra_bytes).
// Mapped weights are file pages, not allocations, and are reported on their own.
struct MemoryPlanReport {
  int64_t predicted_peak_bytes = 0;
  int64_t arena_bytes = 0;              // activations, one planned block
  int64_t lower_bound_bytes = 0;        // max over steps of live activation bytes
  int64_t naive_bytes = 0;              // every activation in its own buffer
  // Live-bytes peak of the file order and of the memory-aware order, counting every tensor
  // separately (before views and in-place reuse merge buffers): what the scheduler minimises.
  int64_t default_order_lower_bound_bytes = 0;
  int64_t scheduled_order_lower_bound_bytes = 0;
  int64_t weights_packed_bytes = 0;     // reordered / folded / realigned weights we allocated
  int64_t weights_mapped_bytes = 0;     // weights read in place from the mapped file
  int64_t scratch_bytes = 0;            // kernel scratch (oneDNN scratchpads), shared by steps
  int64_t io_bytes = 0;                 // graph outputs
  // With SessionOptions::reuse_buffers: bytes of reused blocks beyond this plan's arena, scratch
  // and I/O needs (kept from a larger shape); included in predicted_peak_bytes.
  int64_t pooled_extra_bytes = 0;
  int num_steps = 0;
  int fused_nodes = 0;                  // nodes computed by a neighbour: conv/matmul epilogues, Pads, one-pass chains (fusion.h)
  int peak_step = -1;                   // step where the live activation bytes peak
  std::string peak_node;
  std::vector<LiveTensor> live_at_peak; // largest first
  std::vector<std::pair<std::string, Shape>> input_shapes;
  std::string ascii_plan;               // one line per step (see plan/memory_planner.h)
  std::string planner;                  // the arena planner that won, e.g. "best-of(greedy...)"
  std::vector<PlanStep> steps;          // num_steps entries, in run order
  // Largest (packed + mapped) first; packed sums to weights_packed_bytes and mapped to
  // weights_mapped_bytes.
  std::vector<LayerWeights> weights_by_layer;
  // Conv/matmul layers with constant weights by how they hold them: read in place from the file
  // (mapped) or from a copy we allocated (packed: reordered, scaled, realigned or folded).
  int weights_mapped_layers = 0;
  int weights_packed_layers = 0;
};

// Per-run stats (reset at each run's start) and lifetime stats of a session's allocations.
struct SessionStats {
  AllocatorStats run;
  AllocatorStats lifetime;
  CategoryBytes run_peak_by_category{};
  int64_t predicted_peak_bytes = 0;
  int64_t weights_mapped_bytes = 0;
};

// Watches a run step by step (e.g. to time each op for a trace). Called on the running thread
// between steps; the session itself does no extra work when no observer is given.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  // Once per run, before the first step; num_steps is last_plan().num_steps.
  virtual void run_started(int num_steps) = 0;
  virtual void step_started(int step) = 0;
  virtual void step_finished(int step) = 0;
};

struct RunOptions {
  StepObserver* observer = nullptr;  // not owned; must outlive the run
};

class Session {
 public:
  // Fails when an output name is unknown, the thread count is negative, or the pruned graph has
  // unsupported ops.
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                 const SessionOptions& options);
  ~Session();

  // Runs with inputs keyed by name ("x" or "x:0"). Returns the requested outputs keyed by the
  // names they were requested with (or the sink names). Errors name the input and the expected
  // dtype/shape. Missing inputs with a PlaceholderWithDefault use the default.
  // Output tensors live in the session's pooled I/O buffers: the next run() overwrites them
  // (clone() what you keep). Nothing is allocated after the first run for a shape.
  Result<std::map<std::string, Tensor>> run(const std::map<std::string, Tensor>& inputs);
  Result<std::map<std::string, Tensor>> run(const std::map<std::string, Tensor>& inputs,
                                            const RunOptions& run_options);

  const std::vector<std::string>& output_names() const;

  // Prepares for these input shapes (unknown dims of the model's inputs must be given) without
  // running, and returns the memory plan. A later run() with the same shapes reuses it.
  Result<MemoryPlanReport> plan(const std::map<std::string, Shape>& input_shapes);
  // Floating-point operations one run executes for the prepared shapes (2 per multiply-add of
  // the conv/matmul family, the ops that dominate; others are not counted). An error before the
  // first prepare.
  Result<double> flops() const;
  // The same plan's numbers without binding it: nothing is allocated beyond the packed weights
  // (under the memory limit), and a peak above the limit is reported, not refused. For sizing
  // candidates (runtime/fit.h). The session is left unprepared: a later run() prepares again.
  Result<MemoryPlanReport> predict(const std::map<std::string, Shape>& input_shapes);
  // The plan of the last prepare (run or plan); empty before the first.
  const MemoryPlanReport& last_plan() const;
  SessionStats stats() const;
  // TF's MaxBytesInUse / BytesInUse / BytesLimit, for the last (or current) run.
  int64_t max_bytes_in_use() const;
  int64_t bytes_in_use() const;
  int64_t bytes_limit() const;

  struct Impl;  // opaque (runtime/session_impl.h)

 private:
  Session();
  std::unique_ptr<Impl> impl_;
};

}  // namespace pbmem
