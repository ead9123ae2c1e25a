#include "kernels/util.h"

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pbmem {

int pbmem_num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

Result<int> normalize_axis(int64_t axis, int rank, const char* what) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    return invalid_argument(what, " ", axis, " is out of range for rank ", rank, " (allowed [",
                            -rank, ", ", rank, "))");
  }
  return static_cast<int>(a);
}

Result<std::vector<int64_t>> read_int_tensor(const Tensor& t, const char* what) {
  std::vector<int64_t> values(static_cast<size_t>(t.num_elements()));
  if (t.dtype() == DType::kInt32) {
    const int32_t* p = t.data<int32_t>();
    for (size_t i = 0; i < values.size(); ++i) values[i] = p[i];
  } else if (t.dtype() == DType::kInt64) {
    const int64_t* p = t.data<int64_t>();
    for (size_t i = 0; i < values.size(); ++i) values[i] = p[i];
  } else {
    return invalid_argument(what, " must be int32 or int64, got ", dtype_name(t.dtype()));
  }
  return values;
}

Result<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  if (!a.known_rank() || !b.known_rank()) return Shape::unknown_rank();
  int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(static_cast<size_t>(rank));
  for (int i = 0; i < rank; ++i) {
    int ia = a.rank() - rank + i;
    int ib = b.rank() - rank + i;
    int64_t da = ia >= 0 ? a.dim(ia) : 1;
    int64_t db = ib >= 0 ? b.dim(ib) : 1;
    int64_t d;
    if (da == 1) {
      d = db;
    } else if (db == 1) {
      d = da;
    } else if (da == kUnknownDim) {
      d = db;
    } else if (db == kUnknownDim) {
      d = da;
    } else if (da == db) {
      d = da;
    } else {
      return invalid_argument("shapes ", a.str(), " and ", b.str(),
                              " are not broadcast-compatible (dimension ", i, ": ", da, " vs ",
                              db, ")");
    }
    dims[static_cast<size_t>(i)] = d;
  }
  return Shape(std::move(dims));
}

Result<Padding> parse_padding(const std::string& text) {
  if (text == "VALID") return Padding::kValid;
  if (text == "SAME") return Padding::kSame;
  if (text == "EXPLICIT") return Padding::kExplicit;
  return invalid_argument("padding must be SAME, VALID or EXPLICIT, got '", text, "'");
}

WindowDim window_dim(int64_t input, int64_t filter, int64_t stride, int64_t dilation,
                     Padding padding) {
  WindowDim w;
  if (input == kUnknownDim) {
    w.output = kUnknownDim;
    return w;
  }
  int64_t effective = (filter - 1) * dilation + 1;
  if (padding == Padding::kSame) {
    w.output = (input + stride - 1) / stride;
    int64_t needed = std::max<int64_t>(0, (w.output - 1) * stride + effective - input);
    w.pad_before = needed / 2;
    w.pad_after = needed - w.pad_before;
  } else {
    w.output = input >= effective ? (input - effective + stride) / stride : 0;
  }
  return w;
}

}  // namespace pbmem
