// The MatrixDiag family, on the innermost two dims as batches of matrices, moving elements by
// size only. With k = [lower, upper] (a scalar k: lower = upper = k) diagonal d = col - row of a
// rows x cols matrix has diag_len(d) = min(cols - max(d, 0), rows + min(d, 0)) elements and is
// stored as row (upper - d) of a [num_diags, max_diag_len] block, shifted right by
// max_diag_len - diag_len(d) when `align` aligns it right (first word: d >= 0, second: d <= 0).
//   MatrixDiag / V2 / V3:         the block -> the matrix, padding_value elsewhere (0 for v1).
//   MatrixDiagPart / V2 / V3:     the matrix -> the block, padding_value where no element is.
// v1 is the main diagonal only; a single diagonal drops the num_diags dim.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

struct DiagBand {
  int64_t lower = 0;
  int64_t upper = 0;
  bool left_super = false;  // align's first word is LEFT: diagonals d >= 0 are left-aligned
  bool left_sub = true;     // align's second word is LEFT: diagonals d <= 0 are left-aligned
  int64_t count() const { return upper - lower + 1; }
};

int64_t diag_len(int64_t d, int64_t rows, int64_t cols) {
  return std::min(cols - std::max<int64_t>(d, 0), rows + std::min<int64_t>(d, 0));
}

// Where diagonal d's elements start in its row of the block.
int64_t diag_offset(const DiagBand& band, int64_t d, int64_t max_len, int64_t rows, int64_t cols) {
  const bool left = (d >= 0 && band.left_super) || (d <= 0 && band.left_sub);
  return left ? 0 : max_len - diag_len(d, rows, cols);
}

// k (input 1; nullptr for v1: the main diagonal) and the align attribute of V3 (V2 has none: it
// packs every diagonal left-aligned).
Status read_band(const InferContext& ctx, const Tensor* k, int version, DiagBand* band) {
  if (k != nullptr) {
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> values, read_int_input(ctx.node(), *k, 1, "k"));
    if (values.empty() || values.size() > 2 || k->shape().rank() > 1) {
      return ctx.error("input 1 'k' must be a scalar or a vector of 1 or 2 entries, got shape ",
                       k->shape().str());
    }
    for (int64_t v : values) {
      if (v < INT32_MIN || v > INT32_MAX) {  // TF's k is int32; this also bounds count()
        return ctx.error("input 1 'k' = ", v, " is outside the int32 range");
      }
    }
    band->lower = values.front();
    band->upper = values.back();
    if (band->lower > band->upper) {
      return ctx.error("input 1 'k' = ", Shape(values).str(),
                       ": the lower diagonal index must not exceed the upper one");
    }
  }
  PBMEM_ASSIGN_OR_RETURN(
      std::string align,
      ctx.node().attr_string_or("align", version == 2 ? "LEFT_LEFT" : "RIGHT_LEFT"));
  if (align != "RIGHT_LEFT" && align != "LEFT_RIGHT" && align != "LEFT_LEFT" &&
      align != "RIGHT_RIGHT") {
    return ctx.error(
        "attribute 'align' must be LEFT_RIGHT, RIGHT_LEFT, LEFT_LEFT or RIGHT_RIGHT, got '", align,
        "'");
  }
  band->left_super = align.rfind("LEFT_", 0) == 0;
  band->left_sub = align.size() >= 4 && align.compare(align.size() - 4, 4, "LEFT") == 0;
  return ok_status();
}

// The element-size dispatch both directions share: fn(T{}) with T an unsigned integer of the
// dtype's size, and the padding value read as T.
template <typename Fn>
Status with_padding(const RunContext& ctx, bool v1, int padding_input, Fn&& fn) {
  const Tensor& data = ctx.input(0);
  bool known = with_element_type(dtype_size(data.dtype()), [&](auto tag) {
    using T = decltype(tag);
    T padding{};
    if (!v1) std::memcpy(&padding, ctx.input(padding_input).raw_data(), sizeof(T));
    fn(padding);
  });
  if (!known) return internal_error(ctx.node().describe(), ": unexpected element size");
  return ok_status();
}

