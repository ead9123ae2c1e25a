// Tensor: a dtype, a concrete shape and a pointer to row-major (C order) data. The bytes are kept
// alive by a shared holder, which may be an owned aligned buffer or the memory-mapped model file
// (weights are viewed in place, never copied at load).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/status.h"

namespace pbmem {

// Alignment of every buffer pbmem allocates (cache line; what oneDNN prefers).
inline constexpr size_t kTensorAlignment = 64;

class Tensor {
 public:
  Tensor() = default;

  // A zero-initialised owned buffer of shape.num_bytes(dtype) bytes, kTensorAlignment-aligned.
  // Fails on unknown dims, overflow or allocation failure.
  static Result<Tensor> allocate(DType dtype, const Shape& shape);
  // As allocate(), but the bytes are left as they come (for a caller that writes every one:
  // zeroing first would be a second pass over memory that is often still being faulted in).
  static Result<Tensor> allocate_uninitialized(DType dtype, const Shape& shape);
  // A view of bytes owned by `holder` (which keeps them alive). No copy.
  static Tensor view(DType dtype, const Shape& shape, const void* data,
                     std::shared_ptr<const void> holder);
  // A tensor that shares this one's bytes but has another shape (same element count).
  Tensor reshaped(const Shape& shape) const;
  // Makes this tensor a view of `source`'s bytes under `shape`. Reuses this tensor's storage
  // for the dims, so re-binding a view on every run does not allocate.
  void assign_view(const Tensor& source, const Shape& shape);
  // A deep copy into an owned aligned buffer.
  Result<Tensor> clone() const;

  template <typename T>
  static Result<Tensor> scalar(T value) {
    PBMEM_ASSIGN_OR_RETURN(Tensor t, allocate(DTypeOf<T>::value, Shape()));
    *t.data<T>() = value;
    return t;
  }

  bool valid() const { return dtype_ != DType::kInvalid; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t num_elements() const { return shape_.num_elements_unchecked(); }
  size_t num_bytes() const { return static_cast<size_t>(num_elements()) * dtype_size(dtype_); }

  void* raw_data() const { return data_; }
  template <typename T>
  T* data() const {
    return static_cast<T*>(data_);
  }
  // True when both tensors point at the same bytes.
  bool shares_buffer_with(const Tensor& other) const { return data_ == other.data_; }
  const std::shared_ptr<const void>& holder() const { return holder_; }

 private:
  DType dtype_ = DType::kInvalid;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<const void> holder_;
};

}  // namespace pbmem
