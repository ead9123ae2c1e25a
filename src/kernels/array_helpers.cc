#include "kernels/array_helpers.h"

#include <cmath>

namespace pbmem {
namespace array_detail {

namespace {

// Copies smaller than this run on one thread: splitting them costs more than it saves.
constexpr int64_t kParallelCopyBytes = 256 * 1024;
// Square tile for copies whose innermost input stride is not 1 (transposes): keeps both the
// rows read and the rows written in cache.
constexpr int64_t kTransposeTile = 32;

}  // namespace

Status on_node(const Node& node, const Status& status) {
  if (status.ok()) return status;
  return Status(status.code(), node.describe() + ": " + status.message());
}

Result<const Tensor*> shape_input(const InferContext& ctx, int index, const char* name) {
  const Tensor* value = ctx.const_input(index);
  if (value == nullptr && ctx.concrete()) {
    return ctx.error("input ", index, " '", name,
                     "' must be a constant (computable before running), but it depends on a "
                     "graph input");
  }
  return value;
}

Result<std::vector<int64_t>> read_int_input(const Node& node, const Tensor& t, int index,
                                            const char* name) {
  if (t.dtype() != DType::kInt32 && t.dtype() != DType::kInt64) {
    return node.error("input ", index, " '", name, "' must be int32 or int64, got ",
                      dtype_name(t.dtype()));
  }
  auto values = read_int_tensor(t, name);
  if (!values.ok()) return on_node(node, values.status());
  return values;
}

Result<int64_t> read_int_scalar(const Node& node, const Tensor& t, int index, const char* name) {
  if (t.shape().rank() > 1 || t.num_elements() != 1) {
    return node.error("input ", index, " '", name, "' must be a scalar, got shape ",
                      t.shape().str());
  }
  PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> values, read_int_input(node, t, index, name));
  return values[0];
}

int64_t int_element(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt32 ? int64_t{t.data<int32_t>()[i]} : t.data<int64_t>()[i];
}

Status expect_index_dtype(const InferContext& ctx, int index, const char* name) {
  DType dtype = ctx.input_dtype(index);
  if (dtype != DType::kInt32 && dtype != DType::kInt64) {
    return ctx.error("input ", index, " '", name, "' must be int32 or int64, got ",
                     dtype_name(dtype));
  }
  return ok_status();
}

Status expect_rank(const InferContext& ctx, int index, const char* name, int rank) {
  const Shape& shape = ctx.input_shape(index);
  if (shape.known_rank() && shape.rank() != rank) {
    return ctx.error("input ", index, " '", name, "' must have rank ", rank, ", got shape ",
                     shape.str());
  }
  return ok_status();
}

Status check_planned(const RunContext& ctx, const Shape& planned) {
  if (ctx.input(0).shape() != planned) {
    return internal_error(ctx.node().describe(), ": run() with input shape ",
                          ctx.input(0).shape().str(), " but infer() planned for ", planned.str());
  }
  return ok_status();
}

bool is_movable(DType dtype) {
  size_t bytes = dtype_size(dtype);
  return bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8;
}

Status expect_movable(const InferContext& ctx, DType dtype, const char* what) {
  if (!is_movable(dtype)) {
    return ctx.unsupported(what, " has dtype ", dtype_name(dtype),
                           ", which pbmem does not support for this op");
  }
  return ok_status();
}

Result<DType> common_dtype(const InferContext& ctx, int first, int count, const char* what) {
  DType dtype = ctx.input_dtype(first);
  for (int i = first + 1; i < first + count; ++i) {
    if (ctx.input_dtype(i) != dtype) {
      return ctx.error(what, " must all have one dtype: input ", first, " is ",
                       dtype_name(dtype), " but input ", i, " is ",
                       dtype_name(ctx.input_dtype(i)));
    }
  }
  return dtype;
}

std::vector<int64_t> row_major_strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return strides;
}

int64_t dims_product(const std::vector<int64_t>& dims, int begin, int end) {
  int64_t n = 1;
  for (int i = begin; i < end; ++i) n *= dims[static_cast<size_t>(i)];
  return n;
}

Shape unknown_dims(int64_t rank) {
  if (rank < 0) return Shape::unknown_rank();
  return Shape(std::vector<int64_t>(static_cast<size_t>(rank), kUnknownDim));
}

