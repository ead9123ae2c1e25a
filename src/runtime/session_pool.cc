// The blocks a prepared plan runs in: one arena (activations), one scratch block and one I/O
// block per graph output.
//
// Without SessionOptions::reuse_buffers every prepare drops the previous blocks and allocates
// exactly what its plan needs. With it (batch processing, where the last batch is usually
// shorter), the blocks held from an earlier plan are kept and reused when big enough: the arena
// and the scratch when their held size covers the new need, each I/O need by the smallest
// unclaimed held I/O block that covers it (largest needs first, so big blocks go to big needs).
// A block that is too small or unclaimed is freed before anything new is allocated, so old and
// new blocks are never held together. The plan's predicted peak counts reused blocks at their
// held size (pooled_extra_bytes), so predicted == measured still holds.
//
// Constants: a node that depends on no fed input has the same value for every input shape. After
// a prepare its infos are cached; a value the runtime released (its only run-time consumers
// packed it into their own layout) is cached as an empty Tensor. Re-preparing takes these infos
// instead of folding and reading the weights again, and a conv/matmul whose constant weights were
// released keeps its packed copy (dnnl_adapter.h, `replaces`). The cache is only built when every
// node that is re-prepared and reads a released value is such a packing kernel.
#include <algorithm>
#include <numeric>

#include "core/byte_size.h"
#include "runtime/session_impl.h"

namespace pbmem {

void Session::Impl::release_blocks() {
  if (options.reuse_buffers) return;  // kept for bind_blocks to reuse
  arena.reset();
  scratch.reset();
  io_buffers.clear();
  arena_capacity = 0;
  scratch_capacity = 0;
  io_capacities.clear();
}

void Session::Impl::cache_constants(const std::vector<int>& run_nodes) {
  cached_constants.clear();
  if (!options.reuse_buffers) return;
  const Graph& graph = model->graph();
  const size_t num_nodes = static_cast<size_t>(graph.num_nodes());
  std::vector<bool> is_run(num_nodes, false), depends_on_feed(num_nodes, false), cached(num_nodes, false);
  for (int index : run_nodes) is_run[static_cast<size_t>(index)] = true;
  for (int index : fed_nodes) depends_on_feed[static_cast<size_t>(index)] = true;
  for (int index : schedule) {  // topological: inputs first
    for (const TensorRef& ref : graph.node(index).inputs) {
      if (depends_on_feed[static_cast<size_t>(ref.node)]) depends_on_feed[static_cast<size_t>(index)] = true;
    }
    cached[static_cast<size_t>(index)] = !depends_on_feed[static_cast<size_t>(index)] && !is_run[static_cast<size_t>(index)] &&
                                         !infos[static_cast<size_t>(index)].empty();
  }
  for (int index : schedule) {
    if (cached[static_cast<size_t>(index)]) continue;  // re-prepared: may it do without released bytes?
    const Node& node = graph.node(index);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const TensorRef& ref = node.inputs[i];
      if (!cached[static_cast<size_t>(ref.node)]) continue;
      if (infos[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)].value) continue;  // kept
      const Kernel& kernel = *kernels[static_cast<size_t>(index)];
      if (!is_run[static_cast<size_t>(index)] || kernel.needs_input_at_run(static_cast<int>(i))) return;
    }
  }
  auto released = std::make_shared<const Tensor>();
  cached_constants.assign(num_nodes, {});
  for (int index : schedule) {
    if (!cached[static_cast<size_t>(index)]) continue;
    std::vector<TensorInfo>& outputs = cached_constants[static_cast<size_t>(index)];
    outputs = infos[static_cast<size_t>(index)];
    for (TensorInfo& info : outputs) {
      if (!info.value) info.value = released;
    }
  }
}

