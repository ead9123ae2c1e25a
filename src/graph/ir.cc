// Graph IR: typed attribute getters, input resolution and a deterministic topological schedule.
#include "graph/ir.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>

namespace pbmem {

namespace {

// How many nodes of a cycle an error message lists.
constexpr size_t kMaxCycleNodesShown = 6;
constexpr char kControlPrefix = '^';
constexpr char kPortSeparator = ':';

const char* list_contents(const AttrList& list) {
  if (!list.i.empty()) return "a list of ints";
  if (!list.f.empty()) return "a list of floats";
  if (!list.s.empty()) return "a list of strings";
  if (!list.b.empty()) return "a list of bools";
  if (!list.type.empty()) return "a list of dtypes";
  if (!list.shape.empty()) return "a list of shapes";
  if (!list.tensor.empty()) return "a list of tensors";
  return "an empty list";
}

const char* kind_description(const AttrValue& value) {
  switch (value.kind) {
    case AttrValue::Kind::kNone: return "no value";
    case AttrValue::Kind::kS: return "a string";
    case AttrValue::Kind::kI: return "an int";
    case AttrValue::Kind::kF: return "a float";
    case AttrValue::Kind::kB: return "a bool";
    case AttrValue::Kind::kType: return "a dtype";
    case AttrValue::Kind::kShape: return "a shape";
    case AttrValue::Kind::kTensor: return "a tensor";
    case AttrValue::Kind::kList: return list_contents(value.list);
    case AttrValue::Kind::kFunc: return "a function";
    case AttrValue::Kind::kPlaceholder: return "a placeholder";
  }
  return "an unknown kind";
}

// A name and port parsed from "name", "name:port"; control inputs ("^name") are handled before.
struct TensorName {
  std::string_view node;
  int port = 0;
};

// Fails with a message (without node context) when the port is not a non-negative int.
Result<TensorName> split_tensor_name(std::string_view text) {
  TensorName out;
  size_t colon = text.rfind(kPortSeparator);
  if (colon == std::string_view::npos) {
    out.node = text;
  } else {
    out.node = text.substr(0, colon);
    std::string_view digits = text.substr(colon + 1);
    if (digits.empty()) return invalid_argument("has an empty output port");
    int64_t port = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') {
        return invalid_argument("has output port '", digits, "', which is not a non-negative integer");
      }
      port = port * 10 + (c - '0');
      if (port > std::numeric_limits<int>::max()) {
        return invalid_argument("has output port '", digits, "', which is too large");
      }
    }
    out.port = static_cast<int>(port);
  }
  if (out.node.empty()) return invalid_argument("has an empty node name");
  return out;
}

}  // namespace

// ---------------------------------------------------------------- Node

std::string Node::describe() const { return str_cat("node '", name, "' (", op, ")"); }

bool Node::has_attr(std::string_view key) const { return attr(key) != nullptr; }

const AttrValue* Node::attr(std::string_view key) const {
  return def == nullptr ? nullptr : def->find_attr(key);
}

namespace {

// Looks up an attribute that must be present and of `kind`; `wanted` words the kind for errors.
Result<const AttrValue*> typed_attr(const Node& node, std::string_view key, AttrValue::Kind kind,
                                    const char* wanted) {
  const AttrValue* value = node.attr(key);
  if (value == nullptr) return node.error("missing attribute '", key, "'");
  if (value->kind != kind) {
    return node.error("attribute '", key, "' must be ", wanted, ", got ", kind_description(*value));
  }
  return value;
}

// True when an optional attribute should fall back to its default (absent or without value).
bool absent(const Node& node, std::string_view key) {
  const AttrValue* value = node.attr(key);
  return value == nullptr || value->kind == AttrValue::Kind::kNone;
}

}  // namespace

Result<int64_t> Node::attr_int(std::string_view key) const {
  PBMEM_ASSIGN_OR_RETURN(const AttrValue* v, typed_attr(*this, key, AttrValue::Kind::kI, "an int"));
  return v->i;
}

