// Shapes. A dimension may be unknown (kUnknownDim) during load-time inference, when the batch
// size is not yet known; the rank may be unknown too. At prepare time every shape is concrete.
// Every element/byte count is computed with overflow checks.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace pbmem {

inline constexpr int64_t kUnknownDim = -1;

class Shape {
 public:
  Shape() = default;  // rank 0 (scalar)
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  static Shape unknown_rank() {
    Shape s;
    s.known_rank_ = false;
    return s;
  }

  bool known_rank() const { return known_rank_; }
  int rank() const { return static_cast<int>(dims_.size()); }  // 0 when the rank is unknown
  int64_t dim(int i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t& dim(int i) { return dims_[static_cast<size_t>(i)]; }
  const std::vector<int64_t>& dims() const { return dims_; }
  std::vector<int64_t>& dims() { return dims_; }

  // Known rank and no unknown dim.
  bool fully_defined() const;
  // Product of the dims; fails on overflow of int64, negative or unknown dims.
  Result<int64_t> num_elements() const;
  // num_elements() * dtype_size(dtype), overflow-checked.
  Result<int64_t> num_bytes(DType dtype) const;
  // Product of the dims, assuming fully_defined() and validated sizes (no check).
  int64_t num_elements_unchecked() const;

  // "[1,224,224,3]", "[?,224,224,3]", "<unknown rank>".
  std::string str() const;

  bool operator==(const Shape& other) const {
    return known_rank_ == other.known_rank_ && dims_ == other.dims_;
  }
  bool operator!=(const Shape& other) const { return !(*this == other); }

 private:
  std::vector<int64_t> dims_;
  bool known_rank_ = true;
};

// Overflow-checked helpers (false on overflow).
bool checked_mul(int64_t a, int64_t b, int64_t* out);
bool checked_add(int64_t a, int64_t b, int64_t* out);

// Parses "1,224,224,3" (also "?" or -1 for an unknown dim; "" or "scalar" for rank 0).
Result<Shape> parse_shape(const std::string& text);

}  // namespace pbmem
