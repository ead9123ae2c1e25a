// Per-step and per-layer views of a prepared plan for MemoryPlanReport: what each step runs and
// how many activation bytes are live there, and which layer holds which weights.
//
// Weights by layer: a weight read in place from the file counts as mapped for the first step
// that reads it (shared weights are counted once). Packed bytes are what preparing each node
// left in weights_packed (packed_by_node, measured in infer_all); those of a node that does not
// run (a constant, a folded subgraph) go to the first step that reads it, since that layer is
// why they are kept. Whatever the measurement could not place (nothing, when prepare started
// with no packed bytes) is reported as one "(unattributed)" row, so the rows always add up.
#include <algorithm>
#include <limits>
#include <unordered_set>

#include "runtime/session_impl.h"

namespace pbmem {

namespace {

constexpr char kUnattributed[] = "(unattributed)";

}  // namespace

void Session::Impl::describe_steps_and_weights(const std::vector<int>& order,
                                               const std::vector<UsageRecord>& records) {
  const Graph& graph = model->graph();
  const size_t num_nodes = static_cast<size_t>(graph.num_nodes());

  const std::vector<int64_t> live = live_bytes_per_step(records, static_cast<int>(order.size()));
  report.steps.clear();
  report.steps.reserve(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const int index = order[k];
    const Node& node = graph.node(index);
    const std::vector<TensorInfo>& outs = infos[static_cast<size_t>(index)];
    PlanStep step;
    step.node = node.name;
    step.op = node.op;
    step.live_bytes = k < live.size() ? live[k] : 0;
    step.alias_only = is_view_node(*kernels[static_cast<size_t>(index)], outs.size());
    for (const TensorInfo& out : outs) {
      step.output_shapes.push_back(out.shape);
      Result<int64_t> bytes = out.shape.num_bytes(out.dtype);
      if (bytes.ok()) step.output_bytes += *bytes;
    }
    report.steps.push_back(std::move(step));
  }

  std::vector<int64_t> packed = packed_by_node;
  packed.resize(num_nodes, 0);
  std::vector<int64_t> mapped(num_nodes, 0);
  std::vector<bool> runs(num_nodes, false);
  // The first step that reads each node's value, directly or through folded nodes (a Const
  // behind a folded Identity, a folded Transpose of weights): kNoReader when none does.
  constexpr int kNoReader = std::numeric_limits<int>::max();
  std::vector<int> first_reader(num_nodes, kNoReader);
  std::unordered_set<const void*> seen;
  const auto& file = graph.file();
  report.weights_mapped_bytes = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const int index = order[k];
    runs[static_cast<size_t>(index)] = true;
    for (const TensorRef& ref : graph.node(index).inputs) {
      int& reader = first_reader[static_cast<size_t>(ref.node)];
      reader = std::min(reader, static_cast<int>(k));
      const auto& value = infos[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)].value;
      if (!value || !value->valid() || !seen.insert(value->raw_data()).second) continue;
      if (file && file->contains(value->raw_data())) {
        const int64_t bytes = static_cast<int64_t>(value->num_bytes());
        mapped[static_cast<size_t>(index)] += bytes;
        report.weights_mapped_bytes += bytes;
      }
    }
  }
  for (auto it = schedule.rbegin(); it != schedule.rend(); ++it) {  // consumers first
    if (runs[static_cast<size_t>(*it)]) continue;
    for (const TensorRef& ref : graph.node(*it).inputs) {
      int& reader = first_reader[static_cast<size_t>(ref.node)];
      reader = std::min(reader, first_reader[static_cast<size_t>(*it)]);
    }
  }
  for (size_t n = 0; n < num_nodes; ++n) {
    if (runs[n] || packed[n] == 0 || first_reader[n] == kNoReader) continue;
    packed[static_cast<size_t>(order[static_cast<size_t>(first_reader[n])])] += packed[n];
    packed[n] = 0;
  }

  report.weights_by_layer.clear();
  int64_t attributed = 0;
  for (size_t n = 0; n < num_nodes; ++n) {
    if (packed[n] == 0 && mapped[n] == 0) continue;
    const Node& node = graph.node(static_cast<int>(n));
    report.weights_by_layer.push_back(LayerWeights{node.name, node.op, packed[n], mapped[n]});
    attributed += packed[n];
  }
  if (attributed != report.weights_packed_bytes) {
    report.weights_by_layer.push_back(
        LayerWeights{kUnattributed, "", report.weights_packed_bytes - attributed, 0});
  }
  report.weights_mapped_layers = 0;
  report.weights_packed_layers = 0;
  for (const LayerWeights& w : report.weights_by_layer) {
    if (w.node == kUnattributed) continue;
    if (w.mapped_bytes > 0) {
      ++report.weights_mapped_layers;
    } else if (w.packed_bytes > 0) {
      ++report.weights_packed_layers;
    }
  }
  std::sort(report.weights_by_layer.begin(), report.weights_by_layer.end(),
            [](const LayerWeights& a, const LayerWeights& b) {
              const int64_t total_a = a.packed_bytes + a.mapped_bytes;
              const int64_t total_b = b.packed_bytes + b.mapped_bytes;
              return total_a != total_b ? total_a > total_b : a.node < b.node;
            });
}

}  // namespace pbmem