Result<float> Node::attr_float(std::string_view key) const {
  PBMEM_ASSIGN_OR_RETURN(const AttrValue* v, typed_attr(*this, key, AttrValue::Kind::kF, "a float"));
  return v->f;
}

Result<bool> Node::attr_bool(std::string_view key) const {
  PBMEM_ASSIGN_OR_RETURN(const AttrValue* v, typed_attr(*this, key, AttrValue::Kind::kB, "a bool"));
  return v->b;
}

Result<std::string> Node::attr_string(std::string_view key) const {
  PBMEM_ASSIGN_OR_RETURN(const AttrValue* v,
                         typed_attr(*this, key, AttrValue::Kind::kS, "a string"));
  return std::string(v->s);
}

Result<DType> Node::attr_type(std::string_view key) const {
  PBMEM_ASSIGN_OR_RETURN(const AttrValue* v, typed_attr(*this, key, AttrValue::Kind::kType, "a dtype"));
  if (v->type == DType::kInvalid) {
    return error("attribute '", key, "' has unknown dtype number ", v->raw_type);
  }
  return v->type;
}

Result<std::vector<int64_t>> Node::attr_ints(std::string_view key) const {
  const char* wanted = "a list of ints";
  PBMEM_ASSIGN_OR_RETURN(const AttrValue* v, typed_attr(*this, key, AttrValue::Kind::kList, wanted));
  const AttrList& list = v->list;
  bool other_values = !list.f.empty() || !list.s.empty() || !list.b.empty() ||
                      !list.type.empty() || !list.shape.empty() || !list.tensor.empty();
  if (list.i.empty() && other_values) {
    return error("attribute '", key, "' must be ", wanted, ", got ", list_contents(list));
  }
  return list.i;
}

Result<Shape> Node::attr_shape(std::string_view key) const {
  PBMEM_ASSIGN_OR_RETURN(const AttrValue* v, typed_attr(*this, key, AttrValue::Kind::kShape, "a shape"));
  return v->shape;
}

Result<int64_t> Node::attr_int_or(std::string_view key, int64_t fallback) const {
  if (absent(*this, key)) return fallback;
  return attr_int(key);
}

Result<float> Node::attr_float_or(std::string_view key, float fallback) const {
  if (absent(*this, key)) return fallback;
  return attr_float(key);
}

Result<bool> Node::attr_bool_or(std::string_view key, bool fallback) const {
  if (absent(*this, key)) return fallback;
  return attr_bool(key);
}

Result<std::string> Node::attr_string_or(std::string_view key, std::string fallback) const {
  if (absent(*this, key)) return fallback;
  return attr_string(key);
}

Result<DType> Node::attr_type_or(std::string_view key, DType fallback) const {
  if (absent(*this, key)) return fallback;
  return attr_type(key);
}

Result<std::vector<int64_t>> Node::attr_ints_or(std::string_view key,
                                                std::vector<int64_t> fallback) const {
  if (absent(*this, key)) return fallback;
  return attr_ints(key);
}

// ---------------------------------------------------------------- Graph

