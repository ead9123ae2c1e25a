// Runtime tests on hand-made graphs: load, op check, inference, folding, execution and errors.
#include <gtest/gtest.h>

#include <cmath>

#include "graph/graphdef_writer.h"
#include "runtime/model.h"

namespace pbmem {
namespace {

NodeDef placeholder(const std::string& name, Shape shape, DType dtype = DType::kFloat) {
  return NodeDef{name, "Placeholder", {}, {{"dtype", AttrDef::dtype(dtype)}, {"shape", AttrDef::shape_of(shape)}}, ""};
}

NodeDef unary(const std::string& name, const std::string& op, const std::string& input) {
  return NodeDef{name, op, {input}, {{"T", AttrDef::dtype(DType::kFloat)}}, ""};
}

NodeDef binary(const std::string& name, const std::string& op, const std::string& a, const std::string& b,
               DType dtype = DType::kFloat) {
  return NodeDef{name, op, {a, b}, {{"T", AttrDef::dtype(dtype)}}, ""};
}

NodeDef const_node(const std::string& name, Tensor value) {
  DType dtype = value.dtype();
  return NodeDef{name, "Const", {}, {{"dtype", AttrDef::dtype(dtype)}, {"value", AttrDef::tensor_of(std::move(value))}}, ""};
}

Tensor float_tensor(Shape shape, std::vector<float> values) {
  Tensor t = Tensor::allocate(DType::kFloat, shape).value();
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

Tensor int_tensor(std::vector<int32_t> values) {
  Tensor t = Tensor::allocate(DType::kInt32, Shape{static_cast<int64_t>(values.size())}).value();
  std::copy(values.begin(), values.end(), t.data<int32_t>());
  return t;
}

std::shared_ptr<Model> load(const GraphDef& graph, bool require_supported = true) {
  Model::Options options;
  options.require_supported_ops = require_supported;
  auto model = Model::from_bytes(serialize_graphdef(graph), options);
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  return model.ok() ? model.value() : nullptr;
}

TEST(Runtime, RunsReluAddChainAndFreesIntermediates) {
  GraphDef g;
  g.nodes.push_back(placeholder("x", Shape{kUnknownDim, 3}));
  g.nodes.push_back(const_node("b", float_tensor(Shape{3}, {1, -2, 3})));
  g.nodes.push_back(binary("add", "AddV2", "x", "b"));
  g.nodes.push_back(unary("relu", "Relu", "add"));
  auto model = load(g);
  ASSERT_TRUE(model);
  ASSERT_EQ(model->inputs().size(), 1u);
  EXPECT_EQ(model->inputs()[0].shape.str(), "[?,3]");
  ASSERT_EQ(model->outputs().size(), 1u);
  EXPECT_EQ(model->outputs()[0].name, "relu");
  EXPECT_EQ(model->outputs()[0].shape.str(), "[?,3]");

  auto session = Session::create(model, SessionOptions{});
  ASSERT_TRUE(session.ok()) << session.status().to_string();
  for (int64_t batch : {1, 2, 1}) {  // re-prepares when the shape changes
    std::vector<float> in(static_cast<size_t>(batch * 3));
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) - 2.0f;
    auto out = (*session)->run({{"x:0", float_tensor(Shape{batch, 3}, in)}});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    const Tensor& y = out->at("relu");
    ASSERT_EQ(y.shape(), (Shape{batch, 3}));
    const float bias[3] = {1, -2, 3};
    for (size_t i = 0; i < in.size(); ++i) EXPECT_FLOAT_EQ(y.data<float>()[i], std::max(0.0f, in[i] + bias[i % 3]));
  }
}

TEST(Runtime, FoldsKerasShapeSubgraphAtPrepare) {
  // reshape(x, stack([shape(x)[0], -1])) with an unknown batch.
  GraphDef g;
  g.nodes.push_back(placeholder("x", Shape{kUnknownDim, 2, 3}));
  g.nodes.push_back(NodeDef{"shape", "Shape", {"x"}, {{"T", AttrDef::dtype(DType::kFloat)}, {"out_type", AttrDef::dtype(DType::kInt32)}}, ""});
  g.nodes.push_back(const_node("begin", int_tensor({0})));
  g.nodes.push_back(const_node("end", int_tensor({1})));
  g.nodes.push_back(const_node("strides", int_tensor({1})));
  g.nodes.push_back(NodeDef{"batch", "StridedSlice", {"shape", "begin", "end", "strides"},
                            {{"T", AttrDef::dtype(DType::kInt32)}, {"Index", AttrDef::dtype(DType::kInt32)},
                             {"begin_mask", AttrDef::integer(0)}, {"end_mask", AttrDef::integer(0)},
                             {"ellipsis_mask", AttrDef::integer(0)}, {"new_axis_mask", AttrDef::integer(0)},
                             {"shrink_axis_mask", AttrDef::integer(1)}}, ""});
  Tensor minus_one = Tensor::allocate(DType::kInt32, Shape()).value();
  *minus_one.data<int32_t>() = -1;
  g.nodes.push_back(const_node("minus_one", minus_one));
  g.nodes.push_back(NodeDef{"target", "Pack", {"batch", "minus_one"},
                            {{"T", AttrDef::dtype(DType::kInt32)}, {"N", AttrDef::integer(2)}, {"axis", AttrDef::integer(0)}}, ""});
  g.nodes.push_back(NodeDef{"flat", "Reshape", {"x", "target"},
                            {{"T", AttrDef::dtype(DType::kFloat)}, {"Tshape", AttrDef::dtype(DType::kInt32)}}, ""});
  auto model = load(g);
  ASSERT_TRUE(model);
  auto session = Session::create(model, SessionOptions{});
  ASSERT_TRUE(session.ok()) << session.status().to_string();
  std::vector<float> in(12);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  auto out = (*session)->run({{"x", float_tensor(Shape{2, 2, 3}, in)}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->at("flat").shape(), (Shape{2, 6}));
  EXPECT_EQ(out->at("flat").data<float>()[7], 7.0f);
}

TEST(Runtime, ListsEveryUnsupportedOpAtLoad) {
  GraphDef g;
  g.nodes.push_back(placeholder("x", Shape{2}));
  g.nodes.push_back(unary("a", "FancyOp", "x"));
  g.nodes.push_back(unary("b", "OtherOp", "a"));
  g.nodes.push_back(unary("c", "FancyOp", "b"));
  auto model = Model::from_bytes(serialize_graphdef(g), Model::Options{});
  ASSERT_FALSE(model.ok());
  const std::string& msg = model.status().message();
  EXPECT_EQ(model.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(msg.find("FancyOp (node 'a', node 'c')"), std::string::npos) << msg;
  EXPECT_NE(msg.find("OtherOp (node 'b')"), std::string::npos) << msg;

  auto inspected = load(g, /*require_supported=*/false);
  ASSERT_TRUE(inspected);
  EXPECT_EQ(inspected->summary().unsupported.size(), 2u);
}

TEST(Runtime, RejectsBadFeeds) {
  GraphDef g;
  g.nodes.push_back(placeholder("x", Shape{kUnknownDim, 3}));
  g.nodes.push_back(unary("relu", "Relu", "x"));
  auto model = load(g);
  ASSERT_TRUE(model);
  auto session = Session::create(model, SessionOptions{}).value();
  auto wrong_shape = session->run({{"x", float_tensor(Shape{2, 4}, std::vector<float>(8))}});
  ASSERT_FALSE(wrong_shape.ok());
  EXPECT_NE(wrong_shape.status().message().find("[?,3]"), std::string::npos);
  auto wrong_dtype = session->run({{"x", int_tensor({1, 2, 3})}});
  ASSERT_FALSE(wrong_dtype.ok());
  EXPECT_NE(wrong_dtype.status().message().find("must be float"), std::string::npos);
  auto unknown = session->run({{"y", float_tensor(Shape{1, 3}, {1, 2, 3})}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("inputs are: x float[?,3]"), std::string::npos)
      << unknown.status().message();
  auto missing = session->run({});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing input 'x'"), std::string::npos);

  SessionOptions negative;
  negative.num_threads = -1;
  EXPECT_FALSE(Session::create(model, negative).ok());
  SessionOptions bad_output;
  bad_output.outputs = {"nope:0"};
  auto s = Session::create(model, bad_output);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("nope"), std::string::npos);
}

TEST(Runtime, PlaceholderWithDefaultUsesDefaultUnlessFed) {
  GraphDef g;
  g.nodes.push_back(const_node("d", float_tensor(Shape{2}, {5, -6})));
  g.nodes.push_back(NodeDef{"p", "PlaceholderWithDefault", {"d"},
                            {{"dtype", AttrDef::dtype(DType::kFloat)}, {"shape", AttrDef::shape_of(Shape{2})}}, ""});
  g.nodes.push_back(unary("relu", "Relu", "p"));
  auto model = load(g);
  ASSERT_TRUE(model);
  auto session = Session::create(model, SessionOptions{}).value();
  auto by_default = session->run({});
  ASSERT_TRUE(by_default.ok()) << by_default.status().to_string();
  EXPECT_EQ(by_default->at("relu").data<float>()[0], 5.0f);
  auto fed = session->run({{"p", float_tensor(Shape{2}, {7, 8})}});
  ASSERT_TRUE(fed.ok()) << fed.status().to_string();
  EXPECT_EQ(fed->at("relu").data<float>()[1], 8.0f);
}

}  // namespace
}  // namespace pbmem
