// Function-call inlining (inline.h): expands call nodes into their bodies before the IR is built.
#include "graph/inline.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace pbmem {

namespace {

// A fuzzed library can call a function many times from each of many nested functions, which
// multiplies nodes exponentially: past this many the graph is refused rather than built.
constexpr size_t kMaxInlinedNodes = size_t{1} << 22;
// Calls nest this deep at most (Keras models nest a few levels); deeper is refused before the
// recursion can exhaust the stack.
constexpr size_t kMaxCallDepth = 64;
// The single output arg of PartitionedCall and StatefulPartitionedCall (a list of Tout tensors).
constexpr std::string_view kCallOutputArg = "output";
constexpr char kControlPrefix = '^';

// The node part of "node", "node:1" or "^node".
std::string_view node_of(std::string_view tensor) {
  if (!tensor.empty() && tensor.front() == kControlPrefix) tensor.remove_prefix(1);
  return tensor.substr(0, tensor.find(':'));
}

bool parse_index(std::string_view digits, int* out) {
  if (digits.empty() || digits.size() > 9) return false;
  int value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}

// An Identity with one data input and only control inputs after it.
bool forwards(const NodeDefView& node) {
  if (node.op != "Identity" || node.inputs.empty()) return false;
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    bool control = !node.inputs[k].empty() && node.inputs[k].front() == kControlPrefix;
    if (node.inputs[k].empty() || control != (k > 0)) return false;
  }
  return true;
}

// One function body being expanded for one call.
struct Frame {
  const NodeDefView* call = nullptr;  // already in the outer graph's namespace
  const FunctionDefView* function = nullptr;
  const AttrMap* bindings = nullptr;                              // the call's `f` attrs
  std::string prefix;                                             // "call/"
  std::unordered_map<std::string_view, std::string_view> args;    // arg -> outer tensor
  std::unordered_map<std::string_view, const NodeDefView*> body;  // body node by name
  std::vector<std::string_view> call_controls;                    // "^x" of the call

  template <typename... Args>
  Status error(const Args&... args) const {
    return invalid_argument("node '", call->name, "' (", call->op, ") calling function '",
                            function->name, "': ", args...);
  }
};

class Inliner {
 public:
  Inliner(GraphDefView& graph, const OutputArgsLookup& output_args)
      : graph_(graph), output_args_(output_args) {}

  Status run();

 private:
  // What a call stands for once inlined: its outputs' tensors and, for "^call", the nodes a
  // reader must wait for. Both may name other calls, resolved by rewire().
  struct CallResult {
    std::vector<std::string_view> outputs;
    std::vector<std::string_view> controls;
  };

  Status expand(const NodeDefView& call, bool keep_node, std::vector<NodeDefView>* out);
  Result<std::string_view> resolve_output(std::string_view tensor) const;
  Status rewire(NodeDefView* node) const;
  void drop_unread_forwarding();
  Result<Frame> make_frame(const NodeDefView& call) const;
  Status substitute(const Frame& frame, const NodeDefView& node, AttrMap* attrs) const;
  Result<std::string_view> body_input(const Frame& frame, std::string_view text) const;
  Result<int> output_port(const Frame& frame, const NodeDefView& producer, std::string_view arg,
                          int index, std::string_view text) const;
  Result<NodeDefView> inline_node(const Frame& frame, const NodeDefView& def);
  Result<std::string_view> body_control(const Frame& frame, const NodeDefView& def,
                                        std::string_view text);
  Result<CallResult> call_result(const Frame& frame);

  GraphDefView& graph_;
  const OutputArgsLookup& output_args_;
  std::vector<std::string_view> stack_;  // functions being expanded, outermost first
  std::unordered_map<std::string_view, CallResult> calls_;  // by call node name
  std::unordered_set<std::string_view> forwarding_;         // return Identities that calls skip
};

