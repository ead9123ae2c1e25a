// Parsing helpers shared by the GraphDef reader (graphdef.cc) and the FunctionDefLibrary reader
// (function_library.cc). Internal to src/graph: everything here works on one ProtoReader field
// and returns DataLoss naming the byte offset and field on malformed input.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "graph/graphdef.h"
#include "graph/graphdef_fields.h"
#include "graph/proto_reader.h"

namespace pbmem::wire {

Status expect_wire(const ProtoReader& reader, const ProtoField& field, const char* field_name,
                   WireType expected);
Result<ProtoReader> open_message(const ProtoReader& parent, const ProtoField& field,
                                 const char* field_name, const char* message);
// Strings are copied into the file's arena (see mapped_file.h).
Status read_string(MappedFile& file, const ProtoReader& reader, const ProtoField& field,
                   const char* field_name, std::string_view* out);
Status read_varint_field(const ProtoReader& reader, const ProtoField& field, const char* field_name,
                         uint64_t* out);
// One entry of a map<string, Value> field into `map`; read_value(reader, field, &value) reads
// the value. Map semantics: a repeated key replaces the earlier value.
template <typename Value, typename ReadValue>
Status parse_map_entry(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                       const char* field_name, const char* message,
                       std::vector<std::pair<std::string_view, Value>>* map,
                       ReadValue read_value) {
  PBMEM_ASSIGN_OR_RETURN(ProtoReader reader, open_message(parent, field, field_name, message));
  std::string_view key;
  Value value{};
  ProtoField f;
  while (!reader.done()) {
    PBMEM_RETURN_IF_ERROR(reader.next(&f));
    if (f.number == fields::map_entry::kKey) {
      PBMEM_RETURN_IF_ERROR(read_string(file, reader, f, "key", &key));
    } else if (f.number == fields::map_entry::kValue) {
      PBMEM_RETURN_IF_ERROR(read_value(reader, f, &value));
    }
  }
  for (auto& entry : *map) {
    if (entry.first == key) {
      entry.second = std::move(value);
      return ok_status();
    }
  }
  map->emplace_back(key, std::move(value));
  return ok_status();
}

// One map<string, AttrValue> entry into `attrs` (a repeated key replaces the earlier value).
Status parse_attr_entry(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                        const char* message, AttrMap* attrs);
Status parse_node(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                  NodeDefView* node);
// GraphDef.library (function_library.cc).
Status parse_function_library(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                              FunctionLibraryView* library);

}  // namespace pbmem::wire
