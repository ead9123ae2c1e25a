// Element types, numbered as TensorFlow's DataType enum (types.proto) so that values read from a
// GraphDef map one to one. Reference types (DT_FLOAT_REF = 101, ...) are folded to their base.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace pbmem {

enum class DType : int32_t {
  kInvalid = 0,
  kFloat = 1,
  kDouble = 2,
  kInt32 = 3,
  kUInt8 = 4,
  kInt16 = 5,
  kInt8 = 6,
  kString = 7,
  kComplex64 = 8,
  kInt64 = 9,
  kBool = 10,
  kQInt8 = 11,
  kQUInt8 = 12,
  kQInt32 = 13,
  kBFloat16 = 14,
  kQInt16 = 15,
  kQUInt16 = 16,
  kUInt16 = 17,
  kComplex128 = 18,
  kHalf = 19,
  kResource = 20,
  kVariant = 21,
  kUInt32 = 22,
  kUInt64 = 23,
};

inline constexpr int32_t kDTypeRefOffset = 100;

// Converts a raw DataType number from a file; ref types map to their base type.
// Fails for numbers TensorFlow does not define.
Result<DType> dtype_from_proto(int64_t raw);

// TF's name: "float", "int32", "bool", ... ("invalid" for unknown values).
const char* dtype_name(DType dtype);

// Bytes per element; 0 for types without a fixed size (string, resource, variant).
size_t dtype_size(DType dtype);

// True for the types pbmem computes with (kernels and .npy): f32, f64, i32, i64, u8, i8, i16,
// u16, u32, u64, bool, half, bfloat16.
bool dtype_is_numeric(DType dtype);

template <typename T>
struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kDouble; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kUInt8; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::kInt8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::kInt16; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::kUInt16; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::kUInt32; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::kUInt64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };

}  // namespace pbmem
