// Writes GraphDef protobuf bytes: used by `pbmem example` and by tests that make graphs by hand
// (including malformed ones). Mirrors the view types of graphdef.h with owning values.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/status.h"
#include "core/tensor.h"

namespace pbmem {

struct AttrDef {
  enum class Kind { kS, kI, kF, kB, kType, kShape, kTensor, kListI, kListF, kListS, kListType };
  Kind kind = Kind::kI;
  std::string s;
  int64_t i = 0;
  float f = 0;
  bool b = false;
  DType type = DType::kFloat;
  Shape shape;
  Tensor tensor;  // written as tensor_content
  std::vector<int64_t> list_i;
  std::vector<float> list_f;
  std::vector<std::string> list_s;
  std::vector<DType> list_type;

  static AttrDef str(std::string v);
  static AttrDef integer(int64_t v);
  static AttrDef real(float v);
  static AttrDef boolean(bool v);
  static AttrDef dtype(DType v);
  static AttrDef shape_of(Shape v);
  static AttrDef tensor_of(Tensor v);
  static AttrDef ints(std::vector<int64_t> v);
  static AttrDef floats(std::vector<float> v);
  static AttrDef strings(std::vector<std::string> v);
  static AttrDef types(std::vector<DType> v);
};

struct NodeDef {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;
  std::vector<std::pair<std::string, AttrDef>> attrs;
  std::string device;
};

struct GraphDef {
  std::vector<NodeDef> nodes;
  int64_t producer_version = 0;
};

// Serialises to protobuf wire format.
std::string serialize_graphdef(const GraphDef& graph);
Status write_graphdef(const GraphDef& graph, const std::string& path);

}  // namespace pbmem
