// tensor_from_proto: a TensorProto view -> Tensor. tensor_content is viewed in the mapped file
// when aligned (no copy at load); typed values follow TF's rules: fewer values than elements
// repeat the last one (splat), none means zeros, more is an error.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "graph/graphdef.h"

namespace pbmem {

namespace {

// Writes count converted values, then repeats the last one up to n elements.
template <typename T, typename Src, typename Convert>
void write_splat(T* out, int64_t n, const std::vector<Src>& values, Convert convert) {
  int64_t count = static_cast<int64_t>(values.size());
  for (int64_t i = 0; i < count; ++i) out[i] = convert(values[static_cast<size_t>(i)]);
  std::fill(out + count, out + n, out[count - 1]);
}

template <typename T>
void write_ints(const Tensor& t, const std::vector<int64_t>& values) {
  write_splat(t.data<T>(), t.num_elements(), values,
              [](int64_t v) { return static_cast<T>(v); });
}

// Complex values are (real, imaginary) pairs in float_vals.
template <typename T>
void write_complex(const Tensor& t, const std::vector<double>& values) {
  T* out = t.data<T>();
  int64_t pairs = static_cast<int64_t>(values.size() / 2);
  for (int64_t i = 0; i < pairs; ++i) {
    out[2 * i] = static_cast<T>(values[static_cast<size_t>(2 * i)]);
    out[2 * i + 1] = static_cast<T>(values[static_cast<size_t>(2 * i + 1)]);
  }
  for (int64_t i = pairs; i < t.num_elements(); ++i) {
    out[2 * i] = out[2 * (pairs - 1)];
    out[2 * i + 1] = out[2 * (pairs - 1) + 1];
  }
}

bool is_floating(DType dtype) { return dtype == DType::kFloat || dtype == DType::kDouble; }
bool is_complex(DType dtype) {
  return dtype == DType::kComplex64 || dtype == DType::kComplex128;
}

// Number of typed values the proto holds for its dtype.
Result<int64_t> typed_value_count(const TensorProtoView& proto) {
  if (is_floating(proto.dtype)) return static_cast<int64_t>(proto.float_vals.size());
  if (is_complex(proto.dtype)) {
    if (proto.float_vals.size() % 2 != 0) {
      return invalid_argument("complex tensor has an odd number (", proto.float_vals.size(),
                              ") of real/imaginary values");
    }
    return static_cast<int64_t>(proto.float_vals.size() / 2);
  }
  return static_cast<int64_t>(proto.int_vals.size());
}

Status fill_typed_values(const TensorProtoView& proto, const Tensor& t) {
  switch (proto.dtype) {
    case DType::kFloat:
      write_splat(t.data<float>(), t.num_elements(), proto.float_vals,
                  [](double v) { return static_cast<float>(v); });
      return ok_status();
    case DType::kDouble:
      write_splat(t.data<double>(), t.num_elements(), proto.float_vals,
                  [](double v) { return v; });
      return ok_status();
    case DType::kComplex64: write_complex<float>(t, proto.float_vals); return ok_status();
    case DType::kComplex128: write_complex<double>(t, proto.float_vals); return ok_status();
    case DType::kInt32:
    case DType::kQInt32: write_ints<int32_t>(t, proto.int_vals); return ok_status();
    case DType::kInt16:
    case DType::kQInt16: write_ints<int16_t>(t, proto.int_vals); return ok_status();
    case DType::kInt8:
    case DType::kQInt8: write_ints<int8_t>(t, proto.int_vals); return ok_status();
    case DType::kUInt8:
    case DType::kQUInt8: write_ints<uint8_t>(t, proto.int_vals); return ok_status();
    case DType::kUInt16:
    case DType::kQUInt16:
    case DType::kHalf:      // half_val holds the 16-bit pattern
    case DType::kBFloat16: write_ints<uint16_t>(t, proto.int_vals); return ok_status();
    case DType::kInt64: write_ints<int64_t>(t, proto.int_vals); return ok_status();
    case DType::kUInt32: write_ints<uint32_t>(t, proto.int_vals); return ok_status();
    case DType::kUInt64: write_ints<uint64_t>(t, proto.int_vals); return ok_status();
    case DType::kBool:
      write_splat(t.data<bool>(), t.num_elements(), proto.int_vals,
                  [](int64_t v) { return v != 0; });
      return ok_status();
    default:
      return unimplemented("typed values of dtype ", dtype_name(proto.dtype),
                           " are not supported");
  }
}

}  // namespace

Result<Tensor> tensor_from_proto(const TensorProtoView& proto,
                                 const std::shared_ptr<MappedFile>& file) {
  if (proto.dtype == DType::kInvalid) return invalid_argument("tensor has no dtype");
  size_t element_size = dtype_size(proto.dtype);
  if (element_size == 0) {
    return unimplemented("tensors of dtype ", dtype_name(proto.dtype),
                         " are not supported (no fixed element size)");
  }
  if (!proto.shape.fully_defined()) {
    return invalid_argument("tensor shape ", proto.shape.str(), " is not fully defined");
  }
  PBMEM_ASSIGN_OR_RETURN(int64_t num_elements, proto.shape.num_elements());
  PBMEM_ASSIGN_OR_RETURN(int64_t num_bytes, proto.shape.num_bytes(proto.dtype));

  if (!proto.content.empty()) {
    if (static_cast<uint64_t>(proto.content.size()) != static_cast<uint64_t>(num_bytes)) {
      return invalid_argument("tensor content has ", proto.content.size(), " bytes but shape ",
                              proto.shape.str(), " of ", dtype_name(proto.dtype), " needs ",
                              num_bytes);
    }
    const void* data = proto.content.data();
    if (reinterpret_cast<uintptr_t>(data) % element_size == 0) {
      return Tensor::view(proto.dtype, proto.shape, data, file);
    }
    PBMEM_ASSIGN_OR_RETURN(Tensor copy, Tensor::allocate_uninitialized(proto.dtype, proto.shape));
    std::memcpy(copy.raw_data(), data, proto.content.size());
    return copy;
  }

  PBMEM_ASSIGN_OR_RETURN(int64_t count, typed_value_count(proto));
  if (count > num_elements) {
    return invalid_argument("tensor has ", count, " ", dtype_name(proto.dtype),
                            " values but shape ", proto.shape.str(), " holds only ",
                            num_elements);
  }
  // Allocation fails cleanly (ResourceExhausted) for a splat whose shape is too large.
  PBMEM_ASSIGN_OR_RETURN(Tensor tensor, Tensor::allocate(proto.dtype, proto.shape));
  if (count == 0) return tensor;  // no values: zeros
  PBMEM_RETURN_IF_ERROR(fill_typed_values(proto, tensor));
  return tensor;
}

}  // namespace pbmem
