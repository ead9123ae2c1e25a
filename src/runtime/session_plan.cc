// Session prepare: concrete shapes and folding, a memory-aware order, tensor lifetimes, in-place
// reuse, and one planned arena. After prepare every run-time tensor is a view into the arena
// (activations), a pooled I/O buffer (graph outputs), a constant, or a fed input, so running
// allocates nothing.
//
// Lifetimes: a tensor lives from the step that produces it to its last consumer. Views
// (Identity, Reshape, Squeeze, ...) share their input's buffer, which then lives until the
// view's last consumer too (union-find over buffers). A whitelisted op may write its output 0
// over an input whose buffer dies at that step (ggml's ggml_op_can_inplace idea); graph
// outputs are never reused.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/byte_size.h"
#include "plan/memory_planner.h"
#include "plan/schedule.h"
#include "runtime/session_impl.h"
#include "shape/infer.h"

namespace pbmem {

namespace {

// Kernels that read element i of an input before writing element i of output 0 (OpRecord).
bool can_run_in_place(const Kernel& kernel) {
  const OpRecord* record = kernel.op_record();
  return record != nullptr && record->runs_in_place;
}

int64_t aligned(int64_t bytes) {
  return (bytes + kPlanAlignment - 1) / kPlanAlignment * kPlanAlignment;
}

std::string tensor_name(const Node& node, int port) {
  return port == 0 ? node.name : node.name + ":" + std::to_string(port);
}

struct UnionFind {
  std::vector<int> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int find(int x) {
    while (parent[static_cast<size_t>(x)] != x) {
      parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
      x = parent[static_cast<size_t>(x)];
    }
    return x;
  }
};

// A tensor computed at run time.
struct RunTensor {
  int node = -1;
  int port = 0;
  int64_t bytes = 0;
  int producer_step = 0;
  int last_use = 0;
  bool external = false;  // a view of a constant or a fed input: no buffer of ours
  bool is_output = false;
};

// The schedule with every constant moved to just before its first consumer. Kahn's order puts
// all constants first; preparing them there would realign (copy) and read every weight before
// the first layer is packed. Constants with control inputs keep their place.
std::vector<int> constants_before_first_use(const Graph& graph, const std::vector<int>& schedule) {
  enum : uint8_t { kInPlace, kDeferred, kEmitted };
  const size_t num_nodes = static_cast<size_t>(graph.num_nodes());
  std::vector<bool> consumed(num_nodes, false);
  for (int index : schedule) {
    for (const TensorRef& ref : graph.node(index).inputs) consumed[static_cast<size_t>(ref.node)] = true;
    for (int dep : graph.node(index).control_inputs) consumed[static_cast<size_t>(dep)] = true;
  }
  std::vector<uint8_t> state(num_nodes, kInPlace);
  std::vector<int> order;
  order.reserve(schedule.size());
  auto emit_if_deferred = [&](int producer) {
    if (state[static_cast<size_t>(producer)] != kDeferred) return;
    state[static_cast<size_t>(producer)] = kEmitted;
    order.push_back(producer);
  };
  for (int index : schedule) {
    const Node& node = graph.node(index);
    if (node.op == "Const" && node.inputs.empty() && node.control_inputs.empty() &&
        consumed[static_cast<size_t>(index)]) {
      state[static_cast<size_t>(index)] = kDeferred;
      continue;
    }
    for (const TensorRef& ref : node.inputs) emit_if_deferred(ref.node);
    for (int dep : node.control_inputs) emit_if_deferred(dep);
    order.push_back(index);
  }
  return order;
}

}  // namespace

Status Session::Impl::infer_all(const std::vector<FedSpec>& specs, std::vector<int>* run_nodes) {
  const Graph& graph = model->graph();
  const size_t num_nodes = static_cast<size_t>(graph.num_nodes());
  auto packed_in_use = [&] {
    return account->bytes_in_use_by_category()[static_cast<int>(MemoryCategory::kWeightsPacked)];
  };
  // What each node leaves in weights_packed: what preparing it allocated, less its folded
  // outputs that later consumers released (the report's weights by layer). Kernels outlive a
  // re-prepare and keep (or hand on) what they packed, so each prepare adds what changed; the
  // counts start at zero with the kernels (create_kernels). The last prepare's constants that
  // runs read are dropped here, each from its node's count.
  if (packed_by_node.size() != num_nodes) packed_by_node.assign(num_nodes, 0);
  infos.resize(num_nodes);
  for (size_t n = 0; n < num_nodes; ++n) {
    const int64_t held = packed_in_use();
    infos[n].clear();
    packed_by_node[n] -= held - packed_in_use();
  }
  InferParams params;
  params.concrete = true;
  run_nodes->clear();

  // A constant is dropped as soon as its last consumer is prepared, unless a kernel still reads
  // it at run time or it is a graph output, so that prepare holds at most one layer's
  // temporaries (realigned copies, folded intermediates) at a time. After a node that read
  // weights in the file, every mapped page is given back: what the kernel mapped around them
  // (neighbouring weights) too, so prepare holds about one layer's file pages at a time.
  const std::shared_ptr<MappedFile>& file = graph.file();
  std::vector<std::vector<int>> consumers_left(num_nodes);
  std::vector<std::vector<bool>> needed(num_nodes);
  for (int index : schedule) {
    for (const TensorRef& ref : graph.node(index).inputs) {
      auto& left = consumers_left[static_cast<size_t>(ref.node)];
      if (left.size() <= static_cast<size_t>(ref.port)) left.resize(static_cast<size_t>(ref.port) + 1, 0);
      ++left[static_cast<size_t>(ref.port)];
    }
  }
  auto mark_needed = [&](const TensorRef& ref) {
    auto& flags = needed[static_cast<size_t>(ref.node)];
    if (flags.size() <= static_cast<size_t>(ref.port)) flags.resize(static_cast<size_t>(ref.port) + 1, false);
    flags[static_cast<size_t>(ref.port)] = true;
  };
  auto is_needed = [&](const TensorRef& ref) {
    const auto& flags = needed[static_cast<size_t>(ref.node)];
    return static_cast<size_t>(ref.port) < flags.size() && flags[static_cast<size_t>(ref.port)];
  };
  for (const TensorRef& ref : output_refs) mark_needed(ref);

  for (int index : constants_before_first_use(graph, schedule)) {
    const Node& node = graph.node(index);
    Kernel& kernel = *kernels[static_cast<size_t>(index)];
    auto fed_it = std::find(fed_nodes.begin(), fed_nodes.end(), index);
    std::vector<TensorInfo>& outputs = infos[static_cast<size_t>(index)];
    if (fed_it != fed_nodes.end() && specs[static_cast<size_t>(fed_it - fed_nodes.begin())].fed) {
      const FedSpec& spec = specs[static_cast<size_t>(fed_it - fed_nodes.begin())];
      outputs.assign(1, TensorInfo{spec.dtype, spec.shape, nullptr});
      continue;  // bound at run time
    }
    if (!cached_constants.empty() && !cached_constants[static_cast<size_t>(index)].empty()) {
      outputs = cached_constants[static_cast<size_t>(index)];  // shape-independent: not re-folded
      continue;
    }
    PBMEM_ASSIGN_OR_RETURN(auto inputs, gather_inputs(node, infos));
    const int64_t packed_before = packed_in_use();
    PBMEM_RETURN_IF_ERROR(infer_node(kernel, node, inputs, params, &outputs));
    packed_by_node[static_cast<size_t>(index)] += packed_in_use() - packed_before;
    bool read_file = false;
    for (const TensorInfo* in : inputs) {
      read_file |= file && in->value && in->value->valid() && file->contains(in->value->raw_data());
    }
    if (read_file) file->release_all_pages();
    bool all_const = true;
    for (const TensorInfo& out : outputs) all_const &= static_cast<bool>(out.value);
    if (!all_const) run_nodes->push_back(index);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const TensorRef& ref = node.inputs[i];
      if (!all_const && kernel.needs_input_at_run(static_cast<int>(i))) mark_needed(ref);
      int& left = consumers_left[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)];
      if (--left > 0 || is_needed(ref)) continue;
      const int64_t packed_held = packed_in_use();
      infos[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)].value.reset();
      packed_by_node[static_cast<size_t>(ref.node)] -= packed_held - packed_in_use();
    }
  }
  return ok_status();
}