namespace {

constexpr int kUnclaimed = -1;

// For each need, the index of the held block that serves it (kUnclaimed: allocate a new one).
std::vector<int> match_io_blocks(const std::vector<int64_t>& needs, const std::vector<int64_t>& held) {
  std::vector<int> match(needs.size(), kUnclaimed);
  std::vector<size_t> by_size(needs.size());
  std::iota(by_size.begin(), by_size.end(), size_t{0});
  std::stable_sort(by_size.begin(), by_size.end(), [&](size_t a, size_t b) { return needs[a] > needs[b]; });
  std::vector<bool> claimed(held.size(), false);
  for (size_t need : by_size) {
    int best = kUnclaimed;
    for (size_t h = 0; h < held.size(); ++h) {
      if (claimed[h] || held[h] < needs[need]) continue;
      if (best == kUnclaimed || held[h] < held[static_cast<size_t>(best)]) best = static_cast<int>(h);
    }
    if (best != kUnclaimed) {
      claimed[static_cast<size_t>(best)] = true;
      match[need] = best;
    }
  }
  return match;
}

}  // namespace

Status Session::Impl::bind_blocks(const std::vector<int64_t>& io_sizes) {
  const int64_t arena_need = report.arena_bytes;
  const int64_t scratch_need = static_cast<int64_t>(scratch_bytes);
  const bool reuse = options.reuse_buffers;
  const bool keep_arena = reuse && arena && arena_capacity >= arena_need;
  const bool keep_scratch = reuse && scratch && scratch_capacity >= scratch_need;
  std::vector<int> io_match = reuse ? match_io_blocks(io_sizes, io_capacities)
                                    : std::vector<int>(io_sizes.size(), kUnclaimed);

  int64_t planned = arena_need + scratch_need;
  int64_t held = (keep_arena ? arena_capacity : arena_need) + (keep_scratch ? scratch_capacity : scratch_need);
  for (size_t i = 0; i < io_sizes.size(); ++i) {
    planned += io_sizes[i];
    held += io_match[i] == kUnclaimed ? io_sizes[i] : io_capacities[static_cast<size_t>(io_match[i])];
  }
  report.pooled_extra_bytes = held - planned;
  report.predicted_peak_bytes += report.pooled_extra_bytes;
  if (options.memory_limit > 0 && report.predicted_peak_bytes > options.memory_limit) {
    return resource_exhausted("the plan needs ", describe_bytes(report.predicted_peak_bytes),
                              " but the memory limit is ", describe_bytes(options.memory_limit));
  }

  // Free what is not reused first: old and new blocks are never held together.
  if (!keep_arena) {
    arena.reset();
    arena_capacity = 0;
  }
  if (!keep_scratch) {
    scratch.reset();
    scratch_capacity = 0;
  }
  std::vector<std::shared_ptr<void>> old_io = std::move(io_buffers);
  std::vector<int64_t> old_capacities = std::move(io_capacities);
  io_buffers.assign(io_sizes.size(), nullptr);
  io_capacities.assign(io_sizes.size(), 0);
  for (size_t i = 0; i < io_sizes.size(); ++i) {
    if (io_match[i] == kUnclaimed) continue;
    io_buffers[i] = std::move(old_io[static_cast<size_t>(io_match[i])]);
    io_capacities[i] = old_capacities[static_cast<size_t>(io_match[i])];
  }
  old_io.clear();

  for (size_t i = 0; i < io_sizes.size(); ++i) {
    if (io_buffers[i]) continue;
    PBMEM_ASSIGN_OR_RETURN(io_buffers[i], account->allocate(io_sizes[i], MemoryCategory::kIo));
    io_capacities[i] = io_sizes[i];
  }
  if (!arena && arena_need > 0) {
    PBMEM_ASSIGN_OR_RETURN(arena, account->allocate(arena_need, MemoryCategory::kActivations));
    arena_capacity = arena_need;
  }
  if (!scratch && scratch_need > 0) {
    PBMEM_ASSIGN_OR_RETURN(scratch, account->allocate(scratch_need, MemoryCategory::kScratch));
    scratch_capacity = scratch_need;
  }
  return ok_status();
}

}  // namespace pbmem