Result<Frame> Inliner::make_frame(const NodeDefView& call) const {
  Frame frame;
  frame.call = &call;
  const AttrValue* f = call.find_attr("f");
  if (f == nullptr || f->kind != AttrValue::Kind::kFunc || f->func_name.empty()) {
    return invalid_argument("node '", call.name, "' (", call.op,
                            "): attribute 'f' must name the function it calls");
  }
  frame.function = graph_.library.find(f->func_name);
  if (frame.function == nullptr) {
    return invalid_argument("node '", call.name, "' (", call.op, ") calls function '", f->func_name,
                            "', which is not in the graph's function library");
  }
  frame.bindings = &f->func_attrs;
  frame.prefix = str_cat(call.name, "/");
  const FunctionDefView& fn = *frame.function;
  std::vector<std::string_view> data;
  for (std::string_view input : call.inputs) {
    bool control = !input.empty() && input.front() == kControlPrefix;
    (control ? frame.call_controls : data).push_back(input);
  }
  if (data.size() != fn.inputs.size()) {
    return frame.error("the call has ", data.size(), " data inputs but the function takes ",
                       fn.inputs.size(), " args");
  }
  for (size_t k = 0; k < fn.inputs.size(); ++k) {
    if (fn.inputs[k].is_list()) {
      return frame.error("arg '", fn.inputs[k].name,
                         "' is a list of tensors; only single-tensor args are supported");
    }
    frame.args[fn.inputs[k].name] = data[k];
  }
  for (const NodeDefView& node : fn.nodes) {
    if (!frame.body.emplace(node.name, &node).second || frame.args.count(node.name) != 0) {
      return frame.error("the body has two nodes or args named '", node.name, "'");
    }
  }
  return frame;
}

// Binds placeholder attr values ("T" or "$T") from the call's `f` attrs, then its node attrs.
Status Inliner::substitute(const Frame& frame, const NodeDefView& node, AttrMap* attrs) const {
  for (auto& [key, value] : *attrs) {
    if (value.kind == AttrValue::Kind::kFunc) {
      PBMEM_RETURN_IF_ERROR(substitute(frame, node, &value.func_attrs));
      continue;
    }
    if (value.kind != AttrValue::Kind::kPlaceholder) continue;
    std::string_view name = value.s;
    if (!name.empty() && name.front() == '$') name.remove_prefix(1);
    const AttrValue* bound = find_attr(*frame.bindings, name);
    if (bound == nullptr) bound = frame.call->find_attr(name);
    if (bound == nullptr || bound->kind == AttrValue::Kind::kPlaceholder) {
      return frame.error("body node '", node.name, "' (", node.op, "): attribute '", key,
                         "' is the placeholder '", value.s, "', which the call does not bind");
    }
    value = *bound;
  }
  return ok_status();
}

Result<int> Inliner::output_port(const Frame& frame, const NodeDefView& producer,
                                 std::string_view arg, int index, std::string_view text) const {
  if (is_function_call_op(producer.op)) {
    if (arg != kCallOutputArg) {
      return frame.error("body input '", text, "': ", producer.op, " has no output arg '", arg,
                         "' (its outputs are '", kCallOutputArg, "')");
    }
    return index;
  }
  const std::vector<std::string>* names = output_args_(producer.op);
  if (names == nullptr) return index;
  auto it = std::find(names->begin(), names->end(), arg);
  if (it == names->end() || index != 0) {
    std::string known;
    for (const std::string& name : *names) known += (known.empty() ? "" : ", ") + name;
    return frame.error("body input '", text, "' names output '", arg, ":", index, "' of ",
                       producer.op, ", whose outputs are ", known, " (one tensor each)");
  }
  return static_cast<int>(it - names->begin());
}

