// A view of a TensorFlow GraphDef, parsed from the protobuf wire format by our own reader
// (src/graph/proto_reader.h) over a memory-mapped file.
//
// Why not generated protobuf code: it copies every `bytes` field (so a 100 MB model would be held
// twice) and refuses messages over 2 GB. Large tensor contents stay views into the mapping, read
// in place when a run needs them; names, attributes and small tensors are copied once into the
// file's arena (mapped_file.h), so that they never pull weight pages into RSS. 64-bit offsets
// throughout.
//
// Field numbers follow TF's documented schema (graph.proto, node_def.proto, attr_value.proto,
// tensor.proto, tensor_shape.proto, types.proto, function.proto, op_def.proto); see
// docs/graphdef_schema.proto.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/status.h"
#include "core/tensor.h"
#include "graph/mapped_file.h"

namespace pbmem {

// TensorProto. Values are in `content` (tensor_content, viewed in the file) or in the typed
// repeated fields, which may hold fewer values than the shape: TF repeats the last value (splat).
struct TensorProtoView {
  DType dtype = DType::kInvalid;
  Shape shape;
  std::string_view content;                 // tensor_content (field 4): in place, or in the arena when small
  std::vector<double> float_vals;           // float_val (5), double_val (6)
  std::vector<int64_t> int_vals;            // int_val (7), int64_val (10), bool_val (11), half_val (13), uint32_val (16), uint64_val (17)
  std::vector<std::string_view> string_vals;  // string_val (8)
  bool has_typed_vals() const {
    return !float_vals.empty() || !int_vals.empty() || !string_vals.empty();
  }
};

struct AttrValue;
// A map<string, AttrValue> in file order (a repeated key keeps its last value).
using AttrMap = std::vector<std::pair<std::string_view, AttrValue>>;
const AttrValue* find_attr(const AttrMap& attrs, std::string_view key);

struct AttrList {
  std::vector<std::string_view> s;
  std::vector<int64_t> i;
  std::vector<float> f;
  std::vector<bool> b;
  std::vector<DType> type;
  std::vector<Shape> shape;
  std::vector<TensorProtoView> tensor;
};

struct AttrValue {
  enum class Kind { kNone, kS, kI, kF, kB, kType, kShape, kTensor, kList, kFunc, kPlaceholder };
  Kind kind = Kind::kNone;
  std::string_view s;
  int64_t i = 0;
  float f = 0;
  bool b = false;
  DType type = DType::kInvalid;
  int64_t raw_type = 0;  // the number as read, for error messages about unknown dtypes
  Shape shape;
  TensorProtoView tensor;
  AttrList list;
  // kFunc: a NameAttrList, the function's name and the attr values it is instantiated with.
  std::string_view func_name;
  AttrMap func_attrs;
};

struct NodeDefView {
  std::string_view name;
  std::string_view op;
  std::string_view device;
  std::vector<std::string_view> inputs;  // "node", "node:1", "^control"
  AttrMap attrs;
  const AttrValue* find_attr(std::string_view key) const { return pbmem::find_attr(attrs, key); }
};

// OpDef.ArgDef: one input or output of a function signature.
struct ArgDefView {
  std::string_view name;
  DType type = DType::kInvalid;     // when the dtype is fixed
  std::string_view type_attr;       // or named by an attr
  std::string_view number_attr;     // a list of that many tensors
  std::string_view type_list_attr;  // a list of tensors of these dtypes
  bool is_list() const { return !number_attr.empty() || !type_list_attr.empty(); }
};

// FunctionDef: a signature and a body. Body inputs name function args ("x") or body node
// outputs in the "node:output_arg:index" form; `ret` maps each output arg to such a tensor.
struct FunctionDefView {
  std::string_view name;
  std::vector<ArgDefView> inputs;
  std::vector<ArgDefView> outputs;
  AttrMap attrs;
  std::vector<NodeDefView> nodes;
  std::vector<std::pair<std::string_view, std::string_view>> ret;          // output arg -> tensor
  std::vector<std::pair<std::string_view, std::string_view>> control_ret;  // name -> body node
  std::string_view find_ret(std::string_view output_arg) const;
};

// FunctionDefLibrary: the graph's functions, in file order. Functions are kept after inlining so
// that ops which run a body as a sub-graph (If/While branches) can find it by name.
struct FunctionLibraryView {
  std::vector<FunctionDefView> functions;
  const FunctionDefView* find(std::string_view name) const;
};

struct GraphDefView {
  std::shared_ptr<MappedFile> file;  // keeps every string_view above alive
  std::vector<NodeDefView> nodes;
  int64_t producer_version = 0;
  bool has_function_library = false;
  FunctionLibraryView library;
  // Set by inlining (graph/inline.h): each inlined call's name and the tensors its outputs are.
  std::vector<std::pair<std::string_view, std::vector<std::string_view>>> call_outputs;
  // Names and inputs made by inlining (graph/inline.h), which are not in the file. A deque
  // never moves its elements, so views into them stay valid as it grows and when it is moved.
  std::deque<std::string> strings;
  std::string_view keep(std::string text) { return strings.emplace_back(std::move(text)); }
};

// Parses a GraphDef. Errors name the file, byte offset and the message/field being read.
Result<GraphDefView> parse_graphdef(std::shared_ptr<MappedFile> file);
Result<GraphDefView> load_graphdef(const std::string& path);

// Turns a TensorProto into a Tensor. tensor_content is viewed in place when it is aligned for
// its dtype (the view keeps `file` alive); unaligned content, or typed values (with splat), are
// copied into an owned buffer. Checks that the content size matches shape × dtype size.
Result<Tensor> tensor_from_proto(const TensorProtoView& proto,
                                 const std::shared_ptr<MappedFile>& file);

}  // namespace pbmem