int64_t vector_length(const InferContext& ctx, int index) {
  const Shape& s = ctx.input_shape(index);
  return s.known_rank() && s.rank() == 1 ? s.dim(0) : -1;
}

bool merge_dim(int64_t a, int64_t b, int64_t* out) {
  if (a == kUnknownDim) {
    *out = b;
  } else if (b == kUnknownDim || a == b) {
    *out = a;
  } else {
    return false;
  }
  return true;
}

void fill_elements(void* dst, int64_t n, const void* value, size_t bytes) {
  with_element_type(bytes, [&](auto zero) {
    using T = decltype(zero);
    T v;
    std::memcpy(&v, value, sizeof(T));
    T* out = static_cast<T*>(dst);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  });
}

CopyPlan make_copy_plan(CopyPlan plan) {
  CopyPlan out;
  out.in_base = plan.in_base;
  out.out_base = plan.out_base;
  out.total = 1;
  for (size_t d = 0; d < plan.count.size(); ++d) out.total *= plan.count[d];
  if (out.total == 0) {
    out.count.assign(1, 0);
    out.in_stride.assign(1, 1);
    out.out_stride.assign(1, 1);
    return out;
  }
  for (size_t d = 0; d < plan.count.size(); ++d) {
    if (plan.count[d] == 1) continue;  // contributes nothing beyond the bases
    if (!out.count.empty()) {
      int64_t inner = plan.count[d];
      // The previous dim steps exactly over this one on both sides: one longer dim.
      if (out.in_stride.back() == plan.in_stride[d] * inner &&
          out.out_stride.back() == plan.out_stride[d] * inner) {
        out.count.back() *= inner;
        out.in_stride.back() = plan.in_stride[d];
        out.out_stride.back() = plan.out_stride[d];
        continue;
      }
    }
    out.count.push_back(plan.count[d]);
    out.in_stride.push_back(plan.in_stride[d]);
    out.out_stride.push_back(plan.out_stride[d]);
  }
  if (out.count.empty()) {  // a single element
    out.count.assign(1, 1);
    out.in_stride.assign(1, 1);
    out.out_stride.assign(1, 1);
  }
  return out;
}

namespace {

// Copies rows [row_begin, row_end) of dims d and d+1 (the last two) when dim d reads
// contiguously but the last dim does not (a transpose): square tiles keep the rows read and the
// rows written in cache.
template <typename T>
void copy_tile(const CopyPlan& p, size_t d, int64_t row_begin, int64_t row_end, const T* in, T* out) {
  const int64_t cols = p.count[d + 1];
  const int64_t in_r = p.in_stride[d], in_c = p.in_stride[d + 1];
  const int64_t out_r = p.out_stride[d], out_c = p.out_stride[d + 1];
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kTransposeTile) {
    const int64_t r1 = std::min(row_end, r0 + kTransposeTile);
    for (int64_t c0 = 0; c0 < cols; c0 += kTransposeTile) {
      const int64_t c1 = std::min(cols, c0 + kTransposeTile);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) out[r * out_r + c * out_c] = in[r * in_r + c * in_c];
      }
    }
  }
}

template <typename T>
bool wants_tile(const CopyPlan& p, size_t d) {
  const size_t last = p.count.size() - 1;
  return d + 1 == last && p.in_stride[d] == 1 && p.in_stride[last] != 1 && p.out_stride[last] == 1;
}

// Copies indices [begin, end) of dim d (and everything inside them).
template <typename T>
void copy_dims(const CopyPlan& p, size_t d, int64_t begin, int64_t end, const T* in, T* out) {
  const size_t last = p.count.size() - 1;
  const int64_t si = p.in_stride[d], so = p.out_stride[d];
  if (d == last) {
    if (si == 1 && so == 1) {
      std::memcpy(out + begin, in + begin, static_cast<size_t>(end - begin) * sizeof(T));
    } else {
      for (int64_t i = begin; i < end; ++i) out[i * so] = in[i * si];
    }
  } else if (wants_tile<T>(p, d)) {
    copy_tile(p, d, begin, end, in, out);
  } else {
    for (int64_t i = begin; i < end; ++i) copy_dims(p, d + 1, 0, p.count[d + 1], in + i * si, out + i * so);
  }
}

}  // namespace