// "x" (a function arg) or "node:output_arg:index" in the body -> a tensor in the outer graph.
Result<std::string_view> Inliner::body_input(const Frame& frame, std::string_view text) const {
  size_t first = text.find(':');
  if (first == std::string_view::npos) {
    auto arg = frame.args.find(text);
    if (arg != frame.args.end()) return arg->second;
    return frame.error("body input '", text, "' names no arg of the function (body nodes are ",
                       "read as 'node:output_arg:index')");
  }
  std::string_view node = text.substr(0, first);
  std::string_view rest = text.substr(first + 1);
  size_t second = rest.find(':');
  int index = 0;
  auto producer = frame.body.find(node);
  if (producer == frame.body.end() || second == std::string_view::npos ||
      !parse_index(rest.substr(second + 1), &index)) {
    return frame.error("body input '", text,
                       "' is not 'node:output_arg:index' naming a node of the body");
  }
  PBMEM_ASSIGN_OR_RETURN(
      int port, output_port(frame, *producer->second, rest.substr(0, second), index, text));
  std::string name = str_cat(frame.prefix, node);
  return graph_.keep(port == 0 ? name : str_cat(name, ":", port));
}

// "^x" in the body: on a body node, or on the producer of a function arg.
Result<std::string_view> Inliner::body_control(const Frame& frame, const NodeDefView& def,
                                               std::string_view text) {
  std::string_view target = text.substr(1);
  auto arg = frame.args.find(target);
  if (arg != frame.args.end()) return graph_.keep(str_cat("^", node_of(arg->second)));
  if (frame.body.count(target) != 0) return graph_.keep(str_cat("^", frame.prefix, target));
  return frame.error("body node '", def.name, "' has control input '", text,
                     "', which names no node or arg of the function");
}

Result<NodeDefView> Inliner::inline_node(const Frame& frame, const NodeDefView& def) {
  NodeDefView node = def;
  node.name = graph_.keep(str_cat(frame.prefix, def.name));
  node.inputs.clear();
  bool reads_body = false;
  for (std::string_view text : def.inputs) {
    if (!text.empty() && text.front() == kControlPrefix) {
      PBMEM_ASSIGN_OR_RETURN(std::string_view outer, body_control(frame, def, text));
      node.inputs.push_back(outer);
      reads_body |= frame.args.count(text.substr(1)) == 0;
      continue;
    }
    PBMEM_ASSIGN_OR_RETURN(std::string_view outer, body_input(frame, text));
    node.inputs.push_back(outer);
    reads_body |= frame.args.count(text) == 0;
  }
  // Nodes that read nothing inside the body wait for the call's control inputs, as TF's own
  // inlining makes them do.
  if (!reads_body) {
    node.inputs.insert(node.inputs.end(), frame.call_controls.begin(), frame.call_controls.end());
  }
  PBMEM_RETURN_IF_ERROR(substitute(frame, def, &node.attrs));
  return node;
}

// Output k of the call is what output arg k returns. "^call" waits for the body's control_ret
// nodes (TF lists the body's stateful ops there), the control inputs of its return Identities
// and the call's own control inputs, not for the outputs' producers: outputs are values that
// only their readers need, and a control edge on a producer would block its fusion.
Result<Inliner::CallResult> Inliner::call_result(const Frame& frame) {
  const FunctionDefView& fn = *frame.function;
  CallResult result;
  for (const ArgDefView& arg : fn.outputs) {
    if (arg.is_list()) {
      return frame.error("output arg '", arg.name,
                         "' is a list of tensors; only single-tensor outputs are supported");
    }
    std::string_view ret = fn.find_ret(arg.name);
    if (ret.empty()) return frame.error("output arg '", arg.name, "' has no 'ret' entry");
    // tf.function returns every output through an Identity: read what it forwards instead, so
    // that the producer and the call's readers are neighbours for fusion ("^call" waits for the
    // Identity's control inputs instead). run() drops the Identity when nothing else reads it.
    auto producer = frame.body.find(node_of(ret));
    if (producer != frame.body.end() && forwards(*producer->second)) {
      const NodeDefView& identity = *producer->second;
      forwarding_.insert(graph_.keep(str_cat(frame.prefix, identity.name)));
      ret = identity.inputs[0];
      for (size_t k = 1; k < identity.inputs.size(); ++k) {
        PBMEM_ASSIGN_OR_RETURN(std::string_view control,
                               body_control(frame, identity, identity.inputs[k]));
        result.controls.push_back(control);
      }
    }
    PBMEM_ASSIGN_OR_RETURN(std::string_view outer, body_input(frame, ret));
    result.outputs.push_back(outer);
  }
  for (const auto& [name, target] : fn.control_ret) {
    if (frame.body.count(target) == 0) {
      return frame.error("control_ret '", name, "' names '", target, "', not a body node");
    }
    result.controls.push_back(graph_.keep(str_cat("^", frame.prefix, target)));
  }
  result.controls.insert(result.controls.end(), frame.call_controls.begin(),
                         frame.call_controls.end());
  return result;
}

