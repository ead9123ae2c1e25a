// Tests of function-call inlining (graph/inline.h) on hand-built GraphDef views: names under the
// call, "node:output_arg:index" to flat ports, the call kept as an IdentityN, control edges,
// nested calls, and the errors for recursion and bad references.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "graph/graphdef.h"
#include "graph/inline.h"
#include "graph/ir.h"

namespace pbmem {
namespace {

const std::vector<std::string> kTwoOutputs = {"first", "second"};

// "TwoOut" has output args first and second; every other op has one output arg.
const std::vector<std::string>* lookup(std::string_view op) {
  return op == "TwoOut" ? &kTwoOutputs : nullptr;
}

NodeDefView node(std::string_view name, std::string_view op,
                 std::vector<std::string_view> inputs = {}) {
  NodeDefView n;
  n.name = name;
  n.op = op;
  n.inputs = std::move(inputs);
  return n;
}

NodeDefView call(std::string_view name, std::string_view function,
                 std::vector<std::string_view> inputs) {
  NodeDefView n = node(name, "StatefulPartitionedCall", std::move(inputs));
  AttrValue f;
  f.kind = AttrValue::Kind::kFunc;
  f.func_name = function;
  n.attrs.emplace_back("f", std::move(f));
  return n;
}

FunctionDefView function(std::string_view name, std::vector<std::string_view> args,
                         std::vector<std::string_view> outputs) {
  FunctionDefView fn;
  fn.name = name;
  for (std::string_view arg : args) fn.inputs.emplace_back().name = arg;
  for (std::string_view out : outputs) fn.outputs.emplace_back().name = out;
  return fn;
}

GraphDefView graph_with(std::vector<NodeDefView> nodes, std::vector<FunctionDefView> functions) {
  GraphDefView g;
  g.file = MappedFile::from_bytes("unused");
  g.nodes = std::move(nodes);
  g.library.functions = std::move(functions);
  return g;
}

Result<Graph> inline_and_build(GraphDefView g) {
  PBMEM_RETURN_IF_ERROR(inline_function_calls(&g, lookup));
  return Graph::build(std::move(g));
}

// inner(a) = (TwoOut(a):second); outer(x) = inner(x) with a control_ret.
std::vector<FunctionDefView> nested_library() {
  FunctionDefView inner = function("inner", {"a"}, {"o"});
  inner.nodes = {node("two", "TwoOut", {"a"}), node("k", "Const")};
  inner.ret = {{"o", "two:second:0"}};
  FunctionDefView outer = function("outer", {"x"}, {"y", "z"});
  outer.nodes = {call("c", "inner", {"x"}), node("n", "Neg", {"c:output:0"}),
                 node("side", "NoOp", {"^x"})};
  outer.ret = {{"y", "n:y:0"}, {"z", "c:output:0"}};
  outer.control_ret = {{"side", "side"}};
  return {inner, outer};
}

TEST(Inline, NestedCallsBecomeNodesUnderTheCallName) {
  GraphDefView g = graph_with(
      {node("in", "Placeholder"), node("dep", "NoOp"), call("call", "outer", {"in", "^dep"}),
       node("out", "Identity", {"call:1"}), node("after", "NoOp", {"^call"})},
      nested_library());
  Result<Graph> graph = inline_and_build(std::move(g));
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  const Graph& gr = *graph;
  int two = gr.find("call/c/two");
  ASSERT_GE(two, 0);
  EXPECT_EQ(gr.node(two).inputs[0].node, gr.find("in"));
  // Calls that are read leave no node: "c:output:0" reads "two:second:0", port 1 of TwoOut.
  EXPECT_LT(gr.find("call/c"), 0);
  EXPECT_LT(gr.find("call"), 0);
  EXPECT_EQ(gr.node(gr.find("call/n")).inputs[0], (TensorRef{two, 1}));
  EXPECT_EQ(gr.node(gr.find("out")).inputs[0], (TensorRef{two, 1}));
  // Their outputs are still found by name.
  Result<TensorRef> first = gr.resolve("call:0");
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(*first, (TensorRef{gr.find("call/n"), 0}));
  EXPECT_FALSE(gr.resolve("call:2").ok());
  // "^call" waits for the control_ret and the call's control inputs.
  EXPECT_EQ(gr.node(gr.find("after")).control_inputs,
            (std::vector<int>{gr.find("call/side"), gr.find("dep")}));
  // A control input on an arg waits for the arg's producer; body roots wait for the call's
  // control inputs (the Const reads nothing, so it gets ^dep).
  EXPECT_EQ(gr.node(gr.find("call/side")).control_inputs,
            (std::vector<int>{gr.find("in"), gr.find("dep")}));
  EXPECT_EQ(gr.node(gr.find("call/c/k")).control_inputs, std::vector<int>{gr.find("dep")});
  EXPECT_TRUE(gr.schedule({}).ok());
}

TEST(Inline, ACallNothingReadsStaysAsIdentityN) {
  GraphDefView g =
      graph_with({node("in", "Placeholder"), call("call", "outer", {"in"})}, nested_library());
  Result<Graph> graph = inline_and_build(std::move(g));
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  const Node& call_node = graph->node(graph->find("call"));
  EXPECT_EQ(call_node.op, "IdentityN");
  ASSERT_EQ(call_node.inputs.size(), 2u);
  EXPECT_EQ(call_node.inputs[0], (TensorRef{graph->find("call/n"), 0}));
  EXPECT_EQ(call_node.inputs[1], (TensorRef{graph->find("call/c/two"), 1}));
  // The call is the output; the body's nodes are not (but for the unread Const in "inner").
  std::vector<int> sinks = graph->sinks();
  EXPECT_EQ(std::count(sinks.begin(), sinks.end(), graph->find("call")), 1);
  EXPECT_EQ(std::count(sinks.begin(), sinks.end(), graph->find("call/n")), 0);
}

TEST(Inline, ReturnIdentitiesAreSkipped) {
  // As tf.function writes bodies: conv -> Identity(^NoOp) -> ret.
  FunctionDefView fn = function("f", {"a"}, {"o"});
  fn.nodes = {node("conv", "Conv2D", {"a", "a"}), node("done", "NoOp", {"^a"}),
              node("Identity", "Identity", {"conv:output:0", "^done"})};
  fn.ret = {{"o", "Identity:output:0"}};
  GraphDefView g =
      graph_with({node("in", "Placeholder"), call("call", "f", {"in"}),
                  node("bias", "BiasAdd", {"call", "in"}), node("after", "NoOp", {"^call"})},
                 {fn});
  Result<Graph> graph = inline_and_build(std::move(g));
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  EXPECT_LT(graph->find("call/Identity"), 0);
  EXPECT_EQ(graph->node(graph->find("bias")).inputs[0], (TensorRef{graph->find("call/conv"), 0}));
  EXPECT_EQ(graph->node(graph->find("after")).control_inputs,
            std::vector<int>{graph->find("call/done")});
}

TEST(Inline, AnUnreadCallWithoutOutputsIsANoOp) {
  FunctionDefView check = function("check", {"a"}, {});
  check.nodes = {node("assert", "NoOp", {"^a"})};
  check.control_ret = {{"assert", "assert"}};
  GraphDefView g = graph_with(
      {node("in", "Placeholder"), call("call", "check", {"in"}), node("out", "Neg", {"in"})},
      {check});
  Result<Graph> graph = inline_and_build(std::move(g));
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  const Node& call_node = graph->node(graph->find("call"));
  EXPECT_EQ(call_node.op, "NoOp");
  EXPECT_EQ(call_node.control_inputs, std::vector<int>{graph->find("call/assert")});
  EXPECT_EQ(graph->sinks(), std::vector<int>{graph->find("out")});
}

TEST(Inline, ACallReadingItsOwnOutputIsAnError) {
  FunctionDefView pass = function("pass", {"a"}, {"o"});
  pass.ret = {{"o", "a"}};
  GraphDefView g =
      graph_with({call("loop", "pass", {"loop:0"}), node("out", "Neg", {"loop"})}, {pass});
  Status status = inline_function_calls(&g, lookup);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cycle"), std::string::npos) << status.message();
}

TEST(Inline, PlaceholderAttrsAreBound) {
  FunctionDefView fn = function("f", {"a"}, {"o"});
  NodeDefView relu = node("r", "Relu", {"a"});
  AttrValue placeholder;
  placeholder.kind = AttrValue::Kind::kPlaceholder;
  placeholder.s = "T";
  relu.attrs.emplace_back("T", placeholder);
  fn.nodes = {relu};
  fn.ret = {{"o", "r:activations:0"}};
  NodeDefView c = call("c", "f", {"in"});
  AttrValue dtype;
  dtype.kind = AttrValue::Kind::kType;
  dtype.type = DType::kFloat;
  c.attrs[0].second.func_attrs.emplace_back("T", dtype);
  Result<Graph> graph = inline_and_build(graph_with({node("in", "Placeholder"), c}, {fn}));
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  Result<DType> t = graph->node(graph->find("c/r")).attr_type("T");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(*t, DType::kFloat);
}

void expect_inline_error(GraphDefView g, const std::vector<std::string>& fragments) {
  Status status = inline_function_calls(&g, lookup);
  ASSERT_FALSE(status.ok());
  for (const std::string& fragment : fragments) {
    EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
  }
}

TEST(Inline, RecursionIsAnError) {
  FunctionDefView a = function("a", {"x"}, {"y"});
  a.nodes = {call("inner", "b", {"x"})};
  a.ret = {{"y", "inner:output:0"}};
  FunctionDefView b = function("b", {"x"}, {"y"});
  b.nodes = {call("inner", "a", {"x"})};
  b.ret = {{"y", "inner:output:0"}};
  expect_inline_error(graph_with({node("in", "Placeholder"), call("c", "a", {"in"})}, {a, b}),
                      {"'a' -> 'b' -> 'a'", "recursive"});
}

TEST(Inline, BadReferencesAreErrors) {
  auto with_ret = [](std::string_view ret, std::vector<std::string_view> call_inputs) {
    FunctionDefView fn = function("f", {"a"}, {"o"});
    fn.nodes = {node("two", "TwoOut", {"a"})};
    fn.ret = {{"o", ret}};
    return graph_with({node("in", "Placeholder"), call("c", "f", std::move(call_inputs))}, {fn});
  };
  expect_inline_error(with_ret("two:third:0", {"in"}), {"'c'", "'f'", "first, second"});
  expect_inline_error(with_ret("two:first", {"in"}), {"node:output_arg:index"});
  expect_inline_error(with_ret("nobody:output:0", {"in"}), {"'nobody:output:0'"});
  expect_inline_error(with_ret("two:first:0", {"in", "in"}), {"2 data inputs", "1 args"});
  expect_inline_error(graph_with({call("c", "missing", {})}, {}),
                      {"'missing'", "not in the graph's function library"});
}

}  // namespace
}  // namespace pbmem
