// Small shared helpers for kernels: dtype dispatch, parallel loops, axis normalisation,
// NumPy broadcasting and TF's SAME/VALID window arithmetic.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/status.h"
#include "core/tensor.h"

namespace pbmem {

// Runs fn(begin, end) over [0, n) split across the OpenMP threads. Small n runs inline.
template <typename Fn>
void parallel_for(int64_t n, int64_t min_chunk, Fn&& fn);

// Normalises a possibly negative axis into [0, rank); error message names the attribute/input.
Result<int> normalize_axis(int64_t axis, int rank, const char* what);

// Reads an integer tensor (int32 or int64) into int64 values.
Result<std::vector<int64_t>> read_int_tensor(const Tensor& t, const char* what);

// NumPy/TF broadcast of two (possibly partial) shapes; error when incompatible.
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// TF window arithmetic (tensorflow/core/framework/kernel_shape_util): for one spatial dim.
struct WindowDim {
  int64_t output = 0;
  int64_t pad_before = 0;
  int64_t pad_after = 0;
};
enum class Padding { kValid, kSame, kExplicit };
Result<Padding> parse_padding(const std::string& text);
// input/filter/stride/dilation for one dim; unknown input (kUnknownDim) gives unknown output.
WindowDim window_dim(int64_t input, int64_t filter, int64_t stride, int64_t dilation,
                     Padding padding);

// ---- implementation of templates ----

int pbmem_num_threads();  // current OpenMP thread count (1 without OpenMP)

template <typename Fn>
void parallel_for(int64_t n, int64_t min_chunk, Fn&& fn) {
  if (n <= 0) return;
  int threads = pbmem_num_threads();
  if (threads <= 1 || n <= min_chunk) {
    fn(int64_t{0}, n);
    return;
  }
  int64_t chunks = std::min<int64_t>(threads, (n + min_chunk - 1) / min_chunk);
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t begin = n * c / chunks;
    int64_t end = n * (c + 1) / chunks;
    fn(begin, end);
  }
}

}  // namespace pbmem
