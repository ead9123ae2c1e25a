// Tests of the GraphDef reader and writer: round trips, hand-made wire bytes (packed and
// unpacked fields, groups, corrupt varints), TensorProto conversion, and robustness on
// truncated and random input. Graph IR tests are in test_graph_ir.cc.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "graph/graphdef.h"
#include "graph/graphdef_writer.h"
#include "graph/ir.h"
#include "graph/proto_reader.h"

namespace pbmem {
namespace {

// Builds protobuf wire bytes by hand, so tests can make any (also malformed) message.
struct Wire {
  std::string s;
  Wire& varint(uint64_t v) {
    while (v > 0x7f) {
      s.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    s.push_back(static_cast<char>(v));
    return *this;
  }
  Wire& tag(uint32_t field, int wire) { return varint((uint64_t{field} << 3) | wire); }
  Wire& u(uint32_t field, uint64_t v) { return tag(field, 0).varint(v); }
  Wire& fixed32(uint32_t field, uint32_t v) {
    tag(field, 5);
    for (int b = 0; b < 4; ++b) s.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
    return *this;
  }
  Wire& fixed64(uint32_t field, uint64_t v) {
    tag(field, 1);
    for (int b = 0; b < 8; ++b) s.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
    return *this;
  }
  Wire& bytes(uint32_t field, const std::string& v) {
    tag(field, 2).varint(v.size());
    s += v;
    return *this;
  }
  Wire& msg(uint32_t field, const Wire& m) { return bytes(field, m.s); }
};

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// A GraphDef with one node named "n" whose attribute "a" is the given AttrValue bytes.
std::string graph_with_attr(const Wire& attr_value) {
  Wire entry;
  entry.bytes(1, "a").msg(2, attr_value);
  Wire node;
  node.bytes(1, "n").bytes(2, "Const").msg(5, entry);
  return Wire().msg(1, node).s;
}

Result<GraphDefView> parse_bytes(std::string bytes) {
  return parse_graphdef(MappedFile::from_bytes(std::move(bytes)));
}

const AttrValue& only_attr(const GraphDefView& g) { return g.nodes.at(0).attrs.at(0).second; }

Tensor float_tensor(Shape shape, std::vector<float> values) {
  Tensor t = Tensor::allocate(DType::kFloat, shape).value();
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(float));
  return t;
}

GraphDef small_graph() {
  GraphDef g;
  g.producer_version = 1234;
  g.nodes.push_back({"x", "Placeholder", {}, {{"dtype", AttrDef::dtype(DType::kFloat)},
                                              {"shape", AttrDef::shape_of(Shape({-1, 3}))}}, ""});
  g.nodes.push_back({"w", "Const", {}, {{"dtype", AttrDef::dtype(DType::kFloat)},
                                        {"value", AttrDef::tensor_of(float_tensor(Shape({3}), {1, 2, 3}))}}, ""});
  g.nodes.push_back({"y", "Mul", {"x", "w:0"}, {{"T", AttrDef::dtype(DType::kFloat)}}, "/cpu:0"});
  return g;
}

// ---------------------------------------------------------------- writer round trip

TEST(GraphDefRoundTrip, EveryAttrKind) {
  GraphDef g;
  g.producer_version = 987;
  NodeDef n{"node", "AnyOp", {"a", "b:2", "^c"}, {}, "/device:CPU:0"};
  n.attrs = {{"s", AttrDef::str("SAME")},
             {"empty_s", AttrDef::str("")},
             {"i", AttrDef::integer(-7)},
             {"zero", AttrDef::integer(0)},
             {"f", AttrDef::real(0.25f)},
             {"b", AttrDef::boolean(true)},
             {"bf", AttrDef::boolean(false)},
             {"t", AttrDef::dtype(DType::kInt64)},
             {"shape", AttrDef::shape_of(Shape({-1, 224, 0}))},
             {"scalar_shape", AttrDef::shape_of(Shape())},
             {"unknown_rank", AttrDef::shape_of(Shape::unknown_rank())},
             {"tensor", AttrDef::tensor_of(float_tensor(Shape({2, 2}), {1, -2, 3.5f, 4}))},
             {"li", AttrDef::ints({1, -2, int64_t{1} << 40})},
             {"lf", AttrDef::floats({0.5f, -1.5f})},
             {"ls", AttrDef::strings({"NHWC", ""})},
             {"lt", AttrDef::types({DType::kFloat, DType::kBool})},
             {"empty_list", AttrDef::ints({})}};
  g.nodes.push_back(n);
  Result<GraphDefView> parsed = parse_bytes(serialize_graphdef(g));
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->producer_version, 987);
  ASSERT_EQ(parsed->nodes.size(), 1u);
  const NodeDefView& v = parsed->nodes[0];
  EXPECT_EQ(v.name, "node");
  EXPECT_EQ(v.op, "AnyOp");
  EXPECT_EQ(v.device, "/device:CPU:0");
  EXPECT_EQ(v.inputs, (std::vector<std::string_view>{"a", "b:2", "^c"}));
  ASSERT_EQ(v.attrs.size(), n.attrs.size());
  using K = AttrValue::Kind;
  EXPECT_EQ(v.find_attr("s")->kind, K::kS);
  EXPECT_EQ(v.find_attr("s")->s, "SAME");
  EXPECT_EQ(v.find_attr("empty_s")->kind, K::kS);
  EXPECT_EQ(v.find_attr("i")->i, -7);
  EXPECT_EQ(v.find_attr("zero")->kind, K::kI);
  EXPECT_EQ(v.find_attr("f")->f, 0.25f);
  EXPECT_TRUE(v.find_attr("b")->b);
  EXPECT_EQ(v.find_attr("bf")->kind, K::kB);
  EXPECT_FALSE(v.find_attr("bf")->b);
  EXPECT_EQ(v.find_attr("t")->type, DType::kInt64);
  EXPECT_EQ(v.find_attr("shape")->shape, Shape({-1, 224, 0}));
  EXPECT_EQ(v.find_attr("scalar_shape")->shape, Shape());
  EXPECT_FALSE(v.find_attr("unknown_rank")->shape.known_rank());
  const AttrValue* t = v.find_attr("tensor");
  ASSERT_EQ(t->kind, K::kTensor);
  EXPECT_EQ(t->tensor.dtype, DType::kFloat);
  EXPECT_EQ(t->tensor.shape, Shape({2, 2}));
  Result<Tensor> tensor = tensor_from_proto(t->tensor, parsed->file);
  ASSERT_TRUE(tensor.ok()) << tensor.status().to_string();
  EXPECT_EQ(tensor->data<float>()[2], 3.5f);
  EXPECT_EQ(v.find_attr("li")->list.i, (std::vector<int64_t>{1, -2, int64_t{1} << 40}));
  EXPECT_EQ(v.find_attr("lf")->list.f, (std::vector<float>{0.5f, -1.5f}));
  EXPECT_EQ(v.find_attr("ls")->list.s, (std::vector<std::string_view>{"NHWC", ""}));
  EXPECT_EQ(v.find_attr("lt")->list.type, (std::vector<DType>{DType::kFloat, DType::kBool}));
  EXPECT_EQ(v.find_attr("empty_list")->kind, K::kList);
  EXPECT_EQ(v.find_attr("missing"), nullptr);
}

TEST(GraphDefRoundTrip, WriteAndLoadFile) {
  std::string path = ::testing::TempDir() + "pbmem_graphdef_roundtrip.pb";
  ASSERT_TRUE(write_graphdef(small_graph(), path).ok());
  Result<GraphDefView> loaded = load_graphdef(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->nodes.size(), 3u);
  EXPECT_EQ(loaded->file->path(), path);
  std::remove(path.c_str());
  EXPECT_FALSE(write_graphdef(small_graph(), "/nonexistent-dir/x.pb").ok());
}

TEST(MappedFileTest, EmptyAndMissingFiles) {
  std::string path = ::testing::TempDir() + "pbmem_empty.pb";
  std::ofstream(path).close();
  Result<std::shared_ptr<MappedFile>> empty = MappedFile::open(path);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);
  std::remove(path.c_str());
  Result<GraphDefView> missing = load_graphdef("/nonexistent/model.pb");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
  EXPECT_FALSE(parse_bytes("").ok());
}