Result<Graph> Graph::build(GraphDefView def) {
  Graph graph;
  graph.def_ = std::make_unique<GraphDefView>(std::move(def));
  const std::vector<NodeDefView>& defs = graph.def_->nodes;
  graph.nodes_.resize(defs.size());
  graph.by_name_.reserve(defs.size());
  // Keys are views of the names in the GraphDefView (the mapped file), which outlive moves.
  for (size_t i = 0; i < defs.size(); ++i) {
    const NodeDefView& nd = defs[i];
    if (nd.name.empty()) return invalid_argument("node #", i, " (", nd.op, ") has an empty name");
    if (nd.op.empty()) return invalid_argument("node '", nd.name, "' has no op");
    auto [it, inserted] = graph.by_name_.emplace(nd.name, static_cast<int>(i));
    if (!inserted) {
      return invalid_argument("duplicate node name '", nd.name, "' (nodes #", it->second,
                              " and #", i, ")");
    }
    Node& node = graph.nodes_[i];
    node.name = std::string(nd.name);
    node.op = std::string(nd.op);
    node.def = &nd;
    node.file = graph.def_->file;
  }
  for (size_t i = 0; i < defs.size(); ++i) {
    Node& node = graph.nodes_[i];
    const std::vector<std::string_view>& inputs = defs[i].inputs;
    for (size_t k = 0; k < inputs.size(); ++k) {
      std::string_view text = inputs[k];
      bool control = !text.empty() && text.front() == kControlPrefix;
      if (control) text.remove_prefix(1);
      Result<TensorName> parsed = control ? Result<TensorName>(TensorName{text, 0})
                                          : split_tensor_name(text);
      if (!parsed.ok()) {
        return node.error("input ", k, " '", inputs[k], "' ", parsed.status().message());
      }
      int producer = graph.find(parsed->node);
      if (producer < 0) {
        return node.error("input ", k, " '", inputs[k],
                          "' names a node that is not in the graph");
      }
      if (control) {
        node.control_inputs.push_back(producer);
      } else {
        node.inputs.push_back(TensorRef{producer, parsed->port});
      }
    }
  }
  return graph;
}

int Graph::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

Result<TensorRef> Graph::resolve(std::string_view tensor_name) const {
  if (!tensor_name.empty() && tensor_name.front() == kControlPrefix) {
    return invalid_argument("tensor name '", tensor_name,
                            "' is a control input; name a node output like 'x' or 'x:0'");
  }
  Result<TensorName> parsed = split_tensor_name(tensor_name);
  if (!parsed.ok()) {
    return invalid_argument("tensor name '", tensor_name, "' ", parsed.status().message());
  }
  int node = find(parsed->node);
  if (node < 0) {
    // An inlined function call: its outputs are tensors of the body's nodes.
    for (const auto& [call, outputs] : def_->call_outputs) {
      if (call != parsed->node) continue;
      if (static_cast<size_t>(parsed->port) < outputs.size()) {
        return resolve(outputs[static_cast<size_t>(parsed->port)]);
      }
      return out_of_range("tensor name '", tensor_name, "': the function call '", call, "' has ",
                          outputs.size(), " outputs");
    }
    return not_found("tensor name '", tensor_name, "': no node named '", parsed->node,
                     "' in the graph");
  }
  return TensorRef{node, parsed->port};
}

