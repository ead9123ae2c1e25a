// Ops on the innermost two dims as batches of matrices, moving elements by size only:
//   MatrixBandPart(x, num_lower, num_upper): keeps x[..., m, n] where (num_lower < 0 or
//     m - n <= num_lower) and (num_upper < 0 or n - m <= num_upper), zeroes the rest.
//   MatrixDiag / V2 / V3 (diagonal [..., N] -> [..., rows, cols]) and MatrixDiagPart / V2 / V3
//     ([..., M, N] -> [..., min(M, N)]) for the main diagonal, k = 0: the form tf.linalg.diag
//     and tf.linalg.diag_part emit. Other diagonals (k != 0) are reported as unsupported.
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

// ---------------------------------------------------------------------------------------------
// The k input of the V2/V3 ops: a scalar or a [lo, hi] pair; only the main diagonal (0) is
// supported. The align attribute only matters for several diagonals, but must be valid.
Status check_main_diagonal(const InferContext& ctx, const Tensor* k) {
  if (k != nullptr) {
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> values, read_int_input(ctx.node(), *k, 1, "k"));
    if (values.empty() || values.size() > 2 || k->shape().rank() > 1) {
      return ctx.error("input 1 'k' must be a scalar or a vector of 1 or 2 entries, got shape ",
                       k->shape().str());
    }
    for (int64_t v : values) {
      if (v != 0) {
        return ctx.unsupported("input 1 'k' = ", Shape(values).str(),
                               ": only the main diagonal (k = 0) is supported");
      }
    }
  }
  PBMEM_ASSIGN_OR_RETURN(std::string align, ctx.node().attr_string_or("align", "RIGHT_LEFT"));
  if (align != "RIGHT_LEFT" && align != "LEFT_RIGHT" && align != "LEFT_LEFT" &&
      align != "RIGHT_RIGHT") {
    return ctx.error(
        "attribute 'align' must be LEFT_RIGHT, RIGHT_LEFT, LEFT_LEFT or RIGHT_RIGHT, got '", align,
        "'");
  }
  return ok_status();
}

// MatrixDiag (v1: one input) and MatrixDiagV2/V3 (diagonal, k, num_rows, num_cols,
// padding_value): out[..., i, j] = i == j ? diagonal[..., i] : padding (0 for v1).
class MatrixDiagKernel : public Kernel {
 public:
  explicit MatrixDiagKernel(bool v1) : v1_(v1) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(v1_ ? 1 : 5, v1_ ? 1 : 5));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0 'diagonal'"));
    const Shape& diag = ctx.input_shape(0);
    if (diag.known_rank() && diag.rank() < 1)
      return ctx.error("input 0 'diagonal' must be at least 1-D, got a scalar");
    int64_t num_rows = -1, num_cols = -1;
    if (!v1_) {
      if (ctx.input_dtype(4) != dtype) {
        return ctx.error("input 4 'padding_value' must have the dtype of input 0 (",
                         dtype_name(dtype), ")");
      }
      PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 4, "padding_value", 0));
      const char* names[] = {"k", "num_rows", "num_cols"};
      const Tensor* values[3] = {};
      for (int i = 1; i <= 3; ++i) {
        PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, i, names[i - 1]));
        PBMEM_ASSIGN_OR_RETURN(values[i - 1], shape_input(ctx, i, names[i - 1]));
      }
      PBMEM_RETURN_IF_ERROR(check_main_diagonal(ctx, values[0]));
      if (values[1] == nullptr || values[2] == nullptr || !diag.known_rank()) {
        ctx.set_output(0, dtype, unknown_dims(diag.known_rank() ? diag.rank() + 1 : -1));
        return ok_status();
      }
      PBMEM_ASSIGN_OR_RETURN(num_rows, read_int_scalar(ctx.node(), *values[1], 2, "num_rows"));
      PBMEM_ASSIGN_OR_RETURN(num_cols, read_int_scalar(ctx.node(), *values[2], 3, "num_cols"));
    }
    if (!diag.known_rank()) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    std::vector<int64_t> dims = diag.dims();
    PBMEM_RETURN_IF_ERROR(matrix_size(ctx, dims.back(), &num_rows, &num_cols));
    dims.back() = num_rows;
    dims.push_back(num_cols);
    Shape out(dims);
    if (out.fully_defined()) {
      auto bytes = out.num_bytes(dtype);
      if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
    }
    ctx.set_output(0, dtype, std::move(out));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& diag = ctx.input(0);
    Tensor& out = ctx.output(0);
    const int64_t n = diag.shape().dim(diag.shape().rank() - 1);
    const int64_t rows = out.shape().dim(out.shape().rank() - 2);
    const int64_t cols = out.shape().dim(out.shape().rank() - 1);
    const size_t elem = dtype_size(diag.dtype());
    const int64_t zero = 0;
    fill_elements(out.raw_data(), out.num_elements(), v1_ ? &zero : ctx.input(4).raw_data(), elem);
    const int64_t matrices = n == 0 ? 0 : diag.num_elements() / n;
    const auto* src = static_cast<const char*>(diag.raw_data());
    auto* dst = static_cast<char*>(out.raw_data());
    for (int64_t b = 0; b < matrices; ++b) {
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(dst + static_cast<size_t>((b * rows + i) * cols + i) * elem,
                    src + static_cast<size_t>(b * n + i) * elem, elem);
      }
    }
    return ok_status();
  }

 private:
  // TF's rule for one diagonal of length n: -1 means "as small as fits"; a given size must be
  // at least n, and one of the two must be exactly n.
  static Status matrix_size(const InferContext& ctx, int64_t n, int64_t* rows, int64_t* cols) {
    if (n == kUnknownDim) {
      if (*rows == -1 || *cols == -1) *rows = *cols = kUnknownDim;
      return ok_status();
    }
    if (*rows == -1) *rows = n;
    if (*cols == -1) *cols = n;
    if (*rows < n || *cols < n || (*rows != n && *cols != n)) {
      return ctx.error("num_rows = ", *rows, " and num_cols = ", *cols,
                       " do not fit a main diagonal of length ", n,
                       " (both at least it, one equal to it)");
    }
    return ok_status();
  }

  bool v1_;
};