Status Session::Impl::prepare(const std::vector<FedSpec>& specs, PrepareMode mode) {
  Status status = prepare_once(specs, mode);
  if (status.ok() || cached_constants.empty()) return status;
  // A kernel needed constant bytes the cache had released: start over from the model.
  cached_constants.clear();
  create_kernels();
  return prepare_once(specs, mode);
}

Status Session::Impl::prepare_once(const std::vector<FedSpec>& specs, PrepareMode mode) {
  const Graph& graph = model->graph();
  prepared = false;
  steps.clear();
  values.clear();
  release_blocks();
  report = MemoryPlanReport();
  // Kernels are kept: a re-prepare for new shapes takes over their packed weights when the
  // packed layout holds (no allocation), else each kernel frees its old copy as it packs anew.

  std::vector<int> run_nodes;
  {
    // Folded constants, realigned and reordered weights are allocated here.
    ScopedAccount scope(account, MemoryCategory::kWeightsPacked);
    Status packed = infer_all(specs, &run_nodes);
    if (packed.code() == StatusCode::kResourceExhausted && options.memory_limit > 0) {
      // Only the weights are allocated so far: a refusal here means no input shape can fit.
      return resource_exhausted(
          "packing the model's weights needs at least ", describe_bytes(account->refused_need_bytes()),
          " but the memory limit is ", describe_bytes(options.memory_limit),
          ": no batch fits; raise the limit to at least that (", packed.message(), ")");
    }
    PBMEM_RETURN_IF_ERROR(packed);
  }
  PBMEM_RETURN_IF_ERROR(plan_memory(run_nodes, mode));
  // Prepare read weights to pack or realign them; those file pages now duplicate what we hold.
  // Dropping the whole mapping from RSS is safe: pages that runs read (weights used in place)
  // fault back in from the file on demand.
  if (const auto& file = graph.file()) file->release_all_pages();
  for (size_t k = 0; k < fed_nodes.size(); ++k) {
    const Node& node = graph.node(fed_nodes[k]);
    if (specs[k].fed) report.input_shapes.emplace_back(node.name, specs[k].shape);
  }
  if (mode == PrepareMode::kPredict) return ok_status();  // nothing bound: a run prepares again
  cache_constants(run_nodes);
  prepared = true;
  prepared_specs = specs;
  return ok_status();
}