Result<std::vector<int>> Graph::schedule(const std::vector<int>& targets) const {
  const int n = num_nodes();
  // 1. The nodes needed for the targets: ancestors through data and control edges.
  std::vector<char> needed(static_cast<size_t>(n), 0);
  std::vector<int> stack;
  if (targets.empty()) {
    std::fill(needed.begin(), needed.end(), 1);
  } else {
    for (int t : targets) {
      if (t < 0 || t >= n) {
        return out_of_range("schedule target index ", t, " is outside the graph's ", n, " nodes");
      }
      if (!needed[static_cast<size_t>(t)]) {
        needed[static_cast<size_t>(t)] = 1;
        stack.push_back(t);
      }
    }
  }
  auto visit = [&](int producer) {
    if (!needed[static_cast<size_t>(producer)]) {
      needed[static_cast<size_t>(producer)] = 1;
      stack.push_back(producer);
    }
  };
  while (!stack.empty()) {
    const Node& node = nodes_[static_cast<size_t>(stack.back())];
    stack.pop_back();
    for (const TensorRef& in : node.inputs) visit(in.node);
    for (int c : node.control_inputs) visit(c);
  }

  // 2. Kahn's algorithm; a min-heap on the index keeps ties in file order.
  std::vector<int> pending(static_cast<size_t>(n), 0);  // unscheduled producer edges
  std::vector<std::vector<int>> consumers(static_cast<size_t>(n));
  int needed_count = 0;
  for (int i = 0; i < n; ++i) {
    if (!needed[static_cast<size_t>(i)]) continue;
    ++needed_count;
    const Node& node = nodes_[static_cast<size_t>(i)];
    for (const TensorRef& in : node.inputs) consumers[static_cast<size_t>(in.node)].push_back(i);
    for (int c : node.control_inputs) consumers[static_cast<size_t>(c)].push_back(i);
    pending[static_cast<size_t>(i)] =
        static_cast<int>(node.inputs.size() + node.control_inputs.size());
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i) {
    if (needed[static_cast<size_t>(i)] && pending[static_cast<size_t>(i)] == 0) ready.push(i);
  }
  std::vector<int> order;
  order.reserve(static_cast<size_t>(needed_count));
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int consumer : consumers[static_cast<size_t>(i)]) {
      if (--pending[static_cast<size_t>(consumer)] == 0) ready.push(consumer);
    }
  }
  if (static_cast<int>(order.size()) == needed_count) return order;

  // 3. A cycle: every unscheduled node has an unscheduled producer; walk producers until a
  // node repeats, then report that loop in data-flow order.
  int start = 0;
  while (!needed[static_cast<size_t>(start)] || pending[static_cast<size_t>(start)] == 0) ++start;
  std::vector<int> seen_at(static_cast<size_t>(n), -1);
  std::vector<int> walk;
  int current = start;
  while (seen_at[static_cast<size_t>(current)] < 0) {
    seen_at[static_cast<size_t>(current)] = static_cast<int>(walk.size());
    walk.push_back(current);
    const Node& node = nodes_[static_cast<size_t>(current)];
    int next = -1;
    for (const TensorRef& in : node.inputs) {
      if (pending[static_cast<size_t>(in.node)] > 0) next = in.node;
    }
    for (int c : node.control_inputs) {
      if (next < 0 && pending[static_cast<size_t>(c)] > 0) next = c;
    }
    if (next < 0) return internal_error("cycle detection found no unscheduled producer");
    current = next;
  }
  std::vector<int> cycle(walk.begin() + seen_at[static_cast<size_t>(current)], walk.end());
  std::reverse(cycle.begin(), cycle.end());
  // Start at the earliest node in the file, so the message does not depend on the walk.
  std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
  std::string names;
  for (size_t k = 0; k < cycle.size() && k < kMaxCycleNodesShown; ++k) {
    names += str_cat("'", nodes_[static_cast<size_t>(cycle[k])].name, "' -> ");
  }
  if (cycle.size() > kMaxCycleNodesShown) names += "... -> ";
  names += str_cat("'", nodes_[static_cast<size_t>(cycle.front())].name, "'");
  return invalid_argument("the graph has a cycle (", cycle.size(), " nodes): ", names);
}

std::vector<int> Graph::sinks() const {
  std::vector<char> consumed(nodes_.size(), 0);
  for (const Node& node : nodes_) {
    for (const TensorRef& in : node.inputs) consumed[static_cast<size_t>(in.node)] = 1;
    for (int c : node.control_inputs) consumed[static_cast<size_t>(c)] = 1;
  }
  std::vector<int> out;
  for (int i = 0; i < num_nodes(); ++i) {
    if (!consumed[static_cast<size_t>(i)] && nodes_[static_cast<size_t>(i)].op != "NoOp") {
      out.push_back(i);
    }
  }
  return out;
}

std::vector<int> Graph::placeholders() const {
  std::vector<int> out;
  for (int i = 0; i < num_nodes(); ++i) {
    if (nodes_[static_cast<size_t>(i)].op == "Placeholder") out.push_back(i);
  }
  return out;
}

}  // namespace pbmem