// Reads the V2/V3 ops' k (and for MatrixDiag num_rows/num_cols) and checks padding_value.
// Returns false in *known when a value needed for the shape is not constant yet.
Status read_versioned_inputs(const InferContext& ctx, int version, int padding_input,
                             DiagBand* band, std::vector<int64_t>* sizes, bool* known) {
  const DType dtype = ctx.input_dtype(0);
  if (ctx.input_dtype(padding_input) != dtype) {
    return ctx.error("input ", padding_input, " 'padding_value' must have the dtype of input 0 (",
                     dtype_name(dtype), "), got ", dtype_name(ctx.input_dtype(padding_input)));
  }
  PBMEM_RETURN_IF_ERROR(expect_rank(ctx, padding_input, "padding_value", 0));
  const char* names[] = {"k", "num_rows", "num_cols"};
  const int count = padding_input - 1;  // k, or k, num_rows, num_cols
  const Tensor* values[3] = {};
  for (int i = 0; i < count; ++i) {
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, i + 1, names[i]));
    PBMEM_ASSIGN_OR_RETURN(values[i], shape_input(ctx, i + 1, names[i]));
  }
  *known = std::all_of(values, values + count, [](const Tensor* t) { return t != nullptr; });
  if (values[0] != nullptr) PBMEM_RETURN_IF_ERROR(read_band(ctx, values[0], version, band));
  for (int i = 1; *known && i < count; ++i) {
    PBMEM_ASSIGN_OR_RETURN(int64_t size, read_int_scalar(ctx.node(), *values[i], i + 1, names[i]));
    sizes->push_back(size);
  }
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// MatrixDiag (v1: diagonal) and MatrixDiagV2/V3 (diagonal, k, num_rows, num_cols,
// padding_value).
class MatrixDiagKernel : public Kernel {
 public:
  explicit MatrixDiagKernel(int version) : version_(version), v1_(version == 1) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(v1_ ? 1 : 5, v1_ ? 1 : 5));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0 'diagonal'"));
    std::vector<int64_t> sizes = {-1, -1};  // num_rows, num_cols
    band_ = DiagBand();
    bool known = true;
    if (!v1_) {
      sizes.clear();
      PBMEM_RETURN_IF_ERROR(read_versioned_inputs(ctx, version_, 4, &band_, &sizes, &known));
    }
    const Shape& diag = ctx.input_shape(0);
    const int block_rank = band_.count() == 1 ? 1 : 2;
    if (diag.known_rank() && diag.rank() < block_rank) {
      return ctx.error("input 0 'diagonal' must have rank at least ", block_rank, " for k = [",
                       band_.lower, ", ", band_.upper, "], got shape ", diag.str());
    }
    if (!known || !diag.known_rank()) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    std::vector<int64_t> dims(diag.dims().begin(), diag.dims().end() - block_rank);
    const int64_t max_len = diag.dims().back();
    if (block_rank == 2 && diag.dim(diag.rank() - 2) != kUnknownDim &&
        diag.dim(diag.rank() - 2) != band_.count()) {
      return ctx.error("input 0 'diagonal' of shape ", diag.str(), " must hold ", band_.count(),
                       " diagonals for k = [", band_.lower, ", ", band_.upper, "]");
    }
    if (max_len == kUnknownDim) {
      dims.insert(dims.end(), {kUnknownDim, kUnknownDim});
    } else {
      PBMEM_RETURN_IF_ERROR(matrix_size(ctx, max_len, &sizes[0], &sizes[1]));
      dims.insert(dims.end(), {sizes[0], sizes[1]});
    }
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
    const Shape& s = ctx.output(0).shape();
    const int64_t rows = s.dim(s.rank() - 2), cols = s.dim(s.rank() - 1);
    const int64_t max_len = diag.shape().dim(diag.shape().rank() - 1);
    const int64_t matrices = rows * cols == 0 ? 0 : ctx.output(0).num_elements() / (rows * cols);
    const int64_t block = band_.count() * max_len;
    return with_padding(ctx, v1_, 4, [&](auto padding) {
      using T = decltype(padding);
      const T* in = static_cast<const T*>(diag.raw_data());
      T* out = static_cast<T*>(ctx.output(0).raw_data());
      parallel_for(matrices * rows, 64, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t b = r / rows, i = r % rows;
          for (int64_t j = 0; j < cols; ++j) {
            const int64_t d = j - i;
            T value = padding;
            if (d >= band_.lower && d <= band_.upper) {
              const int64_t n =
                  j - std::max<int64_t>(d, 0) + diag_offset(band_, d, max_len, rows, cols);
              value = in[b * block + (band_.upper - d) * max_len + n];
            }
            out[r * cols + j] = value;
          }
        }
      });
    });
  }

 private:
  // TF's rule: -1 means "as small as fits" (square when both are -1); a given size must be at
  // least the smallest that fits, and one of the two must be exactly it.
  Status matrix_size(const InferContext& ctx, int64_t max_len, int64_t* rows, int64_t* cols) const {
    const int64_t min_rows = max_len - std::min<int64_t>(band_.upper, 0);
    const int64_t min_cols = max_len + std::max<int64_t>(band_.lower, 0);
    if ((*rows != -1 && *rows < min_rows) || (*cols != -1 && *cols < min_cols)) {
      return ctx.error("num_rows = ", *rows, " / num_cols = ", *cols, " are too small for ",
                       "diagonals of length ", max_len, " at k = [", band_.lower, ", ", band_.upper,
                       "] (need at least ", min_rows, " x ", min_cols, ")");
    }
    if (*rows == -1 && *cols == -1) {
      *rows = *cols = std::max(min_rows, min_cols);
    } else if (*rows == -1) {
      *rows = min_rows;
    } else if (*cols == -1) {
      *cols = min_cols;
    }
    if (*rows != min_rows && *cols != min_cols) {
      return ctx.error("num_rows = ", *rows, " and num_cols = ", *cols, " do not fit diagonals of ",
                       "length ", max_len, " at k = [", band_.lower, ", ", band_.upper,
                       "]: one must be exactly ", min_rows, " rows or ", min_cols, " columns");
    }
    return ok_status();
  }

  int version_;
  bool v1_;
  DiagBand band_;
};

