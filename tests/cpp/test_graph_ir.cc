// Tests of the graph IR: input resolution, attribute getters, scheduling (order, pruning,
// control edges, cycles), sinks and placeholders, and that a Graph survives being moved.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "graph/graphdef.h"
#include "graph/graphdef_writer.h"
#include "graph/ir.h"

namespace pbmem {
namespace {

NodeDef node(std::string name, std::string op, std::vector<std::string> inputs = {}) {
  NodeDef n;
  n.name = std::move(name);
  n.op = std::move(op);
  n.inputs = std::move(inputs);
  return n;
}

Result<Graph> build(const std::vector<NodeDef>& nodes) {
  GraphDef g;
  g.nodes = nodes;
  PBMEM_ASSIGN_OR_RETURN(GraphDefView view,
                         parse_graphdef(MappedFile::from_bytes(serialize_graphdef(g))));
  return Graph::build(std::move(view));
}

std::vector<std::string> names(const Graph& g, const std::vector<int>& ids) {
  std::vector<std::string> out;
  for (int i : ids) out.push_back(g.node(i).name);
  return out;
}

std::string error_of(const Result<Graph>& g) { return g.ok() ? "OK" : g.status().message(); }

TEST(GraphBuild, ResolvesInputsAndPorts) {
  Result<Graph> g = build({node("x", "Placeholder"), node("s", "Split", {"x"}),
                           node("a", "Add", {"s:1", "s:0", "^x"})});
  ASSERT_TRUE(g.ok()) << error_of(g);
  const Node& a = g->node(2);
  ASSERT_EQ(a.inputs.size(), 2u);
  EXPECT_EQ(a.inputs[0], (TensorRef{1, 1}));
  EXPECT_EQ(a.inputs[1], (TensorRef{1, 0}));
  EXPECT_EQ(a.control_inputs, std::vector<int>{0});
  EXPECT_NE(a.def, nullptr);
  EXPECT_EQ(a.def->name, "a");
  EXPECT_EQ(a.file, g->file());
  EXPECT_EQ(g->find("s"), 1);
  EXPECT_EQ(g->find("nope"), -1);
}

TEST(GraphBuild, Errors) {
  EXPECT_EQ(error_of(build({node("a", "Const"), node("b", "Add", {"a", "missing:0"})})),
            "node 'b' (Add): input 1 'missing:0' names a node that is not in the graph");
  EXPECT_NE(error_of(build({node("a", "Const"), node("a", "Const")})).find("duplicate node name 'a'"),
            std::string::npos);
  EXPECT_NE(error_of(build({node("a", "Const"), node("b", "Neg", {"a:x"})})).find("not a non-negative integer"),
            std::string::npos);
  EXPECT_NE(error_of(build({node("a", "Const"), node("b", "Neg", {"a:-1"})})).find("input 0 'a:-1'"),
            std::string::npos);
  EXPECT_NE(error_of(build({node("a", "Const"), node("b", "Neg", {"a:"})})).find("empty output port"),
            std::string::npos);
  EXPECT_NE(error_of(build({node("a", "Const"), node("b", "Neg", {"a:99999999999"})})).find("too large"),
            std::string::npos);
  EXPECT_NE(error_of(build({node("a", "Const"), node("b", "NoOp", {"^zz"})})).find("'^zz'"),
            std::string::npos);
  EXPECT_NE(error_of(build({node("", "Const")})).find("empty name"), std::string::npos);
  EXPECT_NE(error_of(build({node("a", "")})).find("has no op"), std::string::npos);
}

TEST(GraphBuild, ResolveTensorNames) {
  Result<Graph> g = build({node("x", "Placeholder"), node("y", "Unique", {"x"})});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->resolve("y").value(), (TensorRef{1, 0}));
  EXPECT_EQ(g->resolve("y:0").value(), (TensorRef{1, 0}));
  EXPECT_EQ(g->resolve("y:1").value(), (TensorRef{1, 1}));
  EXPECT_EQ(g->resolve("nope:0").status().code(), StatusCode::kNotFound);
  EXPECT_NE(g->resolve("nope").status().message().find("'nope'"), std::string::npos);
  EXPECT_EQ(g->resolve("y:abc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(g->resolve("^y").ok());
  EXPECT_FALSE(g->resolve("").ok());
}

TEST(GraphBuild, SurvivesMove) {
  Result<Graph> g = build({node("x", "Placeholder"), node("y", "Neg", {"x"})});
  ASSERT_TRUE(g.ok());
  Graph moved = std::move(g).value();
  Graph again = std::move(moved);
  EXPECT_EQ(again.find("y"), 1);
  EXPECT_EQ(again.node(1).def->name, "y");
  EXPECT_EQ(again.schedule({1}).value(), (std::vector<int>{0, 1}));
}

TEST(GraphSchedule, OrderIsTopologicalWithFileOrderTies) {
  // File order is not topological: consumers come first.
  Result<Graph> g = build({node("out", "Add", {"b", "a"}), node("b", "Neg", {"x"}),
                           node("a", "Neg", {"x"}), node("x", "Placeholder"),
                           node("c", "Const")});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(names(*g, g->schedule({}).value()),
            (std::vector<std::string>{"x", "b", "a", "out", "c"}));
  // The same input used twice is one node with two edges.
  g = build({node("x", "Placeholder"), node("sq", "Mul", {"x", "x"})});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->schedule({}).value(), (std::vector<int>{0, 1}));
}

TEST(GraphSchedule, PrunesToTargetAncestors) {
  Result<Graph> g = build({node("x", "Placeholder"), node("unused", "Neg", {"x"}),
                           node("c", "Const"), node("y", "Add", {"x", "c"}),
                           node("z", "Neg", {"y"})});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(names(*g, g->schedule({3}).value()), (std::vector<std::string>{"x", "c", "y"}));
  EXPECT_EQ(names(*g, g->schedule({2}).value()), (std::vector<std::string>{"c"}));
  EXPECT_EQ(names(*g, g->schedule({4, 1}).value()),
            (std::vector<std::string>{"x", "unused", "c", "y", "z"}));
  EXPECT_EQ(g->schedule({7}).status().code(), StatusCode::kOutOfRange);
  EXPECT_FALSE(g->schedule({-1}).ok());
}

TEST(GraphSchedule, ControlEdgesOrderAndKeepNodes) {
  Result<Graph> g = build({node("y", "Identity", {"x", "^init"}), node("x", "Placeholder"),
                           node("init", "NoOp", {"^setup"}), node("setup", "Const")});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(names(*g, g->schedule({0}).value()),
            (std::vector<std::string>{"x", "setup", "init", "y"}));
}

TEST(GraphSchedule, CycleIsAnErrorNamingItsNodes) {
  Result<Graph> g = build({node("x", "Placeholder"), node("a", "Add", {"x", "c"}),
                           node("b", "Neg", {"a"}), node("c", "Neg", {"b"}),
                           node("out", "Neg", {"c"})});
  ASSERT_TRUE(g.ok());
  Result<std::vector<int>> s = g->schedule({4});
  ASSERT_FALSE(s.ok());
  const std::string& msg = s.status().message();
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'a' -> 'b' -> 'c' -> 'a'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("'out'"), std::string::npos) << msg;
  // A self loop through a control edge; a cycle outside the targets does not matter.
  g = build({node("x", "Placeholder"), node("loop", "NoOp", {"^loop"})});
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->schedule({}).ok());
  EXPECT_TRUE(g->schedule({0}).ok());
}