TEST(MappedFileTest, ReleasePagesKeepsContentReadable) {
  std::string path = ::testing::TempDir() + "pbmem_release.bin";
  const size_t size = 5 * 4096 + 123;
  std::string content(size, '\0');
  for (size_t i = 0; i < size; ++i) content[i] = static_cast<char>(i * 7);
  std::ofstream(path, std::ios::binary).write(content.data(), static_cast<std::streamsize>(size));
  auto file = MappedFile::open(path).value();
  const uint8_t* d = file->data();
  file->release_pages(d, file->size());
  file->release_pages(d + 100, 10);
  file->release_pages(d + 4000, 9000);
  file->release_pages(d + size - 5, 1000);  // runs past the end: clipped
  file->release_pages(d - 4096, 8192);      // starts before the mapping: ignored
  file->release_pages(nullptr, 10);
  EXPECT_EQ(file->bytes(), content);  // pages re-read from the file
  auto owned = MappedFile::from_bytes(content);
  owned->release_pages(owned->data(), owned->size());  // no-op for owned bytes
  EXPECT_EQ(owned->bytes(), content);
  std::remove(path.c_str());
}

// ---------------------------------------------------------------- hand-made wire bytes

TEST(GraphDefWire, PackedAndUnpackedLists) {
  Wire list;
  list.u(3, 5).u(3, static_cast<uint64_t>(-3));                          // unpacked ints
  list.bytes(3, Wire().varint(7).varint(static_cast<uint64_t>(-1)).s);   // packed ints
  list.fixed32(4, bits_of(1.5f));                                        // unpacked float
  list.bytes(4, Wire().s + std::string("\0\0\0\x40", 4));                // packed float 2.0
  list.u(5, 1).bytes(5, Wire().varint(0).varint(1).s);                   // bools
  list.u(6, 3).bytes(6, Wire().varint(1).varint(999).s);                 // types (999 unknown)
  Result<GraphDefView> g = parse_bytes(graph_with_attr(Wire().msg(1, list)));
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  const AttrList& l = only_attr(*g).list;
  EXPECT_EQ(l.i, (std::vector<int64_t>{5, -3, 7, -1}));
  EXPECT_EQ(l.f, (std::vector<float>{1.5f, 2.0f}));
  EXPECT_EQ(l.b, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(l.type, (std::vector<DType>{DType::kInt32, DType::kFloat, DType::kInvalid}));
}

TEST(GraphDefWire, PackedAndUnpackedTensorValues) {
  Wire shape;
  shape.msg(2, Wire().u(1, 4));
  Wire tensor;
  tensor.u(1, 3).msg(2, shape);  // int32 [4]
  tensor.u(7, static_cast<uint64_t>(int64_t{-5}));  // negative int32: a 10-byte varint
  tensor.bytes(7, Wire().varint(6).varint(7).s);
  Result<GraphDefView> g = parse_bytes(graph_with_attr(Wire().msg(8, tensor)));
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  Result<Tensor> t = tensor_from_proto(only_attr(*g).tensor, g->file);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  const int32_t* d = t->data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(d, d + 4), (std::vector<int32_t>{-5, 6, 7, 7}));

  Wire ftensor;
  ftensor.u(1, 1).msg(2, shape).fixed32(5, bits_of(0.5f));
  ftensor.bytes(5, std::string("\0\0\x80\x3f", 4));  // packed 1.0f
  g = parse_bytes(graph_with_attr(Wire().msg(8, ftensor)));
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  t = tensor_from_proto(only_attr(*g).tensor, g->file);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->data<float>()[0], 0.5f);
  EXPECT_EQ(t->data<float>()[3], 1.0f);

  Wire bad_packed;
  bad_packed.u(1, 1).msg(2, shape).bytes(5, "abc");  // 3 bytes: not a multiple of 4
  g = parse_bytes(graph_with_attr(Wire().msg(8, bad_packed)));
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("float_val"), std::string::npos);
}

