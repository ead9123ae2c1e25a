// Model: mmap + parse + IR, the supported-op check (every unsupported op listed at once), and
// load-time shape inference with partial shapes.
#include "runtime/model.h"

#include <algorithm>
#include <map>
#include <set>

#include "graph/inline.h"
#include "shape/infer.h"

namespace pbmem {

namespace {

bool is_input_op(const std::string& op) { return op == "Placeholder" || op == "PlaceholderWithDefault"; }

std::string output_name(const Node& node, int port) {
  return port == 0 ? node.name : node.name + ":" + std::to_string(port);
}

// Unsupported ops by op type in first-seen order, each with up to kMaxNodesNamed descriptions
// ("node 'a'", "node 'b' in function 'f'").
struct UnsupportedOps {
  static constexpr size_t kMaxNodesNamed = 5;
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> nodes_by_op;

  void add(const std::string& op, std::string description) {
    auto& names = nodes_by_op[op];
    if (names.empty()) order.push_back(op);
    names.push_back(std::move(description));
  }
  // "Foo (node 'a', node 'b'), Bar (node 'c')".
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const std::string& op : order) {
      const auto& names = nodes_by_op.at(op);
      std::string line = op + " (";
      for (size_t k = 0; k < names.size() && k < kMaxNodesNamed; ++k) {
        line += (k ? ", " : "") + names[k];
      }
      if (names.size() > kMaxNodesNamed)
        line += str_cat(" and ", names.size() - kMaxNodesNamed, " more");
      out.push_back(line + ")");
    }
    return out;
  }
};

// Functions that nodes left after inlining still name in attrs (If/While branches and bodies):
// their ops must run too, so unsupported ones are listed with the graph's.
void add_unsupported_in_functions(const Graph& graph,
                                  const std::vector<const OpRecord*>& records,
                                  const OpRegistry* extra_ops, UnsupportedOps* out) {
  const FunctionLibraryView& library = graph.library();
  std::vector<const FunctionDefView*> pending;
  std::set<std::string_view> seen;
  auto visit_attrs = [&](const AttrMap& attrs) {
    for (const auto& entry : attrs) {
      if (entry.second.kind != AttrValue::Kind::kFunc) continue;
      const FunctionDefView* fn = library.find(entry.second.func_name);
      if (fn != nullptr && seen.insert(fn->name).second) pending.push_back(fn);
    }
  };
  for (int i = 0; i < graph.num_nodes(); ++i) {
    if (records[static_cast<size_t>(i)] != nullptr || graph.node(i).def == nullptr) continue;
    visit_attrs(graph.node(i).def->attrs);
  }
  const OpRegistry& registry = OpRegistry::global();
  while (!pending.empty()) {
    const FunctionDefView* fn = pending.back();
    pending.pop_back();
    for (const NodeDefView& node : fn->nodes) {
      visit_attrs(node.attrs);
      bool known = is_function_call_op(node.op) || registry.find(node.op) != nullptr ||
                   (extra_ops != nullptr && extra_ops->find(node.op) != nullptr);
      if (!known) {
        out->add(std::string(node.op),
                 str_cat("node '", node.name, "' in function '", fn->name, "'"));
      }
    }
  }
}

std::vector<std::string> describe_unsupported(const Graph& graph,
                                              const std::vector<const OpRecord*>& records,
                                              const OpRegistry* extra_ops) {
  UnsupportedOps unsupported;
  for (int i = 0; i < graph.num_nodes(); ++i) {
    if (records[static_cast<size_t>(i)] != nullptr) continue;
    const Node& node = graph.node(i);
    unsupported.add(node.op, "node '" + node.name + "'");
  }
  add_unsupported_in_functions(graph, records, extra_ops, &unsupported);
  return unsupported.lines();
}

// Inlines function calls (graph/inline.h) and builds the IR.
Result<Graph> build_graph(GraphDefView def, const OpRegistry* extra_ops) {
  const OpRegistry& registry = OpRegistry::global();
  auto output_args = [&registry, extra_ops](std::string_view op) {
    const std::vector<std::string>* args = registry.output_args(op);
    if (args == nullptr && extra_ops != nullptr) args = extra_ops->output_args(op);
    return args;
  };
  PBMEM_RETURN_IF_ERROR(inline_function_calls(&def, output_args));
  return Graph::build(std::move(def));
}

}  // namespace

Model::Model(Graph graph, std::string path) : graph_(std::move(graph)), path_(std::move(path)) {}
Model::~Model() = default;

Result<std::shared_ptr<Model>> Model::load(const std::string& path, const Options& options) {
  auto def = load_graphdef(path);
  if (!def.ok()) return def.status().with_context("cannot load '" + path + "'");
  auto graph = build_graph(std::move(def).value(), options.extra_ops);
  if (!graph.ok()) return graph.status().with_context("invalid graph in '" + path + "'");
  auto model = std::make_shared<Model>(std::move(graph).value(), path);
  PBMEM_RETURN_IF_ERROR(model->initialise(options).with_context("in '" + path + "'"));
  return model;
}

Result<std::shared_ptr<Model>> Model::from_bytes(std::string bytes, const Options& options) {
  auto def = parse_graphdef(MappedFile::from_bytes(std::move(bytes)));
  if (!def.ok()) return def.status();
  PBMEM_ASSIGN_OR_RETURN(Graph graph, build_graph(std::move(def).value(), options.extra_ops));
  auto model = std::make_shared<Model>(std::move(graph), "<memory>");
  PBMEM_RETURN_IF_ERROR(model->initialise(options));
  return model;
}