TEST(GraphQueries, SinksAndPlaceholders) {
  Result<Graph> g = build({node("x", "Placeholder"), node("y", "Placeholder"),
                           node("init", "Const"), node("a", "Neg", {"x", "^init"}),
                           node("b", "Neg", {"a"}), node("c", "Neg", {"a"}),
                           node("done", "NoOp", {"^b"})});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(names(*g, g->sinks()), (std::vector<std::string>{"y", "c"}));
  EXPECT_EQ(names(*g, g->placeholders()), (std::vector<std::string>{"x", "y"}));
}

TEST(NodeAttrs, GettersAndErrors) {
  NodeDef c = node("c1", "Conv2D");
  c.attrs = {{"padding", AttrDef::str("SAME")},
             {"strides", AttrDef::ints({1, 2, 2, 1})},
             {"bad_strides", AttrDef::str("oops")},
             {"floats", AttrDef::floats({1.0f})},
             {"T", AttrDef::dtype(DType::kFloat)},
             {"n", AttrDef::integer(3)},
             {"eps", AttrDef::real(0.5f)},
             {"flag", AttrDef::boolean(true)},
             {"shape", AttrDef::shape_of(Shape({-1, 2}))},
             {"empty", AttrDef::ints({})}};
  Result<Graph> g = build({c});
  ASSERT_TRUE(g.ok());
  const Node& n = g->node(0);
  EXPECT_EQ(n.describe(), "node 'c1' (Conv2D)");
  EXPECT_TRUE(n.has_attr("padding"));
  EXPECT_FALSE(n.has_attr("dilations"));
  EXPECT_EQ(n.attr_string("padding").value(), "SAME");
  EXPECT_EQ(n.attr_ints("strides").value(), (std::vector<int64_t>{1, 2, 2, 1}));
  EXPECT_TRUE(n.attr_ints("empty").value().empty());
  EXPECT_EQ(n.attr_type("T").value(), DType::kFloat);
  EXPECT_EQ(n.attr_int("n").value(), 3);
  EXPECT_EQ(n.attr_float("eps").value(), 0.5f);
  EXPECT_TRUE(n.attr_bool("flag").value());
  EXPECT_EQ(n.attr_shape("shape").value(), Shape({-1, 2}));

  EXPECT_EQ(n.attr_ints("dilations").status().message(),
            "node 'c1' (Conv2D): missing attribute 'dilations'");
  EXPECT_EQ(n.attr_ints("bad_strides").status().message(),
            "node 'c1' (Conv2D): attribute 'bad_strides' must be a list of ints, got a string");
  EXPECT_EQ(n.attr_ints("floats").status().message(),
            "node 'c1' (Conv2D): attribute 'floats' must be a list of ints, got a list of floats");
  EXPECT_FALSE(n.attr_int("padding").ok());
  EXPECT_FALSE(n.attr_float("n").ok());
  EXPECT_FALSE(n.attr_bool("n").ok());
  EXPECT_FALSE(n.attr_type("n").ok());
  EXPECT_FALSE(n.attr_shape("n").ok());
  EXPECT_FALSE(n.attr_string("strides").ok());
  EXPECT_EQ(n.attr_string("padding").status().code(), StatusCode::kOk);

  EXPECT_EQ(n.attr_ints_or("dilations", {1, 1, 1, 1}).value(), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(n.attr_string_or("data_format", "NHWC").value(), "NHWC");
  EXPECT_EQ(n.attr_int_or("n", 9).value(), 3);
  EXPECT_EQ(n.attr_int_or("m", 9).value(), 9);
  EXPECT_EQ(n.attr_float_or("alpha", 0.2f).value(), 0.2f);
  EXPECT_FALSE(n.attr_bool_or("x", false).value());
  EXPECT_EQ(n.attr_type_or("Tidx", DType::kInt32).value(), DType::kInt32);
  EXPECT_FALSE(n.attr_int_or("padding", 0).ok());  // present with the wrong kind
}

}  // namespace
}  // namespace pbmem
