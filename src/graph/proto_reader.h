// A minimal zero-copy reader of the protobuf wire format over a byte span.
//
// Why our own: generated protobuf code copies every `bytes` field and refuses messages over
// 2 GB. This reader hands out string_views into the span, uses 64-bit offsets, and checks every
// read against the end of the enclosing message, so corrupt input is a DataLoss Status naming the
// byte offset (from the start of the file) and the message/field being read, never a crash.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/status.h"

namespace pbmem {

// Deeper nesting (sub-messages or groups) than this is treated as corrupt input.
inline constexpr int kMaxProtoNestingDepth = 64;
// A varint encodes at most 64 bits in 10 bytes of 7 bits each.
inline constexpr int kMaxVarintBytes = 10;
// Field numbers are 29-bit (protobuf encoding spec).
inline constexpr uint64_t kMaxFieldNumber = (uint64_t{1} << 29) - 1;

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

const char* wire_type_name(WireType type);

// One field as read: its number, wire type and payload. Groups are skipped whole (their
// contents are never used by GraphDef readers), so they arrive with an empty payload.
struct ProtoField {
  uint32_t number = 0;
  WireType wire_type = WireType::kVarint;
  uint64_t offset = 0;          // of the tag, from the start of the file
  uint64_t value = 0;           // varint, fixed64 or fixed32 payload
  std::string_view bytes;       // length-delimited payload
  uint64_t bytes_offset = 0;    // offset of `bytes` from the start of the file

  int64_t as_int64() const { return static_cast<int64_t>(value); }
  // int32 fields are sign-extended to 64 bits on the wire; truncation restores them.
  int32_t as_int32() const { return static_cast<int32_t>(static_cast<uint32_t>(value)); }
  float as_float() const {
    uint32_t bits = static_cast<uint32_t>(value);
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
  }
  double as_double() const {
    double d;
    std::memcpy(&d, &value, sizeof(d));
    return d;
  }
};

class ProtoReader {
 public:
  // Reads [begin, end) of `base`; `message` names the message type for errors ("GraphDef").
  ProtoReader(const uint8_t* base, uint64_t begin, uint64_t end, const char* message,
              int depth = 0)
      : base_(base), pos_(begin), end_(end), message_(message), depth_(depth) {}

  bool done() const { return pos_ >= end_; }
  uint64_t position() const { return pos_; }
  const char* message() const { return message_; }

  // Reads the next tag and its payload. Unknown fields can simply be ignored by the caller:
  // their payload has been consumed.
  Status next(ProtoField* field);

  // A reader over a length-delimited field's payload, one level deeper; fails past
  // kMaxProtoNestingDepth.
  Result<ProtoReader> sub_message(const ProtoField& field, const char* message) const;

  // DataLoss "<what> at byte N of <message>...".
  Status corrupt(uint64_t offset, const std::string& what) const;
  // Error for a known field that arrived with the wrong wire type.
  Status wrong_wire_type(const ProtoField& field, const char* field_name,
                         WireType expected) const;

  // Repeated scalars may be packed (one length-delimited run) or not (one field per value).
  // These call fn(value) for each element; fn returns void.
  template <typename Fn>
  Status read_repeated_varint(const ProtoField& field, const char* field_name, Fn&& fn) const;
  template <typename Fn>
  Status read_repeated_fixed32(const ProtoField& field, const char* field_name, Fn&& fn) const;
  template <typename Fn>
  Status read_repeated_fixed64(const ProtoField& field, const char* field_name, Fn&& fn) const;

 private:
  // `what` names the value for errors; field_number (when not 0) is the field it belongs to.
  Status read_varint(uint64_t* out, const char* what, uint64_t field_number = 0);
  Status read_fixed(int num_bytes, uint64_t* out, const char* what, uint64_t field_number = 0);
  Status skip_group(uint32_t number, uint64_t group_offset);

  const uint8_t* base_;
  uint64_t pos_;
  uint64_t end_;
  const char* message_;
  int depth_;
};

// Decodes one varint from [*pos, end); advances *pos. False when truncated or over 10 bytes.
bool decode_varint(const uint8_t* base, uint64_t* pos, uint64_t end, uint64_t* out);

// ---- implementation of templates ----

template <typename Fn>
Status ProtoReader::read_repeated_varint(const ProtoField& field, const char* field_name,
                                         Fn&& fn) const {
  if (field.wire_type == WireType::kVarint) {
    fn(field.value);
    return ok_status();
  }
  if (field.wire_type != WireType::kLengthDelimited) {
    return wrong_wire_type(field, field_name, WireType::kVarint);
  }
  const uint8_t* run = reinterpret_cast<const uint8_t*>(field.bytes.data());
  uint64_t pos = 0;
  while (pos < field.bytes.size()) {
    uint64_t value = 0;
    uint64_t start = pos;
    if (!decode_varint(run, &pos, field.bytes.size(), &value)) {
      return corrupt(field.bytes_offset + start,
                     str_cat("truncated or over-long varint in packed field '", field_name, "'"));
    }
    fn(value);
  }
  return ok_status();
}

namespace proto_internal {
template <typename Fn>
Status read_repeated_fixed(const ProtoReader& reader, const ProtoField& field,
                           const char* field_name, WireType scalar_type, uint64_t width,
                           Fn&& fn) {
  if (field.wire_type == scalar_type) {
    fn(field.value);
    return ok_status();
  }
  if (field.wire_type != WireType::kLengthDelimited) {
    return reader.wrong_wire_type(field, field_name, scalar_type);
  }
  if (field.bytes.size() % width != 0) {
    return reader.corrupt(field.bytes_offset,
                          str_cat("packed field '", field_name, "' has ", field.bytes.size(),
                                  " bytes, not a multiple of ", width));
  }
  const uint8_t* run = reinterpret_cast<const uint8_t*>(field.bytes.data());
  for (uint64_t pos = 0; pos < field.bytes.size(); pos += width) {
    uint64_t value = 0;
    for (uint64_t b = 0; b < width; ++b) value |= uint64_t{run[pos + b]} << (8 * b);
    fn(value);
  }
  return ok_status();
}
}  // namespace proto_internal

template <typename Fn>
Status ProtoReader::read_repeated_fixed32(const ProtoField& field, const char* field_name,
                                          Fn&& fn) const {
  return proto_internal::read_repeated_fixed(*this, field, field_name, WireType::kFixed32, 4,
                                             fn);
}

template <typename Fn>
Status ProtoReader::read_repeated_fixed64(const ProtoField& field, const char* field_name,
                                          Fn&& fn) const {
  return proto_internal::read_repeated_fixed(*this, field, field_name, WireType::kFixed64, 8,
                                             fn);
}

}  // namespace pbmem
