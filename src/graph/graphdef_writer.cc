// Serialises GraphDef messages to protobuf wire format (the inverse of graphdef.cc): nested
// messages are encoded into their own buffer, then written with a length prefix.
#include "graph/graphdef_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <system_error>

#include <unistd.h>

#include "graph/graphdef_fields.h"
#include "graph/proto_reader.h"

namespace pbmem {

namespace {

constexpr uint8_t kVarintContinuationBit = 0x80;
constexpr uint64_t kVarintPayloadMask = 0x7f;
constexpr int kVarintBitsPerByte = 7;
constexpr int kWireTypeBits = 3;
constexpr int kFixed32Bytes = 4;
constexpr int kBitsPerByte = 8;

class Encoder {
 public:
  void varint(uint64_t v) {
    while (v > kVarintPayloadMask) {
      out_.push_back(static_cast<char>((v & kVarintPayloadMask) | kVarintContinuationBit));
      v >>= kVarintBitsPerByte;
    }
    out_.push_back(static_cast<char>(v));
  }
  void tag(uint32_t number, WireType wire) {
    varint((uint64_t{number} << kWireTypeBits) | static_cast<uint64_t>(wire));
  }
  void varint_field(uint32_t number, uint64_t v) {
    tag(number, WireType::kVarint);
    varint(v);
  }
  void int_field(uint32_t number, int64_t v) { varint_field(number, static_cast<uint64_t>(v)); }
  void fixed32_raw(uint32_t bits) {
    for (int b = 0; b < kFixed32Bytes; ++b) {
      out_.push_back(static_cast<char>((bits >> (kBitsPerByte * b)) & 0xff));
    }
  }
  void float_field(uint32_t number, float f) {
    tag(number, WireType::kFixed32);
    fixed32_raw(float_bits(f));
  }
  void bytes_field(uint32_t number, std::string_view bytes) {
    tag(number, WireType::kLengthDelimited);
    varint(bytes.size());
    out_.append(bytes.data(), bytes.size());
  }
  static uint32_t float_bits(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    return bits;
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

std::string encode_shape(const Shape& shape) {
  Encoder e;
  if (!shape.known_rank()) {
    e.varint_field(fields::shape::kUnknownRank, 1);
    return e.str();
  }
  for (int64_t d : shape.dims()) {
    Encoder dim;
    dim.int_field(fields::dim::kSize, d);
    e.bytes_field(fields::shape::kDim, dim.str());
  }
  return e.str();
}

std::string encode_tensor(const Tensor& tensor) {
  Encoder e;
  if (!tensor.valid()) return e.str();
  e.int_field(fields::tensor::kDtype, static_cast<int64_t>(tensor.dtype()));
  e.bytes_field(fields::tensor::kShape, encode_shape(tensor.shape()));
  if (tensor.num_bytes() > 0) {
    e.bytes_field(fields::tensor::kContent,
                  std::string_view(static_cast<const char*>(tensor.raw_data()), tensor.num_bytes()));
  }
  return e.str();
}

// Repeated scalars are written packed, as proto3 does.
std::string encode_list(const AttrDef& attr) {
  Encoder list;
  Encoder packed;
  switch (attr.kind) {
    case AttrDef::Kind::kListI:
      for (int64_t v : attr.list_i) packed.varint(static_cast<uint64_t>(v));
      if (!attr.list_i.empty()) list.bytes_field(fields::list::kI, packed.str());
      break;
    case AttrDef::Kind::kListF:
      for (float v : attr.list_f) packed.fixed32_raw(Encoder::float_bits(v));
      if (!attr.list_f.empty()) list.bytes_field(fields::list::kF, packed.str());
      break;
    case AttrDef::Kind::kListType:
      for (DType v : attr.list_type) packed.varint(static_cast<uint64_t>(v));
      if (!attr.list_type.empty()) list.bytes_field(fields::list::kType, packed.str());
      break;
    case AttrDef::Kind::kListS:
      for (const std::string& s : attr.list_s) list.bytes_field(fields::list::kS, s);
      break;
    default:
      break;
  }
  return list.str();
}

// AttrValue is a oneof, so even default values (0, false, "") are written to keep the kind.
std::string encode_attr(const AttrDef& attr) {
  namespace af = fields::attr;
  Encoder e;
  switch (attr.kind) {
    case AttrDef::Kind::kS: e.bytes_field(af::kS, attr.s); break;
    case AttrDef::Kind::kI: e.int_field(af::kI, attr.i); break;
    case AttrDef::Kind::kF: e.float_field(af::kF, attr.f); break;
    case AttrDef::Kind::kB: e.varint_field(af::kB, attr.b ? 1 : 0); break;
    case AttrDef::Kind::kType: e.int_field(af::kType, static_cast<int64_t>(attr.type)); break;
    case AttrDef::Kind::kShape: e.bytes_field(af::kShape, encode_shape(attr.shape)); break;
    case AttrDef::Kind::kTensor: e.bytes_field(af::kTensor, encode_tensor(attr.tensor)); break;
    case AttrDef::Kind::kListI:
    case AttrDef::Kind::kListF:
    case AttrDef::Kind::kListS:
    case AttrDef::Kind::kListType: e.bytes_field(af::kList, encode_list(attr)); break;
  }
  return e.str();
}

std::string encode_node(const NodeDef& node) {
  namespace nf = fields::node;
  Encoder e;
  e.bytes_field(nf::kName, node.name);
  e.bytes_field(nf::kOp, node.op);
  for (const std::string& input : node.inputs) e.bytes_field(nf::kInput, input);
  if (!node.device.empty()) e.bytes_field(nf::kDevice, node.device);
  for (const auto& [key, value] : node.attrs) {
    Encoder entry;
    entry.bytes_field(fields::map_entry::kKey, key);
    entry.bytes_field(fields::map_entry::kValue, encode_attr(value));
    e.bytes_field(nf::kAttr, entry.str());
  }
  return e.str();
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

}  // namespace

AttrDef AttrDef::str(std::string v) {
  AttrDef a;
  a.kind = Kind::kS;
  a.s = std::move(v);
  return a;
}
AttrDef AttrDef::integer(int64_t v) {
  AttrDef a;
  a.kind = Kind::kI;
  a.i = v;
  return a;
}
AttrDef AttrDef::real(float v) {
  AttrDef a;
  a.kind = Kind::kF;
  a.f = v;
  return a;
}
AttrDef AttrDef::boolean(bool v) {
  AttrDef a;
  a.kind = Kind::kB;
  a.b = v;
  return a;
}
AttrDef AttrDef::dtype(DType v) {
  AttrDef a;
  a.kind = Kind::kType;
  a.type = v;
  return a;
}
AttrDef AttrDef::shape_of(Shape v) {
  AttrDef a;
  a.kind = Kind::kShape;
  a.shape = std::move(v);
  return a;
}
AttrDef AttrDef::tensor_of(Tensor v) {
  AttrDef a;
  a.kind = Kind::kTensor;
  a.tensor = std::move(v);
  return a;
}
AttrDef AttrDef::ints(std::vector<int64_t> v) {
  AttrDef a;
  a.kind = Kind::kListI;
  a.list_i = std::move(v);
  return a;
}
AttrDef AttrDef::floats(std::vector<float> v) {
  AttrDef a;
  a.kind = Kind::kListF;
  a.list_f = std::move(v);
  return a;
}
AttrDef AttrDef::strings(std::vector<std::string> v) {
  AttrDef a;
  a.kind = Kind::kListS;
  a.list_s = std::move(v);
  return a;
}
AttrDef AttrDef::types(std::vector<DType> v) {
  AttrDef a;
  a.kind = Kind::kListType;
  a.list_type = std::move(v);
  return a;
}

std::string serialize_graphdef(const GraphDef& graph) {
  Encoder e;
  for (const NodeDef& node : graph.nodes) e.bytes_field(fields::graph::kNode, encode_node(node));
  if (graph.producer_version != 0) {
    Encoder versions;
    versions.int_field(fields::version::kProducer, graph.producer_version);
    e.bytes_field(fields::graph::kVersions, versions.str());
  }
  return std::move(e.str());
}

Status write_graphdef(const GraphDef& graph, const std::string& path) {
  std::string bytes = serialize_graphdef(graph);
  // Write next to the target, then rename: readers never see a half-written file.
  std::string tmp = str_cat(path, ".tmp", ::getpid());
  std::FILE* out = std::fopen(tmp.c_str(), "wb");
  if (out == nullptr) return io_error("cannot create '", tmp, "': ", errno_text(errno));
  bool write_ok = std::fwrite(bytes.data(), 1, bytes.size(), out) == bytes.size();
  int err = write_ok ? 0 : errno;
  if (std::fclose(out) != 0 && write_ok) {
    write_ok = false;
    err = errno;
  }
  if (!write_ok) {
    std::remove(tmp.c_str());
    return io_error("cannot write '", tmp, "': ", errno_text(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    return io_error("cannot rename '", tmp, "' to '", path, "': ", errno_text(err));
  }
  return ok_status();
}

}  // namespace pbmem