void run_copy_plan(const CopyPlan& plan, const void* in, void* out, size_t elem_bytes) {
  if (plan.total == 0) return;
  with_element_type(elem_bytes, [&](auto zero) {
    using T = decltype(zero);
    const T* src = static_cast<const T*>(in) + plan.in_base;
    T* dst = static_cast<T*>(out) + plan.out_base;
    const int64_t bytes = plan.total * static_cast<int64_t>(sizeof(T));
    // Parallel over the outer dim; each chunk copies whole sub-blocks.
    const int64_t outer = plan.count[0];
    const int64_t inner_bytes = std::max<int64_t>(1, bytes / outer);
    const int64_t min_chunk = std::max<int64_t>(1, kParallelCopyBytes / inner_bytes);
    parallel_for(outer, min_chunk, [&](int64_t begin, int64_t end) { copy_dims(plan, 0, begin, end, src, dst); });
  });
}

Status CopyPlanKernel::run(RunContext& ctx) {
  PBMEM_RETURN_IF_ERROR(check_planned(ctx, planned_));
  run_copy_plan(plan_, ctx.input(0).raw_data(), ctx.output(0).raw_data(),
                dtype_size(ctx.input(0).dtype()));
  return ok_status();
}

float half_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  float value;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    value = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -value : value;
  }
  uint32_t out;
  if (exponent == 0x1fu) {
    out = sign | 0x7f800000u | (mantissa << 13);
  } else {
    out = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  }
  std::memcpy(&value, &out, sizeof(value));
  return value;
}

uint16_t float_to_half(float value) {
  uint32_t x;
  std::memcpy(&x, &value, sizeof(x));
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t magnitude = x & 0x7fffffffu;
  constexpr uint32_t kFloatInf = 0x7f800000u;
  constexpr uint32_t kHalfOverflow = 0x477ff000u;  // 65520: rounds to infinity
  constexpr uint32_t kHalfMinNormal = 0x38800000u;  // 2^-14
  if (magnitude >= kFloatInf) {
    uint16_t nan_bits = magnitude > kFloatInf
                            ? static_cast<uint16_t>(0x200u | ((magnitude >> 13) & 0x3ffu))
                            : 0;
    return static_cast<uint16_t>(sign | 0x7c00u | nan_bits);
  }
  if (magnitude >= kHalfOverflow) return static_cast<uint16_t>(sign | 0x7c00u);
  if (magnitude < kHalfMinNormal) {
    float abs_value;
    std::memcpy(&abs_value, &magnitude, sizeof(abs_value));
    // Subnormal halves are multiples of 2^-24; nearbyint rounds to nearest even.
    auto units = static_cast<uint16_t>(std::nearbyint(std::ldexp(abs_value, 24)));
    return static_cast<uint16_t>(sign | units);
  }
  const uint32_t odd = (magnitude >> 13) & 1u;
  // Re-bias the exponent from 127 to 15 and round the 13 dropped bits to nearest even.
  magnitude += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffu + odd;
  return static_cast<uint16_t>(sign | (magnitude >> 13));
}

float bfloat16_to_float(uint16_t bits) {
  uint32_t x = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &x, sizeof(value));
  return value;
}

uint16_t float_to_bfloat16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, sizeof(x));
  if (std::isnan(value)) return static_cast<uint16_t>((x >> 16) | 0x40u);  // stays a quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

bool one_of(DType dtype, uint64_t* bytes) {
  *bytes = 0;
  switch (dtype) {
    case DType::kFloat: {
      float one = 1.0f;
      std::memcpy(bytes, &one, sizeof(one));
      return true;
    }
    case DType::kDouble: {
      double one = 1.0;
      std::memcpy(bytes, &one, sizeof(one));
      return true;
    }
    case DType::kHalf: {
      uint16_t one = float_to_half(1.0f);
      std::memcpy(bytes, &one, sizeof(one));
      return true;
    }
    case DType::kBFloat16: {
      uint16_t one = float_to_bfloat16(1.0f);
      std::memcpy(bytes, &one, sizeof(one));
      return true;
    }
    case DType::kInt32: case DType::kInt64: case DType::kUInt8: case DType::kInt8:
    case DType::kInt16: case DType::kUInt16: case DType::kUInt32: case DType::kUInt64:
    case DType::kBool: {
      // Little-endian: the integer 1 of any width starts with the byte 1.
      uint8_t one = 1;
      std::memcpy(bytes, &one, sizeof(one));
      return true;
    }
    default:
      return false;
  }
}

}  // namespace array_detail
}  // namespace pbmem
