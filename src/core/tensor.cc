#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "memory/allocator.h"

namespace pbmem {

Result<Tensor> Tensor::allocate_uninitialized(DType dtype, const Shape& shape) {
  if (dtype_size(dtype) == 0) {
    return unimplemented("cannot allocate a tensor of dtype ", dtype_name(dtype));
  }
  PBMEM_ASSIGN_OR_RETURN(int64_t bytes, shape.num_bytes(dtype));
  auto buffer = allocate_accounted(bytes);
  if (!buffer.ok()) {
    return Status(buffer.status().code(), str_cat(buffer.status().message(), " for a ", dtype_name(dtype),
                                                  " tensor of shape ", shape.str()));
  }
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.data_ = buffer->get();
  t.holder_ = std::move(buffer).value();
  return t;
}

Result<Tensor> Tensor::allocate(DType dtype, const Shape& shape) {
  PBMEM_ASSIGN_OR_RETURN(Tensor t, allocate_uninitialized(dtype, shape));
  if (t.num_bytes() > 0) std::memset(t.data_, 0, t.num_bytes());
  return t;
}

Tensor Tensor::view(DType dtype, const Shape& shape, const void* data,
                    std::shared_ptr<const void> holder) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.data_ = const_cast<void*>(data);
  t.holder_ = std::move(holder);
  return t;
}

Tensor Tensor::reshaped(const Shape& shape) const {
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

void Tensor::assign_view(const Tensor& source, const Shape& shape) {
  dtype_ = source.dtype_;
  data_ = source.data_;
  holder_ = source.holder_;
  shape_ = shape;
}

Result<Tensor> Tensor::clone() const {
  PBMEM_ASSIGN_OR_RETURN(Tensor t, allocate_uninitialized(dtype_, shape_));
  if (num_bytes() > 0) std::memcpy(t.data_, data_, num_bytes());
  return t;
}

}  // namespace pbmem