// ---------------------------------------------------------------------------------------------
// MatrixDiagPart (v1: input) and MatrixDiagPartV2/V3 (input, k, padding_value).
class MatrixDiagPartKernel : public Kernel {
 public:
  explicit MatrixDiagPartKernel(int version) : version_(version), v1_(version == 1) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(v1_ ? 1 : 3, v1_ ? 1 : 3));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    band_ = DiagBand();
    bool known = true;
    if (!v1_) {
      std::vector<int64_t> unused;
      PBMEM_RETURN_IF_ERROR(read_versioned_inputs(ctx, version_, 2, &band_, &unused, &known));
    }
    const Shape& x = ctx.input_shape(0);
    if (x.known_rank() && x.rank() < 2) {
      return ctx.error("input 0 must be at least 2-D, got shape ", x.str());
    }
    if (!x.known_rank() || !known) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    const int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
    std::vector<int64_t> dims(x.dims().begin(), x.dims().end() - 2);
    if (band_.count() > 1) dims.push_back(band_.count());
    if (rows == kUnknownDim || cols == kUnknownDim) {
      dims.push_back(kUnknownDim);
    } else {
      PBMEM_RETURN_IF_ERROR(check_in_bounds(ctx, rows, cols));
      dims.push_back(std::min(rows + std::min<int64_t>(band_.upper, 0),
                              cols - std::max<int64_t>(band_.lower, 0)));
    }
    ctx.set_output(0, dtype, Shape(std::move(dims)));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Shape& s = ctx.input(0).shape();
    const int64_t rows = s.dim(s.rank() - 2), cols = s.dim(s.rank() - 1);
    const Shape& o = ctx.output(0).shape();
    const int64_t max_len = o.dim(o.rank() - 1);
    const int64_t block_rows = ctx.output(0).num_elements() / std::max<int64_t>(1, max_len);
    return with_padding(ctx, v1_, 2, [&](auto padding) {
      using T = decltype(padding);
      const T* in = static_cast<const T*>(ctx.input(0).raw_data());
      T* out = static_cast<T*>(ctx.output(0).raw_data());
      parallel_for(block_rows, 64, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t b = r / band_.count();
          const int64_t d = band_.upper - r % band_.count();
          const int64_t offset = diag_offset(band_, d, max_len, rows, cols);
          const int64_t len = diag_len(d, rows, cols);
          const T* matrix = in + b * rows * cols;
          for (int64_t m = 0; m < max_len; ++m) {
            const int64_t n = m - offset;  // position along the diagonal
            out[r * max_len + m] =
                n >= 0 && n < len
                    ? matrix[(n + std::max<int64_t>(-d, 0)) * cols + n + std::max<int64_t>(d, 0)]
                    : padding;
          }
        }
      });
    });
  }

 private:
  // TF: each diagonal index lies strictly inside (-rows, cols), except that 0 always may.
  Status check_in_bounds(const InferContext& ctx, int64_t rows, int64_t cols) const {
    for (int64_t k : {band_.lower, band_.upper}) {
      if (k != 0 && (k <= -rows || k >= cols)) {
        return ctx.error("diagonal index ", k, " of input 1 'k' is out of range for a ", rows,
                         " x ", cols, " matrix (it must be in (", -rows, ", ", cols, "))");
      }
    }
    return ok_status();
  }

  int version_;
  bool v1_;
  DiagBand band_;
};

template <typename K, int kVersion>
std::unique_ptr<Kernel> make_versioned() {
  return std::make_unique<K>(kVersion);
}

}  // namespace

Status register_matrix_diag_ops(OpRegistry& registry) {
  return registry.add_all({
      {"MatrixDiag", op_record(make_versioned<MatrixDiagKernel, 1>)},
      {"MatrixDiagV2", op_record(make_versioned<MatrixDiagKernel, 2>)},
      {"MatrixDiagV3", op_record(make_versioned<MatrixDiagKernel, 3>)},
      {"MatrixDiagPart", op_record(make_versioned<MatrixDiagPartKernel, 1>)},
      {"MatrixDiagPartV2", op_record(make_versioned<MatrixDiagPartKernel, 2>)},
      {"MatrixDiagPartV3", op_record(make_versioned<MatrixDiagPartKernel, 3>)},
  });
}

}  // namespace array_detail
}  // namespace pbmem