// MatrixDiagPart (v1) and MatrixDiagPartV2/V3 (input, k, padding_value): out[..., i] =
// input[..., i, i] for i < min(M, N).
class MatrixDiagPartKernel : public Kernel {
 public:
  explicit MatrixDiagPartKernel(bool v1) : v1_(v1) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(v1_ ? 1 : 3, v1_ ? 1 : 3));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    if (!v1_) {
      PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "k"));
      if (ctx.input_dtype(2) != dtype) {
        return ctx.error("input 2 'padding_value' must have the dtype of input 0 (",
                         dtype_name(dtype), ")");
      }
      PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 2, "padding_value", 0));
      PBMEM_ASSIGN_OR_RETURN(const Tensor* k, shape_input(ctx, 1, "k"));
      PBMEM_RETURN_IF_ERROR(check_main_diagonal(ctx, k));
    }
    const Shape& x = ctx.input_shape(0);
    if (!x.known_rank()) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    if (x.rank() < 2) return ctx.error("input 0 must be at least 2-D, got shape ", x.str());
    std::vector<int64_t> dims(x.dims().begin(), x.dims().end() - 1);
    const int64_t m = x.dim(x.rank() - 2), n = x.dim(x.rank() - 1);
    dims.back() = (m == kUnknownDim || n == kUnknownDim) ? kUnknownDim : std::min(m, n);
    ctx.set_output(0, dtype, Shape(std::move(dims)));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Shape& s = x.shape();
    const int64_t rows = s.dim(s.rank() - 2), cols = s.dim(s.rank() - 1);
    const int64_t len = std::min(rows, cols);
    const int64_t matrices = rows * cols == 0 ? 0 : x.num_elements() / (rows * cols);
    const size_t elem = dtype_size(x.dtype());
    const auto* src = static_cast<const char*>(x.raw_data());
    auto* dst = static_cast<char*>(ctx.output(0).raw_data());
    for (int64_t b = 0; b < matrices; ++b) {
      for (int64_t i = 0; i < len; ++i) {
        std::memcpy(dst + static_cast<size_t>(b * len + i) * elem,
                    src + static_cast<size_t>(b * rows * cols + i * (cols + 1)) * elem, elem);
      }
    }
    return ok_status();
  }

 private:
  bool v1_;
};

template <typename K, bool kV1>
std::unique_ptr<Kernel> make_versioned() {
  return std::make_unique<K>(kV1);
}

}  // namespace

Status register_matrix_ops(OpRegistry& registry) {
  PBMEM_RETURN_IF_ERROR(registry.add("MatrixBandPart", make_kernel<MatrixBandPartKernel>));
  PBMEM_RETURN_IF_ERROR(registry.add("MatrixDiag", make_versioned<MatrixDiagKernel, true>));
  PBMEM_RETURN_IF_ERROR(registry.add("MatrixDiagV2", make_versioned<MatrixDiagKernel, false>));
  PBMEM_RETURN_IF_ERROR(registry.add("MatrixDiagV3", make_versioned<MatrixDiagKernel, false>));
  PBMEM_RETURN_IF_ERROR(registry.add("MatrixDiagPart", make_versioned<MatrixDiagPartKernel, true>));
  PBMEM_RETURN_IF_ERROR(
      registry.add("MatrixDiagPartV2", make_versioned<MatrixDiagPartKernel, false>));
  return registry.add("MatrixDiagPartV3", make_versioned<MatrixDiagPartKernel, false>);
}

}  // namespace array_detail
}  // namespace pbmem
