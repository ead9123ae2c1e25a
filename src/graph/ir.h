// The graph IR: nodes with resolved data edges (producer node index + output port) and control
// edges, a topological schedule, and pruning to requested outputs. Attributes stay views into
// the mapped file. Typed attribute getters return errors that name node, op and attribute.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "graph/graphdef.h"

namespace pbmem {

struct TensorRef {
  int node = -1;  // producer node index in Graph::nodes
  int port = 0;   // output index of the producer
  bool operator==(const TensorRef& o) const { return node == o.node && port == o.port; }
};

class Node {
 public:
  std::string name;
  std::string op;
  std::vector<TensorRef> inputs;
  std::vector<int> control_inputs;
  const NodeDefView* def = nullptr;  // attrs live here
  std::shared_ptr<MappedFile> file;   // the model file: Const values are viewed in it

  // "node 'conv1/Conv2D' (Conv2D)": the prefix of every error about this node.
  std::string describe() const;
  // An InvalidArgument Status "node 'x' (Op): <message>".
  template <typename... Args>
  Status error(const Args&... args) const {
    return invalid_argument(describe(), ": ", args...);
  }
  template <typename... Args>
  Status unsupported(const Args&... args) const {
    return unimplemented(describe(), ": ", args...);
  }

  bool has_attr(std::string_view key) const;
  const AttrValue* attr(std::string_view key) const;
  // Required attributes: error "node 'x' (Op): missing attribute 'padding'" or wrong kind.
  Result<int64_t> attr_int(std::string_view key) const;
  Result<float> attr_float(std::string_view key) const;
  Result<bool> attr_bool(std::string_view key) const;
  Result<std::string> attr_string(std::string_view key) const;
  Result<DType> attr_type(std::string_view key) const;
  Result<std::vector<int64_t>> attr_ints(std::string_view key) const;
  Result<Shape> attr_shape(std::string_view key) const;
  // Optional attributes with a default when absent (still an error when present with the
  // wrong kind).
  Result<int64_t> attr_int_or(std::string_view key, int64_t fallback) const;
  Result<float> attr_float_or(std::string_view key, float fallback) const;
  Result<bool> attr_bool_or(std::string_view key, bool fallback) const;
  Result<std::string> attr_string_or(std::string_view key, std::string fallback) const;
  Result<DType> attr_type_or(std::string_view key, DType fallback) const;
  Result<std::vector<int64_t>> attr_ints_or(std::string_view key,
                                            std::vector<int64_t> fallback) const;
};

class Graph {
 public:
  // Resolves every input name; errors name the node and the missing input. Does not check ops.
  static Result<Graph> build(GraphDefView def);

  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(int i) const { return nodes_[static_cast<size_t>(i)]; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  // Index of a node by name, or -1.
  int find(std::string_view name) const;
  // Parses "name" or "name:port" into a TensorRef (an inlined function call's name stands for its
  // outputs); NotFound names the missing node.
  Result<TensorRef> resolve(std::string_view tensor_name) const;
  const std::shared_ptr<MappedFile>& file() const { return def_->file; }
  // The GraphDef's functions, kept after inlining for ops that run a body as a sub-graph.
  const FunctionLibraryView& library() const { return def_->library; }

  // Topological order of the nodes needed for `targets` (data and control edges), Kahn's
  // algorithm with ties broken by file order, so the schedule is deterministic. An empty target
  // list means every node. A cycle is an error that names nodes on it.
  Result<std::vector<int>> schedule(const std::vector<int>& targets) const;

  // Nodes with no consumers (data or control), excluding NoOp: the default outputs.
  std::vector<int> sinks() const;
  // Placeholder nodes in file order.
  std::vector<int> placeholders() const;

 private:
  std::unique_ptr<GraphDefView> def_;  // stable address: Node::def points into it
  std::vector<Node> nodes_;
  std::unordered_map<std::string_view, int> by_name_;
};

}  // namespace pbmem