// Appends the call's body to `out`; with keep_node (a call nobody reads: a graph output), also
// an IdentityN under the call's name that returns its outputs and waits for what "^call" would.
Status Inliner::expand(const NodeDefView& call, bool keep_node, std::vector<NodeDefView>* out) {
  PBMEM_ASSIGN_OR_RETURN(Frame frame, make_frame(call));
  std::string_view name = frame.function->name;
  if (std::find(stack_.begin(), stack_.end(), name) != stack_.end()) {
    std::string chain;
    for (std::string_view f : stack_) chain += str_cat("'", f, "' -> ");
    return frame.error("the function calls itself (", chain, "'", name,
                       "'); recursive functions cannot be inlined");
  }
  if (stack_.size() >= kMaxCallDepth) {
    return frame.error("function calls nest deeper than ", kMaxCallDepth, " levels");
  }
  stack_.push_back(name);
  for (const NodeDefView& def : frame.function->nodes) {
    PBMEM_ASSIGN_OR_RETURN(NodeDefView node, inline_node(frame, def));
    if (is_function_call_op(node.op)) {
      PBMEM_RETURN_IF_ERROR(expand(node, /*keep_node=*/false, out));
    } else {
      out->push_back(std::move(node));
    }
    if (out->size() > kMaxInlinedNodes) {
      return frame.error("inlining function calls makes more than ", kMaxInlinedNodes, " nodes");
    }
  }
  stack_.pop_back();
  PBMEM_ASSIGN_OR_RETURN(CallResult result, call_result(frame));
  if (keep_node) {
    // A call without outputs (only control_ret: asserts, prints) is a NoOp, which is no output.
    NodeDefView node;
    node.name = call.name;
    node.op = result.outputs.empty() ? "NoOp" : "IdentityN";
    node.device = call.device;
    node.inputs = result.outputs;
    node.inputs.insert(node.inputs.end(), result.controls.begin(), result.controls.end());
    const AttrValue* tout = call.find_attr("Tout");
    if (tout != nullptr && !result.outputs.empty()) node.attrs.emplace_back("T", *tout);
    out->push_back(std::move(node));
  }
  calls_[call.name] = std::move(result);
  return ok_status();
}

// Follows "call:k" to the tensor the call's function returned; other tensors are returned as
// they are. A graph whose call reads its own output would loop: that is a cycle error.
Result<std::string_view> Inliner::resolve_output(std::string_view tensor) const {
  for (size_t step = 0; step <= calls_.size(); ++step) {
    size_t colon = tensor.find(':');
    auto call = calls_.find(tensor.substr(0, colon));
    if (call == calls_.end()) return tensor;
    int port = 0;
    if (colon != std::string_view::npos && !parse_index(tensor.substr(colon + 1), &port)) {
      return invalid_argument("input '", tensor, "' has a bad output port");
    }
    if (static_cast<size_t>(port) >= call->second.outputs.size()) {
      return invalid_argument("input '", tensor, "' reads output ", port, " of call '", call->first,
                              "', which returns ", call->second.outputs.size());
    }
    tensor = call->second.outputs[static_cast<size_t>(port)];
  }
  return invalid_argument("input '", tensor, "' reads function call outputs in a cycle");
}

