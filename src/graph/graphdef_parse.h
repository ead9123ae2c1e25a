// Parsing helpers shared by the GraphDef reader (graphdef.cc) and the FunctionDefLibrary reader
// (function_library.cc). Internal to src/graph: everything here works on one ProtoReader field
// and returns DataLoss naming the byte offset and field on malformed input.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"
#include "graph/graphdef.h"
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
// One map<string, AttrValue> entry into `attrs` (a repeated key replaces the earlier value).
Status parse_attr_entry(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                        const char* message, AttrMap* attrs);
Status parse_node(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                  NodeDefView* node);
// GraphDef.library (function_library.cc).
Status parse_function_library(MappedFile& file, const ProtoReader& parent, const ProtoField& field,
                              FunctionLibraryView* library);

}  // namespace pbmem::wire
