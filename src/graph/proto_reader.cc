#include "graph/proto_reader.h"

#include <array>

namespace pbmem {

namespace {
constexpr uint8_t kVarintContinuationBit = 0x80;
constexpr uint8_t kVarintPayloadMask = 0x7f;
constexpr int kVarintBitsPerByte = 7;
constexpr int kWireTypeBits = 3;
constexpr uint64_t kWireTypeMask = (uint64_t{1} << kWireTypeBits) - 1;
constexpr int kFixed32Bytes = 4;
constexpr int kFixed64Bytes = 8;
}  // namespace

namespace {
std::string field_number_suffix(uint64_t field_number) {
  return field_number == 0 ? std::string() : str_cat(" of field ", field_number);
}
}  // namespace

const char* wire_type_name(WireType type) {
  switch (type) {
    case WireType::kVarint: return "varint";
    case WireType::kFixed64: return "fixed64";
    case WireType::kLengthDelimited: return "length-delimited";
    case WireType::kStartGroup: return "start-group";
    case WireType::kEndGroup: return "end-group";
    case WireType::kFixed32: return "fixed32";
  }
  return "invalid";
}

bool decode_varint(const uint8_t* base, uint64_t* pos, uint64_t end, uint64_t* out) {
  uint64_t value = 0;
  uint64_t p = *pos;
  for (int i = 0; i < kMaxVarintBytes; ++i) {
    if (p >= end) return false;
    uint8_t byte = base[p++];
    // Bits past 64 (possible in the 10th byte) are dropped, as protobuf does.
    value |= uint64_t{static_cast<uint8_t>(byte & kVarintPayloadMask)} << (kVarintBitsPerByte * i);
    if ((byte & kVarintContinuationBit) == 0) {
      *pos = p;
      *out = value;
      return true;
    }
  }
  return false;
}

Status ProtoReader::corrupt(uint64_t offset, const std::string& what) const {
  return data_loss(what, " at byte ", offset, " while reading ", message_);
}

Status ProtoReader::wrong_wire_type(const ProtoField& field, const char* field_name,
                                    WireType expected) const {
  return data_loss("field ", field.number, " ('", field_name, "') of ", message_, " at byte ",
                   field.offset, " has wire type ", wire_type_name(field.wire_type),
                   ", expected ", wire_type_name(expected));
}

Status ProtoReader::read_varint(uint64_t* out, const char* what, uint64_t field_number) {
  uint64_t start = pos_;
  if (decode_varint(base_, &pos_, end_, out)) return ok_status();
  // decode_varint fails on 10 continued bytes (over-long) or on running out of bytes first.
  bool truncated = end_ - start < static_cast<uint64_t>(kMaxVarintBytes);
  return corrupt(start, str_cat(truncated ? "truncated " : "over-long (more than 10 bytes) ",
                                "varint (", what, field_number_suffix(field_number), ")"));
}

Status ProtoReader::read_fixed(int num_bytes, uint64_t* out, const char* what,
                               uint64_t field_number) {
  uint64_t width = static_cast<uint64_t>(num_bytes);
  if (end_ - pos_ < width) {
    return corrupt(pos_, str_cat("truncated ", num_bytes, "-byte ", what,
                                 field_number_suffix(field_number), " (only ", end_ - pos_,
                                 " bytes left)"));
  }
  uint64_t value = 0;
  for (uint64_t b = 0; b < width; ++b) value |= uint64_t{base_[pos_ + b]} << (8 * b);
  pos_ += width;
  *out = value;
  return ok_status();
}

Status ProtoReader::next(ProtoField* field) {
  *field = ProtoField();
  field->offset = pos_;
  uint64_t tag = 0;
  PBMEM_RETURN_IF_ERROR(read_varint(&tag, "field tag"));
  uint64_t number = tag >> kWireTypeBits;
  uint64_t wire = tag & kWireTypeMask;
  if (number == 0 || number > kMaxFieldNumber) {
    return corrupt(field->offset, str_cat("invalid field number ", number));
  }
  field->number = static_cast<uint32_t>(number);
  switch (wire) {
    case static_cast<uint64_t>(WireType::kVarint):
      field->wire_type = WireType::kVarint;
      return read_varint(&field->value, "value", number);
    case static_cast<uint64_t>(WireType::kFixed64):
      field->wire_type = WireType::kFixed64;
      return read_fixed(kFixed64Bytes, &field->value, "value", number);
    case static_cast<uint64_t>(WireType::kFixed32):
      field->wire_type = WireType::kFixed32;
      return read_fixed(kFixed32Bytes, &field->value, "value", number);
    case static_cast<uint64_t>(WireType::kLengthDelimited): {
      field->wire_type = WireType::kLengthDelimited;
      uint64_t length_offset = pos_;
      uint64_t length = 0;
      PBMEM_RETURN_IF_ERROR(read_varint(&length, "length", number));
      if (length > end_ - pos_) {
        return corrupt(length_offset,
                       str_cat("field ", number, " has length ", length, " but only ",
                               end_ - pos_, " bytes are left"));
      }
      field->bytes_offset = pos_;
      field->bytes = std::string_view(reinterpret_cast<const char*>(base_ + pos_), length);
      pos_ += length;
      return ok_status();
    }
    case static_cast<uint64_t>(WireType::kStartGroup):
      field->wire_type = WireType::kStartGroup;
      return skip_group(field->number, field->offset);
    case static_cast<uint64_t>(WireType::kEndGroup):
      return corrupt(field->offset, str_cat("unmatched end-group tag for field ", number));
    default:
      return corrupt(field->offset, str_cat("invalid wire type ", wire, " for field ", number));
  }
}

// Skips to the end-group tag that matches `number`, through nested groups (bounded depth).
Status ProtoReader::skip_group(uint32_t number, uint64_t group_offset) {
  std::array<uint32_t, kMaxProtoNestingDepth> open{};
  int open_count = 0;
  if (depth_ + 1 > kMaxProtoNestingDepth) {
    return corrupt(group_offset, str_cat("group nested deeper than ", kMaxProtoNestingDepth));
  }
  open[open_count++] = number;
  while (open_count > 0) {
    if (done()) {
      return corrupt(group_offset, str_cat("group (field ", open[open_count - 1],
                                           ") is not closed before the end"));
    }
    uint64_t tag_offset = pos_;
    uint64_t tag = 0;
    PBMEM_RETURN_IF_ERROR(read_varint(&tag, "field tag inside a group"));
    uint64_t inner_number = tag >> kWireTypeBits;
    uint64_t wire = tag & kWireTypeMask;
    if (inner_number == 0 || inner_number > kMaxFieldNumber) {
      return corrupt(tag_offset, str_cat("invalid field number ", inner_number, " inside a group"));
    }
    uint64_t scratch = 0;
    switch (wire) {
      case static_cast<uint64_t>(WireType::kVarint):
        PBMEM_RETURN_IF_ERROR(read_varint(&scratch, "varint inside a group"));
        break;
      case static_cast<uint64_t>(WireType::kFixed64):
        PBMEM_RETURN_IF_ERROR(read_fixed(kFixed64Bytes, &scratch, "fixed64 inside a group"));
        break;
      case static_cast<uint64_t>(WireType::kFixed32):
        PBMEM_RETURN_IF_ERROR(read_fixed(kFixed32Bytes, &scratch, "fixed32 inside a group"));
        break;
      case static_cast<uint64_t>(WireType::kLengthDelimited): {
        uint64_t length_offset = pos_;
        PBMEM_RETURN_IF_ERROR(read_varint(&scratch, "length inside a group"));
        if (scratch > end_ - pos_) {
          return corrupt(length_offset, str_cat("length ", scratch, " inside a group runs past the end"));
        }
        pos_ += scratch;
        break;
      }
      case static_cast<uint64_t>(WireType::kStartGroup):
        if (depth_ + open_count + 1 > kMaxProtoNestingDepth) {
          return corrupt(tag_offset, str_cat("group nested deeper than ", kMaxProtoNestingDepth));
        }
        open[open_count++] = static_cast<uint32_t>(inner_number);
        break;
      case static_cast<uint64_t>(WireType::kEndGroup):
        if (inner_number != open[open_count - 1]) {
          return corrupt(tag_offset, str_cat("end-group tag for field ", inner_number,
                                             " closes a group of field ", open[open_count - 1]));
        }
        --open_count;
        break;
      default:
        return corrupt(tag_offset, str_cat("invalid wire type ", wire, " inside a group"));
    }
  }
  return ok_status();
}

Result<ProtoReader> ProtoReader::sub_message(const ProtoField& field, const char* message) const {
  if (depth_ + 1 > kMaxProtoNestingDepth) {
    return corrupt(field.offset, str_cat("message ", message, " nested deeper than ",
                                         kMaxProtoNestingDepth, " levels"));
  }
  uint64_t begin = field.bytes_offset;
  return ProtoReader(base_, begin, begin + field.bytes.size(), message, depth_ + 1);
}

}  // namespace pbmem