TEST(GraphDefWire, UnknownFieldsAndGroupsAreSkipped) {
  Wire node;
  node.bytes(1, "n").u(77, 1).fixed64(78, 2).fixed32(79, 3).bytes(6, "debug-info");
  node.tag(80, 3).u(1, 5).tag(81, 3).bytes(2, "x").tag(81, 4).tag(80, 4);  // nested groups
  node.bytes(2, "Op");
  Wire graph;
  graph.msg(1, node).bytes(2, "").u(3, 21).tag(99, 3).tag(99, 4);  // an empty library
  Result<GraphDefView> g = parse_bytes(graph.s);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->nodes[0].op, "Op");
  EXPECT_TRUE(g->has_function_library);
  EXPECT_EQ(g->producer_version, 21);  // the deprecated `version` field as a fallback
}

void expect_data_loss(const std::string& bytes, const std::string& fragment) {
  Result<GraphDefView> g = parse_bytes(bytes);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss) << g.status().to_string();
  EXPECT_NE(g.status().message().find(fragment), std::string::npos) << g.status().message();
}

TEST(GraphDefWire, CorruptEncodings) {
  std::string node = Wire().bytes(1, "n").bytes(2, "Op").s;
  expect_data_loss(Wire().tag(1, 2).varint(100).s + node, "length 100");
  expect_data_loss(std::string("\x0a\x80\x80", 3), "truncated varint");
  expect_data_loss(std::string("\x08") + std::string(11, '\x80'), "over-long");
  expect_data_loss(Wire().tag(5, 4).s, "end-group");
  expect_data_loss(Wire().tag(5, 3).u(1, 1).s, "not closed");
  expect_data_loss(Wire().tag(5, 3).tag(6, 4).s, "closes a group");
  expect_data_loss(Wire().tag(5, 6).s, "invalid wire type");
  expect_data_loss(std::string("\x00\x01", 2), "invalid field number");
  expect_data_loss(Wire().tag(5, 5).s + "ab", "truncated 4-byte");
  Wire deep;
  for (int i = 0; i < kMaxProtoNestingDepth + 1; ++i) deep.tag(9, 3);
  expect_data_loss(deep.s, "nested deeper");
  // The byte offset is named: the bad length is at byte 1.
  expect_data_loss(Wire().tag(1, 2).varint(100).s, "at byte 1");
}

