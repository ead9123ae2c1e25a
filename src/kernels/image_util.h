// Helpers shared by the image kernels (resize.cc, crop_and_resize.cc): reading the elements of
// any real image dtype as float.
#pragma once

#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {

// Element readers (functors, so the per-element call inlines).
template <typename T>
struct ReadAsFloat {
  float operator()(const T* p) const { return static_cast<float>(*p); }
};
struct ReadHalf {
  float operator()(const uint16_t* p) const { return half_to_float(*p); }
};
struct ReadBFloat16 {
  float operator()(const uint16_t* p) const { return bfloat16_to_float(*p); }
};

// Calls fn(Elem{}, read) with the storage type of an image dtype and a functor reading one
// element as float; false for other dtypes (resize.cc's dtypes: the real numbers).
template <typename Fn>
bool visit_float_reader(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat:
      fn(float{}, ReadAsFloat<float>());
      return true;
    case DType::kDouble:
      fn(double{}, ReadAsFloat<double>());
      return true;
    case DType::kInt8:
      fn(int8_t{}, ReadAsFloat<int8_t>());
      return true;
    case DType::kUInt8:
      fn(uint8_t{}, ReadAsFloat<uint8_t>());
      return true;
    case DType::kInt16:
      fn(int16_t{}, ReadAsFloat<int16_t>());
      return true;
    case DType::kUInt16:
      fn(uint16_t{}, ReadAsFloat<uint16_t>());
      return true;
    case DType::kInt32:
      fn(int32_t{}, ReadAsFloat<int32_t>());
      return true;
    case DType::kInt64:
      fn(int64_t{}, ReadAsFloat<int64_t>());
      return true;
    case DType::kHalf:
      fn(uint16_t{}, ReadHalf());
      return true;
    case DType::kBFloat16:
      fn(uint16_t{}, ReadBFloat16());
      return true;
    default:
      return false;
  }
}

Status register_crop_and_resize_ops(OpRegistry& registry);  // crop_and_resize.cc
Status register_nms_ops(OpRegistry& registry);              // nms.cc

}  // namespace array_detail
}  // namespace pbmem
