// MappedFile and the GraphDef parser: turns wire-format bytes into views (graphdef.h) without
// copying names or tensor bytes. Every malformed input is a Status naming the file, byte offset
// and the message/field being read. tensor_from_proto lives in tensor_proto.cc.
#include "graph/graphdef.h"

#include <cstdint>

#include "graph/graphdef_fields.h"
#include "graph/graphdef_parse.h"
#include "graph/proto_reader.h"

namespace pbmem {

namespace {

// TensorFlow's TensorShape allows at most this many dimensions (kMaxDims).
constexpr int64_t kMaxShapeRank = 254;
// Bits of a half/bfloat16 value stored in TensorProto.half_val (an int32 field).
constexpr int64_t kHalfBitsMask = 0xffff;
// Name used in errors for graphs parsed from memory.
constexpr const char* kInMemoryName = "<in-memory bytes>";
// tensor_content below this size is copied into the arena too: a few pages at most, and a
// small constant read through the mapping would fault in its neighbours' pages with it.
constexpr uint64_t kCopiedTensorContentBytes = 16 * 1024;

}  // namespace

namespace wire {

// ---------------------------------------------------------------- reading helpers

Status expect_wire(const ProtoReader& reader, const ProtoField& field, const char* field_name,
                   WireType expected) {
  if (field.wire_type != expected) return reader.wrong_wire_type(field, field_name, expected);
  return ok_status();
}

Result<ProtoReader> open_message(const ProtoReader& parent, const ProtoField& field,
                                 const char* field_name, const char* message) {
  PBMEM_RETURN_IF_ERROR(expect_wire(parent, field, field_name, WireType::kLengthDelimited));
  return parent.sub_message(field, message);
}

// Strings (names, attribute values) are copied into the file's arena, so that nothing but
// large tensor contents is read through the mapping after parsing (see mapped_file.h).
Status read_string(MappedFile& file, const ProtoReader& reader, const ProtoField& field,
                   const char* field_name, std::string_view* out) {
  PBMEM_RETURN_IF_ERROR(expect_wire(reader, field, field_name, WireType::kLengthDelimited));
  *out = file.keep(field.bytes);
  return ok_status();
}

Status read_varint_field(const ProtoReader& reader, const ProtoField& field,
                         const char* field_name, uint64_t* out) {
  PBMEM_RETURN_IF_ERROR(expect_wire(reader, field, field_name, WireType::kVarint));
  *out = field.value;
  return ok_status();
}

}  // namespace wire

namespace {

using wire::expect_wire;
using wire::open_message;
using wire::read_string;
using wire::read_varint_field;

// ---------------------------------------------------------------- TensorShapeProto

Status parse_dim(const ProtoReader& parent, const ProtoField& field, int64_t* size) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader,
                         open_message(parent, field, "dim", "TensorShapeProto.Dim"));
  *size = 0;
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    if (f.number == fields::dim::kSize) {
      uint64_t raw = 0;
      PBMEM_RETURN_IF_ERROR(read_varint_field(reader, f, "size", &raw));
      *size = static_cast<int64_t>(raw);
    }
  }
  if (*size < kUnknownDim) {
    return data_loss("dimension size ", *size, " at byte ", field.offset,
                     " is invalid (only -1 means unknown)");
  }
  return ok_status();
}

Result<Shape> parse_shape(const ProtoReader& parent, const ProtoField& field,
                          const char* field_name) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader,
                         open_message(parent, field, field_name, "TensorShapeProto"));
  std::vector<int64_t> dims;
  bool unknown_rank = false;
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    if (f.number == fields::shape::kDim) {
      if (static_cast<int64_t>(dims.size()) >= kMaxShapeRank) {
        return data_loss("shape at byte ", field.offset, " has more than ", kMaxShapeRank,
                         " dimensions");
      }
      int64_t size = 0;
      PBMEM_RETURN_IF_ERROR(parse_dim(reader, f, &size));
      dims.push_back(size);
    } else if (f.number == fields::shape::kUnknownRank) {
      uint64_t raw = 0;
      PBMEM_RETURN_IF_ERROR(read_varint_field(reader, f, "unknown_rank", &raw));
      unknown_rank = raw != 0;
    }
  }
  if (unknown_rank) return Shape::unknown_rank();
  return Shape(std::move(dims));
}

// ---------------------------------------------------------------- TensorProto