TEST(GraphDefWire, ValidProtobufThatIsNotAGraphDef) {
  // Like a SavedModel: field 1 is an int64, field 2 a message.
  expect_data_loss(Wire().u(1, 1).bytes(2, Wire().u(1, 5).s).s, "wire type varint");
  // NodeDef whose name is a varint.
  expect_data_loss(Wire().msg(1, Wire().u(1, 5)).s, "'name'");
  // AttrValue.f as a varint instead of fixed32.
  expect_data_loss(graph_with_attr(Wire().u(4, 1)), "'f'");
  // Unknown fields only: valid protobuf but no nodes.
  Result<GraphDefView> g = parse_bytes(Wire().u(20, 1).s);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("no nodes"), std::string::npos);
}

TEST(GraphDefWire, ErrorsNameTheNode) {
  Wire node;
  node.bytes(1, "conv").msg(5, Wire().bytes(1, "k").msg(2, Wire().u(7, 1)));  // shape as varint
  Result<GraphDefView> g = parse_bytes(Wire().msg(1, node).s);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("node #0 'conv'"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("<in-memory bytes>"), std::string::npos);
}

TEST(GraphDefWire, DuplicateAttrKeyKeepsTheLast) {
  Wire node;
  node.bytes(1, "n").bytes(2, "Op");
  node.msg(5, Wire().bytes(1, "k").msg(2, Wire().u(3, 1)));
  node.msg(5, Wire().bytes(1, "k").msg(2, Wire().u(3, 2)));
  Result<GraphDefView> g = parse_bytes(Wire().msg(1, node).s);
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->nodes[0].attrs.size(), 1u);
  EXPECT_EQ(g->nodes[0].find_attr("k")->i, 2);
}

TEST(GraphDefWire, UnknownDtypeNumbers) {
  Result<GraphDefView> g = parse_bytes(graph_with_attr(Wire().msg(8, Wire().u(1, 99))));
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("99"), std::string::npos) << g.status().message();
  // An attr `type` keeps the raw number; the getter reports it.
  g = parse_bytes(graph_with_attr(Wire().u(6, 99)));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(only_attr(*g).raw_type, 99);
  auto graph = Graph::build(std::move(g).value());
  ASSERT_TRUE(graph.ok());
  Result<DType> t = graph->node(0).attr_type("a");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("unknown dtype number 99"), std::string::npos);
  // A _REF type folds to its base.
  g = parse_bytes(graph_with_attr(Wire().u(6, 101)));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(only_attr(*g).type, DType::kFloat);
}