// Points a node's inputs at what the calls it reads returned, so that no view sits between a
// producer and its readers (fusion matches producers with their direct readers).
Status Inliner::rewire(NodeDefView* node) const {
  std::vector<std::string_view> inputs;
  std::vector<std::string_view> pending;  // control inputs still to resolve
  for (std::string_view text : node->inputs) {
    if (!text.empty() && text.front() == kControlPrefix) {
      pending.push_back(text);
      continue;
    }
    Result<std::string_view> resolved = resolve_output(text);
    if (!resolved.ok()) {
      return resolved.status().with_context(str_cat("node '", node->name, "' (", node->op, ")"));
    }
    inputs.push_back(*resolved);
  }
  std::vector<std::string_view> seen;
  for (size_t next = 0; next < pending.size(); ++next) {  // in order: a call's in its place
    std::string_view text = pending[next];
    if (std::find(seen.begin(), seen.end(), text) != seen.end()) continue;
    seen.push_back(text);
    auto call = calls_.find(text.substr(1));
    if (call == calls_.end()) {
      inputs.push_back(text);
    } else {
      pending.insert(pending.end(), call->second.controls.begin(), call->second.controls.end());
    }
  }
  node->inputs = std::move(inputs);
  return ok_status();
}

// Unread, a skipped return Identity would be a sink: a default output of the graph.
void Inliner::drop_unread_forwarding() {
  if (forwarding_.empty()) return;
  std::unordered_set<std::string_view> read;
  for (const NodeDefView& node : graph_.nodes) {
    for (std::string_view input : node.inputs) read.insert(node_of(input));
  }
  auto unread = [&](const NodeDefView& node) {
    return forwarding_.count(node.name) != 0 && read.count(node.name) == 0;
  };
  graph_.nodes.erase(std::remove_if(graph_.nodes.begin(), graph_.nodes.end(), unread),
                     graph_.nodes.end());
}

Status Inliner::run() {
  std::unordered_set<std::string_view> read;  // nodes of the graph that others read
  for (const NodeDefView& node : graph_.nodes) {
    for (std::string_view input : node.inputs) read.insert(node_of(input));
  }
  std::vector<NodeDefView> nodes;
  nodes.reserve(graph_.nodes.size());
  for (NodeDefView& node : graph_.nodes) {
    if (is_function_call_op(node.op)) {
      PBMEM_RETURN_IF_ERROR(expand(node, /*keep_node=*/read.count(node.name) == 0, &nodes));
    } else {
      nodes.push_back(std::move(node));
    }
  }
  graph_.nodes = std::move(nodes);
  if (calls_.empty()) return ok_status();
  for (NodeDefView& node : graph_.nodes) PBMEM_RETURN_IF_ERROR(rewire(&node));
  drop_unread_forwarding();
  // Call outputs stay reachable by name ("call:1") for the outputs a user asks for.
  for (const auto& [name, result] : calls_) {
    std::vector<std::string_view> outputs;
    for (std::string_view tensor : result.outputs) {
      PBMEM_ASSIGN_OR_RETURN(std::string_view resolved, resolve_output(tensor));
      outputs.push_back(resolved);
    }
    graph_.call_outputs.emplace_back(name, std::move(outputs));
  }
  return ok_status();
}

}  // namespace

bool is_function_call_op(std::string_view op) {
  return op == "PartitionedCall" || op == "StatefulPartitionedCall";
}

Status inline_function_calls(GraphDefView* graph, const OutputArgsLookup& output_args) {
  if (graph == nullptr) return invalid_argument("inline_function_calls: no graph given");
  return Inliner(*graph, output_args).run();
}

}  // namespace pbmem
