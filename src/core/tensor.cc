#include "core/tensor.h"

#include <cstdlib>
#include <new>

namespace pbmem {

namespace {

struct AlignedBuffer {
  void* ptr = nullptr;
  ~AlignedBuffer() { std::free(ptr); }
};

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

Result<Tensor> Tensor::allocate(DType dtype, const Shape& shape) {
  if (dtype_size(dtype) == 0) {
    return unimplemented("cannot allocate a tensor of dtype ", dtype_name(dtype));
  }
  PBMEM_ASSIGN_OR_RETURN(int64_t bytes, shape.num_bytes(dtype));
  // aligned_alloc needs a non-zero multiple of the alignment.
  size_t alloc_bytes = round_up(static_cast<size_t>(bytes) + (bytes == 0 ? 1 : 0), kTensorAlignment);
  auto buffer = std::make_shared<AlignedBuffer>();
  buffer->ptr = std::aligned_alloc(kTensorAlignment, alloc_bytes);
  if (buffer->ptr == nullptr) {
    return resource_exhausted("cannot allocate ", bytes, " bytes for a ", dtype_name(dtype),
                              " tensor of shape ", shape.str());
  }
  std::memset(buffer->ptr, 0, alloc_bytes);
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.data_ = buffer->ptr;
  t.holder_ = std::move(buffer);
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

Result<Tensor> Tensor::clone() const {
  PBMEM_ASSIGN_OR_RETURN(Tensor t, allocate(dtype_, shape_));
  if (num_bytes() > 0) std::memcpy(t.data_, data_, num_bytes());
  return t;
}

}  // namespace pbmem