TEST(GraphDefWire, BadDims) {
  Result<GraphDefView> g =
      parse_bytes(graph_with_attr(Wire().msg(7, Wire().msg(2, Wire().u(1, static_cast<uint64_t>(-5))))));
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("-5"), std::string::npos);
  Wire many;
  for (int i = 0; i < 300; ++i) many.msg(2, Wire().u(1, 1));
  EXPECT_FALSE(parse_bytes(graph_with_attr(Wire().msg(7, many))).ok());
}

// ---------------------------------------------------------------- tensor_from_proto

TensorProtoView proto_of(DType dtype, Shape shape) {
  TensorProtoView p;
  p.dtype = dtype;
  p.shape = std::move(shape);
  return p;
}

TEST(TensorFromProto, SplatRepeatsTheLastValue) {
  TensorProtoView p = proto_of(DType::kFloat, Shape({2, 3}));
  p.float_vals = {1, 2};
  Tensor t = tensor_from_proto(p, nullptr).value();
  const float* f = t.data<float>();
  EXPECT_EQ(std::vector<float>(f, f + 6), (std::vector<float>{1, 2, 2, 2, 2, 2}));

  p = proto_of(DType::kInt64, Shape({3}));
  p.int_vals = {int64_t{1} << 50};
  t = tensor_from_proto(p, nullptr).value();
  EXPECT_EQ(t.data<int64_t>()[2], int64_t{1} << 50);

  p = proto_of(DType::kBool, Shape({2}));
  p.int_vals = {1};
  t = tensor_from_proto(p, nullptr).value();
  EXPECT_TRUE(t.data<bool>()[1]);

  p = proto_of(DType::kHalf, Shape({2}));
  p.int_vals = {0x3c00};  // 1.0 in fp16
  t = tensor_from_proto(p, nullptr).value();
  EXPECT_EQ(t.data<uint16_t>()[1], 0x3c00);

  p = proto_of(DType::kUInt64, Shape({1}));
  p.int_vals = {-1};
  EXPECT_EQ(tensor_from_proto(p, nullptr).value().data<uint64_t>()[0], ~uint64_t{0});

  p = proto_of(DType::kDouble, Shape());
  p.float_vals = {0.1};
  EXPECT_EQ(tensor_from_proto(p, nullptr).value().data<double>()[0], 0.1);

  p = proto_of(DType::kComplex64, Shape({2}));
  p.float_vals = {1, 2};
  t = tensor_from_proto(p, nullptr).value();
  EXPECT_EQ(t.data<float>()[2], 1);
  EXPECT_EQ(t.data<float>()[3], 2);
  p.float_vals = {1, 2, 3};
  EXPECT_FALSE(tensor_from_proto(p, nullptr).ok());

  p = proto_of(DType::kInt32, Shape({4}));  // no values: zeros
  t = tensor_from_proto(p, nullptr).value();
  EXPECT_EQ(t.data<int32_t>()[3], 0);

  p.int_vals = {1, 2, 3, 4, 5};  // too many
  Result<Tensor> bad = tensor_from_proto(p, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("holds only 4"), std::string::npos);
}

TEST(TensorFromProto, ContentSizeMustMatch) {
  std::string bytes(10, '\0');
  TensorProtoView p = proto_of(DType::kFloat, Shape({2, 2}));
  p.content = bytes;
  Result<Tensor> t = tensor_from_proto(p, nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "tensor content has 10 bytes but shape [2,2] of float needs 16");
}

TEST(TensorFromProto, AlignedContentIsViewedUnalignedIsCopied) {
  auto file = MappedFile::from_bytes(std::string(64, '\x01'));
  TensorProtoView p = proto_of(DType::kInt32, Shape({2}));
  const char* base = reinterpret_cast<const char*>(file->data());
  size_t aligned = (4 - reinterpret_cast<uintptr_t>(base) % 4) % 4;
  p.content = std::string_view(base + aligned, 8);
  Tensor view = tensor_from_proto(p, file).value();
  EXPECT_EQ(view.raw_data(), base + aligned);
  EXPECT_EQ(view.holder(), std::shared_ptr<const void>(file));
  p.content = std::string_view(base + aligned + 1, 8);
  Tensor copy = tensor_from_proto(p, file).value();
  EXPECT_NE(copy.raw_data(), base + aligned + 1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(copy.raw_data()) % kTensorAlignment, 0u);
  EXPECT_EQ(copy.data<int32_t>()[1], 0x01010101);
}

