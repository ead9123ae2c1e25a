// Session internals shared by session.cc (API, feeds, execution) and session_plan.cc
// (prepare: shapes, folding, schedule, lifetimes, in-place, arena plan).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "memory/allocator.h"
#include "runtime/fusion.h"
#include "plan/memory_planner.h"
#include "runtime/model.h"

namespace pbmem {

// How a fed input looks at prepare time (shapes only: `plan` prepares without data).
struct FedSpec {
  bool fed = false;
  DType dtype = DType::kInvalid;
  Shape shape;
};

// One executed step: a node with its input/output tensors bound at prepare time, so that
// running it needs no allocation.
struct Step {
  int node = -1;
  bool alias_only = false;             // every output p is a view of input alias_inputs[p]: nothing runs
  std::vector<int> alias_inputs;
  std::vector<const Tensor*> inputs;   // into Session::Impl::values
  std::vector<Tensor*> outputs;
};

// kRun binds every tensor (allocating the arena, scratch and I/O buffers) and refuses, before
// allocating them, a plan whose predicted peak exceeds the memory limit. kPredict stops after
// the plan's numbers (only packed weights are allocated, under the limit) so that `fit` can
// size candidate batches beyond the limit without holding them; the session is left unprepared.
enum class PrepareMode { kRun, kPredict };

struct Session::Impl {
  std::shared_ptr<const Model> model;
  SessionOptions options;
  int num_threads = 1;
  std::shared_ptr<MemoryAccount> account;
  std::vector<std::string> output_names;
  std::vector<TensorRef> output_refs;
  std::vector<int> schedule;                     // needed nodes, in file-order topological order
  std::vector<std::unique_ptr<Kernel>> kernels;  // by node index (null if not scheduled)
  std::vector<int> fed_nodes;                    // placeholders in the schedule
  FusionStats fusion;                            // what fuse_epilogues() folded

  // Prepared state for one input signature.
  bool prepared = false;
  std::vector<FedSpec> prepared_specs;
  std::vector<std::vector<TensorInfo>> infos;    // by node index, by port
  std::vector<std::vector<Tensor>> values;       // bound tensors, by node index, by port
  std::vector<Step> steps;                       // run order
  std::shared_ptr<void> arena;                   // activations
  std::shared_ptr<void> scratch;
  std::vector<std::shared_ptr<void>> io_buffers; // graph outputs
  size_t scratch_bytes = 0;
  // Held sizes of the blocks above (>= this plan's needs when reused; see reuse_buffers).
  int64_t arena_capacity = 0;
  int64_t scratch_capacity = 0;
  std::vector<int64_t> io_capacities;
  MemoryPlanReport report;
  // The last input signature refused for exceeding the memory limit and its error: the plan is
  // deterministic and the limit fixed, so a retry fails at once instead of re-planning.
  std::vector<FedSpec> refused_specs;
  Status refused_status;
  // Bytes of weights_packed that preparing each node left allocated (net of the folded
  // constants that later consumers released), by node index.
  std::vector<int64_t> packed_by_node;

  // One kernel per scheduled node, with the fusion pass applied (runtime/fusion.h). Kernels
  // live across prepares (packed weights are taken over when their layout holds).
  void create_kernels();
  // With reuse_buffers: the infos of the constant nodes that depend on no fed input, kept from
  // the last prepare (values released after a kernel packed them are empty Tensors), so that
  // re-preparing for another shape neither re-folds nor re-reads them and the packing kernels
  // keep their packed copies (runtime/session_pool.cc). Empty: nothing cached.
  std::vector<std::vector<TensorInfo>> cached_constants;

  // Prepares; when a prepare from cached constants fails (a kernel needed released bytes), it
  // drops the cache and prepares again from the model.
  Status prepare(const std::vector<FedSpec>& specs, PrepareMode mode = PrepareMode::kRun);
  // Specs of every fed input for plan()/predict() from named shapes.
  Result<std::vector<FedSpec>> specs_for_shapes(const std::map<std::string, Shape>& input_shapes) const;
  // Binds fed tensors and runs every step; `observer` (may be null) sees each step.
  Status execute(const std::vector<const Tensor*>& fed, StepObserver* observer);

 private:
  Status infer_all(const std::vector<FedSpec>& specs, std::vector<int>* run_nodes);
  Status prepare_once(const std::vector<FedSpec>& specs, PrepareMode mode);
  Status plan_memory(const std::vector<int>& run_nodes, PrepareMode mode);
  // Once plan_memory has the order and the planner's records: report.steps (live bytes per
  // step), weights_mapped_bytes and weights_by_layer (session_report.cc).
  void describe_steps_and_weights(const std::vector<int>& order, const std::vector<UsageRecord>& records);
  // Fills cached_constants after a successful prepare (reuse_buffers), or leaves it empty when a
  // node that is re-prepared would need a released constant's bytes.
  void cache_constants(const std::vector<int>& run_nodes);
  // Drops the arena, scratch and I/O blocks, unless reuse_buffers keeps them for the next plan.
  void release_blocks();
  // Gives this plan its arena, scratch and I/O blocks: reused when held and big enough
  // (reuse_buffers), else allocated. `io_sizes` are the planned output buffer sizes; on return
  // io_buffers[i] holds at least io_sizes[i] bytes. Refuses a total over the memory limit
  // before allocating (runtime/session_pool.cc).
  Status bind_blocks(const std::vector<int64_t>& io_sizes);
};

// prepare(specs, kRun), and when the plan exceeds the memory limit an error a user can act on:
// the need and the limit, where the peak is, the largest batch that fits (the fit search, run
// on this session under its limit) and the levers (runtime/session_limit.cc).
Status prepare_within_limit(Session& session, Session::Impl& impl, const std::vector<FedSpec>& specs);

}  // namespace pbmem