Status parse_tensor(MappedFile& file, const ProtoReader& parent, const ProtoField& field, const char* field_name,
                    TensorProtoView* out) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader,
                         open_message(parent, field, field_name, "TensorProto"));
  namespace tf = fields::tensor;
  auto push_float32 = [out](uint64_t bits) {
    ProtoField tmp;
    tmp.value = bits;
    out->float_vals.push_back(tmp.as_float());
  };
  auto push_float64 = [out](uint64_t bits) {
    ProtoField tmp;
    tmp.value = bits;
    out->float_vals.push_back(tmp.as_double());
  };
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    switch (f.number) {
      case tf::kDtype: {
        uint64_t raw = 0;
        PBMEM_RETURN_IF_ERROR(read_varint_field(reader, f, "dtype", &raw));
        Result<DType> dtype = dtype_from_proto(static_cast<int64_t>(raw));
        if (!dtype.ok()) {
          return dtype.status().with_context(str_cat("TensorProto at byte ", field.offset));
        }
        out->dtype = *dtype;
        break;
      }
      case tf::kShape: {
        PBMEM_ASSIGN_OR_RETURN(out->shape, parse_shape(reader, f, "tensor_shape"));
        break;
      }
      case tf::kContent:
        PBMEM_RETURN_IF_ERROR(expect_wire(reader, f, "tensor_content", WireType::kLengthDelimited));
        out->content = f.bytes.size() < kCopiedTensorContentBytes ? file.keep(f.bytes) : f.bytes;
        break;
      case tf::kFloatVal:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_fixed32(f, "float_val", push_float32));
        break;
      case tf::kSComplexVal:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_fixed32(f, "scomplex_val", push_float32));
        break;
      case tf::kDoubleVal:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_fixed64(f, "double_val", push_float64));
        break;
      case tf::kDComplexVal:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_fixed64(f, "dcomplex_val", push_float64));
        break;
      case tf::kIntVal:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_varint(f, "int_val", [out](uint64_t v) {
          out->int_vals.push_back(static_cast<int32_t>(static_cast<uint32_t>(v)));
        }));
        break;
      case tf::kInt64Val:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_varint(f, "int64_val", [out](uint64_t v) {
          out->int_vals.push_back(static_cast<int64_t>(v));
        }));
        break;
      case tf::kBoolVal:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_varint(
            f, "bool_val", [out](uint64_t v) { out->int_vals.push_back(v != 0 ? 1 : 0); }));
        break;
      case tf::kHalfVal:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_varint(f, "half_val", [out](uint64_t v) {
          out->int_vals.push_back(static_cast<int64_t>(v) & kHalfBitsMask);
        }));
        break;
      case tf::kUInt32Val:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_varint(f, "uint32_val", [out](uint64_t v) {
          out->int_vals.push_back(static_cast<uint32_t>(v));
        }));
        break;
      case tf::kUInt64Val:
        // Stored as the int64 with the same bits; tensor_from_proto casts back.
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_varint(f, "uint64_val", [out](uint64_t v) {
          out->int_vals.push_back(static_cast<int64_t>(v));
        }));
        break;
      case tf::kStringVal: {
        std::string_view s;
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "string_val", &s));
        out->string_vals.push_back(s);
        break;
      }
      default:
        break;  // version_number, resource handles, variants, unknown fields
    }
  }
  return ok_status();
}

// ---------------------------------------------------------------- AttrValue

Status parse_list(MappedFile& file, const ProtoReader& parent, const ProtoField& field, AttrList* out) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader, open_message(parent, field, "list", "ListValue"));
  namespace lf = fields::list;
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    switch (f.number) {
      case lf::kS: {
        std::string_view s;
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "s", &s));
        out->s.push_back(s);
        break;
      }
      case lf::kI:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_varint(
            f, "i", [out](uint64_t v) { out->i.push_back(static_cast<int64_t>(v)); }));
        break;
      case lf::kF:
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_fixed32(f, "f", [out](uint64_t bits) {
          ProtoField tmp;
          tmp.value = bits;
          out->f.push_back(tmp.as_float());
        }));
        break;
      case lf::kB:
        PBMEM_RETURN_IF_ERROR(
            reader.read_repeated_varint(f, "b", [out](uint64_t v) { out->b.push_back(v != 0); }));
        break;
      case lf::kType:
        // Unknown dtype numbers become kInvalid; getters report them when they are used.
        PBMEM_RETURN_IF_ERROR(reader.read_repeated_varint(f, "type", [out](uint64_t v) {
          Result<DType> dtype = dtype_from_proto(static_cast<int64_t>(v));
          out->type.push_back(dtype.ok() ? *dtype : DType::kInvalid);
        }));
        break;
      case lf::kShape: {
        PBMEM_ASSIGN_OR_RETURN(Shape shape, parse_shape(reader, f, "shape"));
        out->shape.push_back(std::move(shape));
        break;
      }
      case lf::kTensor: {
        TensorProtoView tensor;
        PBMEM_RETURN_IF_ERROR(parse_tensor(file, reader, f, "tensor", &tensor));
        out->tensor.push_back(std::move(tensor));
        break;
      }
      default:
        break;  // func (9) and unknown fields
    }
  }
  return ok_status();
}