TEST(TensorFromProto, RejectsBadShapesAndDtypes) {
  TensorProtoView p = proto_of(DType::kFloat, Shape({int64_t{1} << 40, int64_t{1} << 40}));
  p.float_vals = {1};
  Result<Tensor> t = tensor_from_proto(p, nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kOutOfRange);
  p = proto_of(DType::kFloat, Shape({-1, 2}));
  EXPECT_FALSE(tensor_from_proto(p, nullptr).ok());
  p = proto_of(DType::kString, Shape({1}));
  t = tensor_from_proto(p, nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(t.status().message().find("string"), std::string::npos);
  EXPECT_FALSE(tensor_from_proto(TensorProtoView(), nullptr).ok());
}

bool allocator_may_return_null() {
#if defined(__SANITIZE_ADDRESS__)
  const char* opts = std::getenv("ASAN_OPTIONS");
  return opts != nullptr && std::strstr(opts, "allocator_may_return_null=1") != nullptr;
#else
  return true;
#endif
}

TEST(TensorFromProto, HugeSplatFailsCleanly) {
  if (!allocator_may_return_null()) GTEST_SKIP() << "ASan aborts on huge allocations";
  TensorProtoView p = proto_of(DType::kFloat, Shape({int64_t{1} << 30, int64_t{1} << 30}));
  p.float_vals = {1};
  Result<Tensor> t = tensor_from_proto(p, nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kResourceExhausted);
}

// ---------------------------------------------------------------- robustness

// Parses, builds and schedules; converts every tensor attr. Must never crash.
void exercise(const std::string& bytes) {
  Result<GraphDefView> g = parse_bytes(bytes);
  if (!g.ok()) {
    EXPECT_FALSE(g.status().message().empty());
    return;
  }
  std::shared_ptr<MappedFile> file = g->file;
  for (const NodeDefView& n : g->nodes) {
    for (const auto& attr : n.attrs) {
      if (attr.second.kind != AttrValue::Kind::kTensor) continue;
      const TensorProtoView& tp = attr.second.tensor;
      Result<int64_t> bytes_needed = tp.shape.num_bytes(tp.dtype);
      if (bytes_needed.ok() && *bytes_needed < (int64_t{1} << 24)) {
        (void)tensor_from_proto(tp, file);
      }
    }
  }
  Result<Graph> graph = Graph::build(std::move(g).value());
  if (graph.ok()) {
    (void)graph->schedule({});
    (void)graph->sinks();
  }
}

TEST(GraphDefRobustness, EveryTruncatedPrefix) {
  GraphDef g = small_graph();
  std::string full = serialize_graphdef(g);
  ASSERT_TRUE(parse_bytes(full).ok());
  // Prefixes ending exactly after a whole node are valid (shorter) graphs; all others must fail.
  std::vector<size_t> boundaries;
  GraphDef partial;
  for (const NodeDef& n : g.nodes) {
    partial.nodes.push_back(n);
    boundaries.push_back(serialize_graphdef(partial).size());
  }
  for (size_t len = 0; len < full.size(); ++len) {
    std::string prefix = full.substr(0, len);
    bool boundary = std::find(boundaries.begin(), boundaries.end(), len) != boundaries.end();
    EXPECT_EQ(parse_bytes(prefix).ok(), boundary) << "prefix length " << len;
    exercise(prefix);
  }
}

TEST(GraphDefRobustness, RandomBytes) {
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bytes(rng() % 200, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    exercise(bytes);
  }
}

TEST(GraphDefRobustness, MutatedValidGraph) {
  std::string full = serialize_graphdef(small_graph());
  std::mt19937 rng(777);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bytes = full;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    exercise(bytes);
  }
}

TEST(GraphDefSizes, SixtyFourBitThroughout) {
  static_assert(sizeof(std::declval<MappedFile>().size()) == 8, "file sizes are 64-bit");
  static_assert(sizeof(ProtoField().offset) == 8, "offsets are 64-bit");
  static_assert(sizeof(ProtoReader(nullptr, 0, 0, "").position()) == 8, "positions are 64-bit");
}

}  // namespace
}  // namespace pbmem
