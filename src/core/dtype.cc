#include "core/dtype.h"

namespace pbmem {

namespace {
constexpr int32_t kMaxDataType = static_cast<int32_t>(DType::kUInt64);
}

Result<DType> dtype_from_proto(int64_t raw) {
  int64_t base = raw > kDTypeRefOffset ? raw - kDTypeRefOffset : raw;
  if (base <= 0 || base > kMaxDataType) {
    return invalid_argument("unknown dtype number ", raw, " (TensorFlow defines 1..", kMaxDataType,
                            " and their _REF variants)");
  }
  return static_cast<DType>(base);
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kInvalid: return "invalid";
    case DType::kFloat: return "float";
    case DType::kDouble: return "double";
    case DType::kInt32: return "int32";
    case DType::kUInt8: return "uint8";
    case DType::kInt16: return "int16";
    case DType::kInt8: return "int8";
    case DType::kString: return "string";
    case DType::kComplex64: return "complex64";
    case DType::kInt64: return "int64";
    case DType::kBool: return "bool";
    case DType::kQInt8: return "qint8";
    case DType::kQUInt8: return "quint8";
    case DType::kQInt32: return "qint32";
    case DType::kBFloat16: return "bfloat16";
    case DType::kQInt16: return "qint16";
    case DType::kQUInt16: return "quint16";
    case DType::kUInt16: return "uint16";
    case DType::kComplex128: return "complex128";
    case DType::kHalf: return "half";
    case DType::kResource: return "resource";
    case DType::kVariant: return "variant";
    case DType::kUInt32: return "uint32";
    case DType::kUInt64: return "uint64";
  }
  return "invalid";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kUInt8:
    case DType::kInt8:
    case DType::kQInt8:
    case DType::kQUInt8: return 1;
    case DType::kInt16:
    case DType::kUInt16:
    case DType::kQInt16:
    case DType::kQUInt16:
    case DType::kHalf:
    case DType::kBFloat16: return 2;
    case DType::kFloat:
    case DType::kInt32:
    case DType::kUInt32:
    case DType::kQInt32: return 4;
    case DType::kDouble:
    case DType::kInt64:
    case DType::kUInt64:
    case DType::kComplex64: return 8;
    case DType::kComplex128: return 16;
    default: return 0;
  }
}

bool dtype_is_numeric(DType dtype) {
  switch (dtype) {
    case DType::kFloat:
    case DType::kDouble:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt8:
    case DType::kInt8:
    case DType::kInt16:
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64:
    case DType::kBool:
    case DType::kHalf:
    case DType::kBFloat16: return true;
    default: return false;
  }
}

}  // namespace pbmem