// NameAttrList: the function an attr names, with the attr values it is instantiated with.
Status parse_name_attr_list(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                            AttrValue* out) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader, open_message(parent, field, "func", "NameAttrList"));
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    if (f.number == fields::name_attr_list::kName) {
      PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "name", &out->func_name));
    } else if (f.number == fields::name_attr_list::kAttr) {
      PBMEM_RETURN_IF_ERROR(
          wire::parse_attr_entry(file, reader, f, "NameAttrList.AttrEntry", &out->func_attrs));
    }
  }
  return ok_status();
}

// AttrValue is a oneof: the last value field read decides the kind.
Status parse_attr_value(MappedFile& file, const ProtoReader& parent, const ProtoField& field, AttrValue* out) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader, open_message(parent, field, "value", "AttrValue"));
  namespace af = fields::attr;
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    uint64_t raw = 0;
    switch (f.number) {
      case af::kList:
        out->list = AttrList();
        PBMEM_RETURN_IF_ERROR(parse_list(file, reader, f, &out->list));
        out->kind = AttrValue::Kind::kList;
        break;
      case af::kS:
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "s", &out->s));
        out->kind = AttrValue::Kind::kS;
        break;
      case af::kI:
        PBMEM_RETURN_IF_ERROR(read_varint_field(reader, f, "i", &raw));
        out->i = static_cast<int64_t>(raw);
        out->kind = AttrValue::Kind::kI;
        break;
      case af::kF:
        PBMEM_RETURN_IF_ERROR(expect_wire(reader, f, "f", WireType::kFixed32));
        out->f = f.as_float();
        out->kind = AttrValue::Kind::kF;
        break;
      case af::kB:
        PBMEM_RETURN_IF_ERROR(read_varint_field(reader, f, "b", &raw));
        out->b = raw != 0;
        out->kind = AttrValue::Kind::kB;
        break;
      case af::kType: {
        PBMEM_RETURN_IF_ERROR(read_varint_field(reader, f, "type", &raw));
        out->raw_type = static_cast<int64_t>(raw);
        Result<DType> dtype = dtype_from_proto(out->raw_type);
        out->type = dtype.ok() ? *dtype : DType::kInvalid;
        out->kind = AttrValue::Kind::kType;
        break;
      }
      case af::kShape: {
        PBMEM_ASSIGN_OR_RETURN(out->shape, parse_shape(reader, f, "shape"));
        out->kind = AttrValue::Kind::kShape;
        break;
      }
      case af::kTensor:
        out->tensor = TensorProtoView();
        PBMEM_RETURN_IF_ERROR(parse_tensor(file, reader, f, "tensor", &out->tensor));
        out->kind = AttrValue::Kind::kTensor;
        break;
      case af::kPlaceholder:
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "placeholder", &out->s));
        out->kind = AttrValue::Kind::kPlaceholder;
        break;
      case af::kFunc:
        out->func_attrs.clear();
        PBMEM_RETURN_IF_ERROR(parse_name_attr_list(file, reader, f, out));
        out->kind = AttrValue::Kind::kFunc;
        break;
      default:
        break;
    }
  }
  return ok_status();
}

}  // namespace

// ---------------------------------------------------------------- NodeDef

namespace wire {

Status parse_attr_entry(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                        const char* message, AttrMap* attrs) {
  return parse_map_entry(file, parent, field, "attr", message, attrs,
                         [&file](const ProtoReader& reader, const ProtoField& f, AttrValue* value) {
                           return parse_attr_value(file, reader, f, value);
                         });
}

Status parse_node(MappedFile& file, const ProtoReader& parent, const ProtoField& field, NodeDefView* node) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader, open_message(parent, field, "node", "NodeDef"));
  namespace nf = fields::node;
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    switch (f.number) {
      case nf::kName:
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "name", &node->name));
        break;
      case nf::kOp:
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "op", &node->op));
        break;
      case nf::kInput: {
        std::string_view input;
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "input", &input));
        node->inputs.push_back(input);
        break;
      }
      case nf::kDevice:
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "device", &node->device));
        break;
      case nf::kAttr:
        PBMEM_RETURN_IF_ERROR(parse_attr_entry(file, reader, f, "NodeDef.AttrEntry", &node->attrs));
        break;
      default:
        break;  // experimental_debug_info and unknown fields
    }
  }
  return ok_status();
}

}  // namespace wire

