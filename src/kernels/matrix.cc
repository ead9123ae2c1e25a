// MatrixBandPart(x, num_lower, num_upper), on the innermost two dims as batches of matrices:
// keeps x[..., m, n] where (num_lower < 0 or m - n <= num_lower) and (num_upper < 0 or
// n - m <= num_upper), zeroes the rest. The MatrixDiag family is in matrix_diag.cc.
#include <algorithm>
#include <cstring>

#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

// ---------------------------------------------------------------------------------------------
class MatrixBandPartKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, ctx.input_dtype(0), "input 0"));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "num_lower"));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 2, "num_upper"));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "num_lower", 0));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 2, "num_upper", 0));
    const Shape& x = ctx.input_shape(0);
    if (x.known_rank() && x.rank() < 2) {
      return ctx.error("input 0 must be at least 2-D, got shape ", x.str());
    }
    ctx.set_output(0, ctx.input_dtype(0), x);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Shape& shape = x.shape();
    const int64_t rows = shape.dim(shape.rank() - 2);
    const int64_t cols = shape.dim(shape.rank() - 1);
    const int64_t lower = int_element(ctx.input(1), 0);
    const int64_t upper = int_element(ctx.input(2), 0);
    if (lower > rows) {
      return ctx.error("input 1 'num_lower' must be negative or at most the number of rows (", rows,
                       "), got ", lower);
    }
    if (upper > cols) {
      return ctx.error("input 2 'num_upper' must be negative or at most the number of columns (",
                       cols, "), got ", upper);
    }
    const size_t elem = dtype_size(x.dtype());
    const int64_t matrices = rows * cols == 0 ? 0 : x.num_elements() / (rows * cols);
    const auto* src = static_cast<const char*>(x.raw_data());
    auto* dst = static_cast<char*>(ctx.output(0).raw_data());
    parallel_for(matrices * rows, 256, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t m = r % rows;
        // Row m keeps columns [m - lower, m + upper]; a negative bound keeps everything.
        const int64_t first = lower < 0 ? 0 : std::max<int64_t>(0, m - lower);
        const int64_t last = upper < 0 ? cols : std::min(cols, m + upper + 1);
        char* out = dst + static_cast<size_t>(r * cols) * elem;
        const char* in = src + static_cast<size_t>(r * cols) * elem;
        std::memset(out, 0, static_cast<size_t>(cols) * elem);
        if (last > first) {
          std::memcpy(out + static_cast<size_t>(first) * elem,
                      in + static_cast<size_t>(first) * elem,
                      static_cast<size_t>(last - first) * elem);
        }
      }
    });
    return ok_status();
  }
};

}  // namespace

Status register_matrix_ops(OpRegistry& registry) {
  PBMEM_RETURN_IF_ERROR(registry.add_all({
      {"MatrixBandPart", op_record<MatrixBandPartKernel>()},
  }));
  PBMEM_RETURN_IF_ERROR(register_matrix_diag_ops(registry));
  return ok_status();
}

}  // namespace array_detail
}  // namespace pbmem