Status Session::Impl::plan_memory(const std::vector<int>& run_nodes_in, PrepareMode mode) {
  const Graph& graph = model->graph();
  const size_t num_nodes = static_cast<size_t>(graph.num_nodes());

  // Run-time tensors of the candidate steps.
  std::vector<std::vector<int>> tensor_of(num_nodes);
  std::vector<RunTensor> tensors;
  for (int index : run_nodes_in) {
    const auto& outs = infos[static_cast<size_t>(index)];
    tensor_of[static_cast<size_t>(index)].assign(outs.size(), -1);
    for (size_t p = 0; p < outs.size(); ++p) {
      if (outs[p].value) continue;
      RunTensor t;
      t.node = index;
      t.port = static_cast<int>(p);
      PBMEM_ASSIGN_OR_RETURN(t.bytes, outs[p].shape.num_bytes(outs[p].dtype));
      tensor_of[static_cast<size_t>(index)][p] = static_cast<int>(tensors.size());
      tensors.push_back(t);
    }
  }
  // What each step reads: its graph inputs, then what its kernel reads beyond them (a residual).
  auto run_inputs = [&](int index) {
    std::vector<TensorRef> refs = graph.node(index).inputs;
    for (const TensorRef& extra : kernels[static_cast<size_t>(index)]->extra_inputs()) refs.push_back(extra);
    return refs;
  };
  auto tensor_id = [&](const TensorRef& ref) -> int {
    const auto& ids = tensor_of[static_cast<size_t>(ref.node)];
    return ref.port < static_cast<int>(ids.size()) ? ids[static_cast<size_t>(ref.port)] : -1;
  };
  for (const TensorRef& ref : output_refs) {
    int id = tensor_id(ref);
    if (id >= 0) tensors[static_cast<size_t>(id)].is_output = true;
  }

  // Memory-aware order over the run nodes (never worse than file order).
  std::vector<int> order = run_nodes_in;
  {
    ScheduleProblem problem;
    std::vector<int> step_of_node(num_nodes, -1);
    for (size_t s = 0; s < run_nodes_in.size(); ++s) step_of_node[static_cast<size_t>(run_nodes_in[s])] = static_cast<int>(s);
    problem.tensors.resize(tensors.size());
    for (size_t t = 0; t < tensors.size(); ++t) {
      problem.tensors[t].bytes = aligned(tensors[t].bytes);
      problem.tensors[t].persistent = tensors[t].is_output;
    }
    problem.nodes.resize(run_nodes_in.size());
    for (size_t s = 0; s < run_nodes_in.size(); ++s) {
      const Node& node = graph.node(run_nodes_in[s]);
      for (const TensorRef& ref : run_inputs(run_nodes_in[s])) {
        int id = tensor_id(ref);
        if (id >= 0) problem.nodes[s].inputs.push_back(id);
      }
      for (int id : tensor_of[static_cast<size_t>(run_nodes_in[s])]) {
        if (id >= 0) problem.nodes[s].outputs.push_back(id);
      }
      for (int c : node.control_inputs) {
        if (step_of_node[static_cast<size_t>(c)] >= 0) {
          problem.control_edges.emplace_back(step_of_node[static_cast<size_t>(c)], static_cast<int>(s));
        }
      }
      problem.default_order.push_back(static_cast<int>(s));
    }
    // Memory-stats ops report the allocator at their place in the schedule: keep file order.
    bool has_stat_ops = false;
    for (int index : run_nodes_in) {
      const OpRecord* record = model->op_record(index);
      has_stat_ops |= record != nullptr && record->pins_order;
    }
    report.default_order_lower_bound_bytes = simulate_peak(problem, problem.default_order);
    report.scheduled_order_lower_bound_bytes = report.default_order_lower_bound_bytes;
    if (options.memory_aware_schedule && !has_stat_ops) {
      PBMEM_ASSIGN_OR_RETURN(ScheduleResult scheduled, memory_aware_schedule(problem, ScheduleOptions()));
      order.clear();
      for (int s : scheduled.order) order.push_back(run_nodes_in[static_cast<size_t>(s)]);
      report.scheduled_order_lower_bound_bytes = scheduled.peak_bytes;
    }
  }

  // Steps, producer steps and last uses in the chosen order.
  std::vector<int> step_of(num_nodes, -1);
  for (size_t s = 0; s < order.size(); ++s) step_of[static_cast<size_t>(order[s])] = static_cast<int>(s);
  for (RunTensor& t : tensors) {
    t.producer_step = step_of[static_cast<size_t>(t.node)];
    t.last_use = t.producer_step;
  }
  for (int index : order) {
    for (const TensorRef& ref : run_inputs(index)) {
      int id = tensor_id(ref);
      if (id >= 0) {
        RunTensor& t = tensors[static_cast<size_t>(id)];
        t.last_use = std::max(t.last_use, step_of[static_cast<size_t>(index)]);
      }
    }
  }

  // Buffers: views join their input's buffer; in-place outputs join a dying input's buffer.
  UnionFind buffers(tensors.size());
  std::vector<int> root_last(tensors.size());
  std::vector<bool> output_root(tensors.size(), false);
  for (size_t t = 0; t < tensors.size(); ++t) root_last[t] = tensors[t].last_use;
  // Roots that hold graph outputs (through views) must be known before in-place decisions.
  {
    UnionFind views(tensors.size());
    for (int index : order) {
      const Kernel& kernel = *kernels[static_cast<size_t>(index)];
      const Node& node = graph.node(index);
      const auto& ids = tensor_of[static_cast<size_t>(index)];
      for (size_t p = 0; p < ids.size(); ++p) {
        const int aliased = aliased_input_of_output(kernel, static_cast<int>(p), ids.size());
        if (ids[p] < 0 || aliased < 0) continue;
        int in = tensor_id(node.inputs[static_cast<size_t>(aliased)]);
        if (in >= 0) views.parent[static_cast<size_t>(ids[p])] = views.find(in);
      }
    }
    for (size_t t = 0; t < tensors.size(); ++t) {
      if (tensors[t].is_output) output_root[static_cast<size_t>(views.find(static_cast<int>(t)))] = true;
    }
  }
  for (int index : order) {
    const Kernel& kernel = *kernels[static_cast<size_t>(index)];
    const Node& node = graph.node(index);
    const auto& ids = tensor_of[static_cast<size_t>(index)];
    const int step = step_of[static_cast<size_t>(index)];
    if (is_view_node(kernel, ids.size())) {
      for (size_t p = 0; p < ids.size(); ++p) {
        const int out = ids[p];
        if (out < 0) continue;  // a constant output: its value is bound as is
        int in = tensor_id(node.inputs[static_cast<size_t>(aliased_input_of_output(kernel, static_cast<int>(p), ids.size()))]);
        if (in < 0) {
          tensors[static_cast<size_t>(out)].external = true;
          continue;
        }
        int root = buffers.find(in);
        buffers.parent[static_cast<size_t>(out)] = root;
        root_last[static_cast<size_t>(root)] = std::max(root_last[static_cast<size_t>(root)], tensors[static_cast<size_t>(out)].last_use);
        output_root[static_cast<size_t>(root)] = output_root[static_cast<size_t>(root)] || output_root[static_cast<size_t>(out)];
      }
      continue;
    }
    if (!options.in_place || ids.empty() || ids[0] < 0 || !can_run_in_place(*kernels[static_cast<size_t>(index)])) {
      continue;
    }
    const int out = ids[0];
    if (output_root[static_cast<size_t>(out)]) continue;
    const TensorInfo& out_info = infos[static_cast<size_t>(index)][0];
    for (const TensorRef& ref : node.inputs) {
      int in = tensor_id(ref);
      if (in < 0) continue;
      int root = buffers.find(in);
      const RunTensor& root_tensor = tensors[static_cast<size_t>(root)];
      const TensorInfo& in_info = infos[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)];
      if (root_tensor.external || output_root[static_cast<size_t>(root)] ||
          root_last[static_cast<size_t>(root)] != step || root_tensor.bytes != tensors[static_cast<size_t>(out)].bytes ||
          in_info.dtype != out_info.dtype || tensors[static_cast<size_t>(in)].bytes != tensors[static_cast<size_t>(out)].bytes) {
        continue;
      }
      buffers.parent[static_cast<size_t>(out)] = root;
      root_last[static_cast<size_t>(root)] = std::max(root_last[static_cast<size_t>(root)], tensors[static_cast<size_t>(out)].last_use);
      break;
    }
  }

  // Plan the arena over buffer roots; graph outputs get pooled I/O buffers.
  std::unique_ptr<MemoryPlanner> planner_owner = make_best_planner();
  MemoryPlanner& planner = *planner_owner;
  std::vector<int> planner_id(tensors.size(), -1);
  std::vector<int64_t> io_index(tensors.size(), -1);
  std::vector<int64_t> io_sizes;  // allocated only once the whole plan is known to fit
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (buffers.find(static_cast<int>(t)) != static_cast<int>(t) || tensors[t].external) continue;
    if (output_root[t]) {
      io_index[t] = static_cast<int64_t>(io_sizes.size());
      io_sizes.push_back(tensors[t].bytes);
      report.io_bytes += tensors[t].bytes;
      continue;
    }
    planner_id[t] = planner.add_buffer(tensors[t].bytes, tensors[t].producer_step, root_last[t]);
  }
  PBMEM_RETURN_IF_ERROR(planner.plan());
  PBMEM_RETURN_IF_ERROR(check_no_overlap(planner.records(), planner.arena_size()));
  report.arena_bytes = planner.arena_size();
  report.planner = planner.name();
  // Scratch: one block, as large as the largest kernel's need (steps run one at a time).
  scratch_bytes = 0;
  for (int index : order) scratch_bytes = std::max(scratch_bytes, kernels[static_cast<size_t>(index)]->scratch_bytes());
  report.scratch_bytes = static_cast<int64_t>(scratch_bytes);

  // The report: totals, lower bound, the peak step and what is live there.
  const std::vector<UsageRecord>& records = planner.records();
  report.num_steps = static_cast<int>(order.size());
  // Counted on the kernels this plan runs with, so a plan without its fusions shows it.
  report.fused_nodes = 0;
  for (int index : order) report.fused_nodes += kernels[static_cast<size_t>(index)]->fused_away() ? 1 : 0;
  report.naive_bytes = 0;
  for (const UsageRecord& r : records) report.naive_bytes += aligned(r.size);
  LiveBytesPeak bound = live_bytes_peak(records);
  report.lower_bound_bytes = bound.bytes;
  report.peak_step = bound.step;
  if (bound.step >= 0 && bound.step < static_cast<int>(order.size())) {
    report.peak_node = graph.node(order[static_cast<size_t>(bound.step)]).name;
  }
  // Readers of each buffer (by root), in step order, to say why a buffer is live at the peak.
  std::vector<std::vector<int>> readers(tensors.size());
  for (int index : order) {
    for (const TensorRef& ref : run_inputs(index)) {
      int id = tensor_id(ref);
      if (id < 0) continue;
      std::vector<int>& list = readers[static_cast<size_t>(buffers.find(id))];
      if (list.empty() || list.back() != index) list.push_back(index);
    }
  }
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (planner_id[t] < 0) continue;
    const UsageRecord& r = records[static_cast<size_t>(planner_id[t])];
    if (r.first_step <= bound.step && bound.step <= r.last_step) {
      const Node& node = graph.node(tensors[t].node);
      LiveTensor live{tensor_name(node, tensors[t].port), node.op, r.size, r.first_step, r.last_step,
                      node.name, infos[static_cast<size_t>(tensors[t].node)][static_cast<size_t>(tensors[t].port)].shape, {}};
      for (int reader : readers[t]) live.consumers.push_back(graph.node(reader).name);
      report.live_at_peak.push_back(std::move(live));
    }
  }
  std::sort(report.live_at_peak.begin(), report.live_at_peak.end(),
            [](const LiveTensor& a, const LiveTensor& b) { return a.bytes != b.bytes ? a.bytes > b.bytes : a.name < b.name; });
  if (mode == PrepareMode::kRun) report.ascii_plan = dump_plan_ascii(records);  // for people, not for fit

  // Weights: mapped (viewed in the file) vs packed (allocated by us, accounted), by layer.
  report.weights_packed_bytes = account->bytes_in_use_by_category()[static_cast<int>(MemoryCategory::kWeightsPacked)];
  describe_steps_and_weights(order, records);
  report.predicted_peak_bytes = report.weights_packed_bytes + report.arena_bytes + report.scratch_bytes + report.io_bytes;

  // Nothing beyond the packed weights is allocated until the plan is known to fit the limit.
  if (mode == PrepareMode::kPredict) return ok_status();
  PBMEM_RETURN_IF_ERROR(bind_blocks(io_sizes));

  // Bind every tensor: constants, arena and I/O views. Views of views are re-bound per run.
  values.assign(num_nodes, {});
  for (int index : schedule) {
    const auto& outs = infos[static_cast<size_t>(index)];
    values[static_cast<size_t>(index)].resize(outs.size());
    for (size_t p = 0; p < outs.size(); ++p) {
      // Constants nothing reads at run time were dropped: dtype and shape only.
      values[static_cast<size_t>(index)][p] =
          outs[p].value && outs[p].value->valid() ? *outs[p].value
                                                  : Tensor::view(outs[p].dtype, outs[p].shape, nullptr, nullptr);
    }
  }
  for (size_t t = 0; t < tensors.size(); ++t) {
    const RunTensor& tensor = tensors[t];
    const Kernel& kernel = *kernels[static_cast<size_t>(tensor.node)];
    if (tensor.external || is_view_node(kernel, tensor_of[static_cast<size_t>(tensor.node)].size())) continue;
    int root = buffers.find(static_cast<int>(t));
    const TensorInfo& info = infos[static_cast<size_t>(tensor.node)][static_cast<size_t>(tensor.port)];
    void* base = nullptr;
    std::shared_ptr<const void> holder;
    if (io_index[static_cast<size_t>(root)] >= 0) {
      holder = io_buffers[static_cast<size_t>(io_index[static_cast<size_t>(root)])];
      base = io_buffers[static_cast<size_t>(io_index[static_cast<size_t>(root)])].get();
    } else {
      holder = arena;
      base = static_cast<char*>(arena.get()) + planner.offset_of(planner_id[static_cast<size_t>(root)]);
    }
    values[static_cast<size_t>(tensor.node)][static_cast<size_t>(tensor.port)] = Tensor::view(info.dtype, info.shape, base, holder);
  }
  steps.clear();
  for (int index : order) {
    Step step;
    step.node = index;
    const Kernel& kernel = *kernels[static_cast<size_t>(index)];
    const size_t num_outputs = infos[static_cast<size_t>(index)].size();
    step.alias_only = is_view_node(kernel, num_outputs);
    for (size_t p = 0; step.alias_only && p < num_outputs; ++p) {
      step.alias_inputs.push_back(aliased_input_of_output(kernel, static_cast<int>(p), num_outputs));
    }
    for (const TensorRef& ref : run_inputs(index)) step.inputs.push_back(&values[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)]);
    for (Tensor& out : values[static_cast<size_t>(index)]) step.outputs.push_back(&out);
    steps.push_back(std::move(step));
  }

  return ok_status();
}

}  // namespace pbmem
