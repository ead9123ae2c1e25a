// .npy read and write (format versions 1.0-3.0 read, 1.0 written), C order, little endian.
// Supported dtypes: f32, f64, i32, i64, u8, bool, and also f16, i8, i16, u16, u32, u64. Anything
// else (big endian, Fortran order, object arrays, structured dtypes) is a clear error.
#pragma once

#include <string>

#include "core/status.h"
#include "core/tensor.h"

namespace pbmem {

Result<Tensor> read_npy(const std::string& path);
Result<Tensor> parse_npy(const std::string& bytes, const std::string& name_for_errors);
// Writes to `path` via a temporary file and rename, so an existing file is never truncated.
Status write_npy(const Tensor& tensor, const std::string& path);
// Empty for a dtype .npy cannot hold (see npy_can_store).
std::string serialize_npy(const Tensor& tensor);
// True when write_npy/serialize_npy can store tensors of this dtype.
bool npy_can_store(DType dtype);

}  // namespace pbmem