namespace {

using wire::parse_node;

Status parse_versions(const ProtoReader& parent, const ProtoField& field, int64_t* producer) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader, open_message(parent, field, "versions", "VersionDef"));
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    if (f.number == fields::version::kProducer) {
      uint64_t raw = 0;
      PBMEM_RETURN_IF_ERROR(read_varint_field(reader, f, "producer", &raw));
      *producer = static_cast<int32_t>(static_cast<uint32_t>(raw));
    }
  }
  return ok_status();
}

// Parsing gives back the mapped pages behind it every time it has passed this many bytes, so
// loading never holds more than about this much of the file (plus what the kernel maps around
// the current read). Everything kept from those pages was copied into the arena.
constexpr uint64_t kReleaseParsedEveryBytes = 1024 * 1024;

Status parse_graph_fields(const std::shared_ptr<MappedFile>& file, GraphDefView* graph) {
  ProtoReader reader(file->data(), 0, file->size(), "GraphDef");
  namespace gf = fields::graph;
  int64_t deprecated_version = 0;
  uint64_t released_upto = 0;
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    switch (f.number) {
      case gf::kNode: {
        NodeDefView node;
        Status status = parse_node(*file, reader, f, &node);
        if (!status.ok()) {
          std::string which = str_cat("node #", graph->nodes.size());
          if (!node.name.empty()) which += str_cat(" '", node.name, "'");
          return status.with_context(which);
        }
        graph->nodes.push_back(std::move(node));
        uint64_t parsed_upto = f.bytes_offset + f.bytes.size();
        if (parsed_upto - released_upto >= kReleaseParsedEveryBytes) {
          // From the start of the file, not from the last release: touching the next node maps
          // its whole page-cache folio, which may reach back before released_upto.
          file->release_pages(file->data(), parsed_upto);
          released_upto = parsed_upto;
        }
        break;
      }
      case gf::kVersions:
        PBMEM_RETURN_IF_ERROR(parse_versions(reader, f, &graph->producer_version));
        break;
      case gf::kVersion: {
        uint64_t raw = 0;
        PBMEM_RETURN_IF_ERROR(read_varint_field(reader, f, "version", &raw));
        deprecated_version = static_cast<int32_t>(static_cast<uint32_t>(raw));
        break;
      }
      case gf::kLibrary:
        PBMEM_RETURN_IF_ERROR(wire::parse_function_library(*file, reader, f, &graph->library));
        graph->has_function_library = true;
        break;
      default:
        break;
    }
  }
  if (graph->producer_version == 0) graph->producer_version = deprecated_version;
  return ok_status();
}

}  // namespace

// ---------------------------------------------------------------- views and parsing

const AttrValue* find_attr(const AttrMap& attrs, std::string_view key) {
  for (const auto& entry : attrs) {
    if (entry.first == key) return &entry.second;
  }
  return nullptr;
}

Result<GraphDefView> parse_graphdef(std::shared_ptr<MappedFile> file) {
  if (file == nullptr) return invalid_argument("parse_graphdef: no file given");
  std::string name = file->path().empty() ? kInMemoryName : str_cat("'", file->path(), "'");
  std::string context = str_cat("while parsing GraphDef ", name);
  if (file->size() == 0) {
    return data_loss(context, ": the input is empty (0 bytes)");
  }
  GraphDefView graph;
  Status status = parse_graph_fields(file, &graph);
  // Names and small tensors are in the arena now: no page of the mapping is needed until a run
  // reads a large tensor.
  file->release_all_pages();
  if (!status.ok()) {
    const char* hint =
        status.code() == StatusCode::kDataLoss ? " (is this a frozen TensorFlow GraphDef?)" : "";
    return Status(status.code(), str_cat(context, ": ", status.message(), hint));
  }
  if (graph.nodes.empty()) {
    return invalid_argument(context, ": it has no nodes (is this a frozen TensorFlow GraphDef?)");
  }
  graph.file = std::move(file);
  return graph;
}

Result<GraphDefView> load_graphdef(const std::string& path) {
  PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::open(path));
  return parse_graphdef(std::move(file));
}

}  // namespace pbmem
