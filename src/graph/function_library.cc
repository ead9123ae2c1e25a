// The FunctionDefLibrary reader (GraphDef.library): function signatures, bodies, ret and
// control_ret maps. Field numbers follow TF's function.proto and op_def.proto (graphdef_fields.h).
// Bodies are NodeDefs read by the same parser as the graph's nodes.
#include <unordered_set>

#include "graph/graphdef.h"
#include "graph/graphdef_fields.h"
#include "graph/graphdef_parse.h"

namespace pbmem {

namespace {

using wire::open_message;
using wire::read_string;

Status parse_arg_def(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                     const char* field_name, std::vector<ArgDefView>* args) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader,
                         open_message(parent, field, field_name, "OpDef.ArgDef"));
  namespace af = fields::arg_def;
  ArgDefView arg;
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    switch (f.number) {
      case af::kName:
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "name", &arg.name));
        break;
      case af::kType: {
        uint64_t raw = 0;
        PBMEM_RETURN_IF_ERROR(wire::read_varint_field(reader, f, "type", &raw));
        // An unknown dtype stays kInvalid: inlining never needs an arg's dtype.
        Result<DType> dtype = dtype_from_proto(static_cast<int64_t>(raw));
        arg.type = dtype.ok() ? *dtype : DType::kInvalid;
        break;
      }
      case af::kTypeAttr:
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "type_attr", &arg.type_attr));
        break;
      case af::kNumberAttr:
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "number_attr", &arg.number_attr));
        break;
      case af::kTypeListAttr:
        PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "type_list_attr", &arg.type_list_attr));
        break;
      default:
        break;  // description, handle_data, is_ref, full type
    }
  }
  args->push_back(arg);
  return ok_status();
}

Status parse_signature(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                       FunctionDefView* function) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader, open_message(parent, field, "signature", "OpDef"));
  namespace of = fields::op_def;
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    if (f.number == of::kName) {
      PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "name", &function->name));
    } else if (f.number == of::kInputArg) {
      PBMEM_RETURN_IF_ERROR(parse_arg_def(file, reader, f, "input_arg", &function->inputs));
    } else if (f.number == of::kOutputArg) {
      PBMEM_RETURN_IF_ERROR(parse_arg_def(file, reader, f, "output_arg", &function->outputs));
    }
  }
  return ok_status();
}

// A map<string, string> entry (FunctionDef.ret, FunctionDef.control_ret).
Status parse_string_entry(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                          const char* field_name,
                          std::vector<std::pair<std::string_view, std::string_view>>* map) {
  return wire::parse_map_entry(
      file, parent, field, field_name, "FunctionDef map entry", map,
      [&file](const ProtoReader& reader, const ProtoField& f, std::string_view* value) {
        return read_string(file, reader, f, "value", value);
      });
}

Status parse_function_fields(MappedFile& file, ProtoReader& reader, FunctionDefView* function) {
  namespace ff = fields::function;
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    switch (f.number) {
      case ff::kSignature:
        PBMEM_RETURN_IF_ERROR(parse_signature(file, reader, f, function));
        break;
      case ff::kNodeDef: {
        NodeDefView node;
        Status status = wire::parse_node(file, reader, f, &node);
        if (!status.ok()) {
          std::string which = str_cat("body node #", function->nodes.size());
          if (!node.name.empty()) which += str_cat(" '", node.name, "'");
          return status.with_context(which);
        }
        function->nodes.push_back(std::move(node));
        break;
      }
      case ff::kRet:
        PBMEM_RETURN_IF_ERROR(parse_string_entry(file, reader, f, "ret", &function->ret));
        break;
      case ff::kControlRet:
        PBMEM_RETURN_IF_ERROR(
            parse_string_entry(file, reader, f, "control_ret", &function->control_ret));
        break;
      case ff::kAttr:
        PBMEM_RETURN_IF_ERROR(
            wire::parse_attr_entry(file, reader, f, "FunctionDef.AttrEntry", &function->attrs));
        break;
      default:
        break;  // arg_attr, resource_arg_unique_id, unknown fields
    }
  }
  return ok_status();
}

}  // namespace

namespace wire {

Status parse_function_library(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                              FunctionLibraryView* library) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader,
                         open_message(parent, field, "library", "FunctionDefLibrary"));
  std::unordered_set<std::string_view> names;
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    if (f.number != fields::library::kFunction) continue;  // gradients, unknown fields
    PBMEM_ASSIGN_OR_RETURN(ProtoReader body, open_message(reader, f, "function", "FunctionDef"));
    FunctionDefView function;
    Status status = parse_function_fields(file, body, &function);
    std::string which = str_cat("function #", library->functions.size());
    if (!function.name.empty()) which += str_cat(" '", function.name, "'");
    if (!status.ok()) return status.with_context(which);
    if (function.name.empty()) return data_loss(which, " at byte ", f.offset, " has no name");
    if (!names.insert(function.name).second) {
      return data_loss("the function library defines '", function.name, "' twice");
    }
    library->functions.push_back(std::move(function));
  }
  return ok_status();
}

}  // namespace wire

std::string_view FunctionDefView::find_ret(std::string_view output_arg) const {
  for (const auto& entry : ret) {
    if (entry.first == output_arg) return entry.second;
  }
  return {};
}

const FunctionDefView* FunctionLibraryView::find(std::string_view name) const {
  for (const FunctionDefView& function : functions) {
    if (function.name == name) return &function;
  }
  return nullptr;
}

}  // namespace pbmem