Status Model::initialise(const Options& options) {
  const OpRegistry& registry = OpRegistry::global();
  records_.resize(static_cast<size_t>(graph_.num_nodes()));
  for (int i = 0; i < graph_.num_nodes(); ++i) {
    records_[static_cast<size_t>(i)] = registry.find(graph_.node(i).op);
    if (records_[static_cast<size_t>(i)] == nullptr && options.extra_ops != nullptr) {
      records_[static_cast<size_t>(i)] = options.extra_ops->find(graph_.node(i).op);
    }
  }
  unsupported_ = describe_unsupported(graph_, records_, options.extra_ops);
  if (options.require_supported_ops && !unsupported_.empty()) {
    std::string list;
    for (const std::string& line : unsupported_) list += "\n  " + line;
    return unimplemented(unsupported_.size(), " unsupported op type",
                         unsupported_.size() == 1 ? "" : "s", " (run `pbmem ops` for the supported list):", list);
  }

  PBMEM_ASSIGN_OR_RETURN(std::vector<int> order, graph_.schedule({}));
  infos_.assign(static_cast<size_t>(graph_.num_nodes()), {});
  InferParams params;
  for (int index : order) {
    const Node& node = graph_.node(index);
    const OpRecord* record = records_[static_cast<size_t>(index)];
    std::vector<TensorInfo>& outputs = infos_[static_cast<size_t>(index)];
    if (record == nullptr) continue;  // unknown outputs; only reachable when not required
    auto inputs = gather_inputs(node, infos_);
    Status status = inputs.status();
    if (status.ok()) {
      bool inputs_known = true;
      for (const TensorInfo* in : *inputs) inputs_known &= in->dtype != DType::kInvalid;
      if (!inputs_known && !options.require_supported_ops) continue;
      std::unique_ptr<Kernel> kernel = record->make();
      status = infer_node(*kernel, node, *inputs, params, &outputs);
    }
    if (!status.ok()) {
      if (options.require_supported_ops) return status;
      outputs.clear();  // inspect keeps going: this node's outputs stay unknown
    }
  }

  // Ports that consumers use must exist even where inference gave up (inspect mode).
  for (const Node& node : graph_.nodes()) {
    for (const TensorRef& ref : node.inputs) {
      auto& producer = infos_[static_cast<size_t>(ref.node)];
      if (ref.port >= static_cast<int>(producer.size())) producer.resize(static_cast<size_t>(ref.port) + 1);
    }
  }

  for (int index = 0; index < graph_.num_nodes(); ++index) {
    if (!is_input_op(graph_.node(index).op)) continue;
    const auto& outs = infos_[static_cast<size_t>(index)];
    TensorSpec spec{graph_.node(index).name, DType::kInvalid, Shape::unknown_rank()};
    spec.has_default = graph_.node(index).op == "PlaceholderWithDefault";
    if (!outs.empty()) {
      spec.dtype = outs[0].dtype;
      spec.shape = outs[0].shape;
    }
    inputs_.push_back(spec);
  }
  for (int index : graph_.sinks()) {
    const auto& outs = infos_[static_cast<size_t>(index)];
    const Node& node = graph_.node(index);
    if (is_input_op(node.op) && outs.size() <= 1) continue;  // an unused input is not an output
    for (size_t port = 0; port < std::max<size_t>(outs.size(), 1); ++port) {
      TensorSpec spec{output_name(node, static_cast<int>(port)), DType::kInvalid, Shape::unknown_rank()};
      if (port < outs.size()) {
        spec.dtype = outs[port].dtype;
        spec.shape = outs[port].shape;
      }
      outputs_.push_back(spec);
    }
  }
  return ok_status();
}

ModelSummary Model::summary() const {
  ModelSummary s;
  s.path = path_;
  s.file_bytes = graph_.file() ? graph_.file()->size() : 0;
  s.num_nodes = graph_.num_nodes();
  s.inputs = inputs_;
  s.outputs = outputs_;
  s.unsupported = unsupported_;
  std::map<std::string, int64_t> counts;
  for (int i = 0; i < graph_.num_nodes(); ++i) {
    const Node& node = graph_.node(i);
    ++counts[node.op];
    if (node.op != "Const") continue;
    const auto& outs = infos_[static_cast<size_t>(i)];
    if (outs.empty()) continue;
    auto elements_or = outs[0].shape.num_elements();
    auto bytes_or = outs[0].shape.num_bytes(outs[0].dtype);
    if (!elements_or.ok() || !bytes_or.ok()) continue;
    int64_t elements = *elements_or;
    s.weight_bytes += *bytes_or;
    if (outs[0].dtype == DType::kFloat || outs[0].dtype == DType::kHalf ||
        outs[0].dtype == DType::kBFloat16 || outs[0].dtype == DType::kDouble) {
      s.num_params += elements;
    }
  }
  for (const auto& [op, count] : counts) s.op_histogram.push_back({op, count});
  std::sort(s.op_histogram.begin(), s.op_histogram.end(), [](const OpCount& a, const OpCount& b) {
    return a.count != b.count ? a.count > b.count : a.op < b.op;
  });
  return s;
}

Result<WeightsMode> parse_weights_mode(const std::string& text, const char* what) {
  for (WeightsMode mode : {WeightsMode::kPacked, WeightsMode::kMapped}) {
    if (text == weights_mode_name(mode)) return mode;
  }
  return invalid_argument(what, " must be 'packed' or 'mapped', got '", text, "'");
}

const char* weights_mode_name(WeightsMode mode) {
  return mode == WeightsMode::kMapped ? "mapped" : "packed";
}

}  // namespace pbmem
