// One-glance summaries of output tensors for `pbmem run`: enough to see at once whether a model
// produced sane numbers (range, mean, NaNs) and, for classifiers, which classes won.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <vector>

#include "cli/commands.h"

namespace pbmem::cli {

namespace {

constexpr int kTopK = 5;              // classes shown per row
constexpr int64_t kMaxRowsShown = 4;  // rows of a batch whose top-k is printed

float half_to_float(uint16_t h) {
  constexpr int kHalfMantissaBits = 10;
  constexpr int kExponentBias = 15;
  uint32_t sign = (h >> 15) & 1u;
  int exponent = (h >> kHalfMantissaBits) & 0x1F;
  uint32_t mantissa = h & 0x3FFu;
  float value;
  if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa), 1 - kExponentBias - kHalfMantissaBits);
  } else if (exponent == 0x1F) {
    value = mantissa ? NAN : INFINITY;
  } else {
    value = std::ldexp(static_cast<float>(mantissa | 0x400u),
                       exponent - kExponentBias - kHalfMantissaBits);
  }
  return sign ? -value : value;
}

float bfloat16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// Element i of a numeric tensor as a double; false for dtypes without numbers.
bool value_at(const Tensor& t, int64_t i, double* out) {
  switch (t.dtype()) {
    case DType::kFloat:
      *out = t.data<float>()[i];
      return true;
    case DType::kDouble:
      *out = t.data<double>()[i];
      return true;
    case DType::kInt32:
      *out = t.data<int32_t>()[i];
      return true;
    case DType::kInt64:
      *out = static_cast<double>(t.data<int64_t>()[i]);
      return true;
    case DType::kUInt8:
      *out = t.data<uint8_t>()[i];
      return true;
    case DType::kInt8:
      *out = t.data<int8_t>()[i];
      return true;
    case DType::kInt16:
      *out = t.data<int16_t>()[i];
      return true;
    case DType::kUInt16:
      *out = t.data<uint16_t>()[i];
      return true;
    case DType::kUInt32:
      *out = t.data<uint32_t>()[i];
      return true;
    case DType::kUInt64:
      *out = static_cast<double>(t.data<uint64_t>()[i]);
      return true;
    case DType::kBool:
      *out = t.data<uint8_t>()[i] != 0;
      return true;
    case DType::kHalf:
      *out = half_to_float(t.data<uint16_t>()[i]);
      return true;
    case DType::kBFloat16:
      *out = bfloat16_to_float(t.data<uint16_t>()[i]);
      return true;
    default:
      return false;
  }
}

bool is_floating(DType dtype) {
  return dtype == DType::kFloat || dtype == DType::kDouble || dtype == DType::kHalf ||
         dtype == DType::kBFloat16;
}

void print_top_k(const Tensor& t) {
  int64_t rows = t.shape().dim(0);
  int64_t cols = t.shape().dim(1);
  std::vector<double> row(static_cast<size_t>(cols));
  std::vector<int64_t> order(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows && r < kMaxRowsShown; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      double v = 0;
      value_at(t, r * cols + c, &v);
      row[static_cast<size_t>(c)] = std::isnan(v) ? -INFINITY : v;
    }
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + kTopK, order.end(), [&](int64_t a, int64_t b) {
      double va = row[static_cast<size_t>(a)], vb = row[static_cast<size_t>(b)];
      return va != vb ? va > vb : a < b;
    });
    std::printf("  top-%d%s:", kTopK, rows > 1 ? (" row " + std::to_string(r)).c_str() : "");
    for (int k = 0; k < kTopK; ++k) {
      int64_t c = order[static_cast<size_t>(k)];
      std::printf(" %lld (%.6g)", static_cast<long long>(c), row[static_cast<size_t>(c)]);
    }
    std::printf("\n");
  }
  if (rows > kMaxRowsShown) {
    std::printf("  ... %lld more rows\n", static_cast<long long>(rows - kMaxRowsShown));
  }
}

}  // namespace

void print_tensor_summary(const std::string& name, const Tensor& t) {
  std::printf("%s: %s %s", name.c_str(), dtype_name(t.dtype()), t.shape().str().c_str());
  int64_t n = t.num_elements();
  double v = 0;
  if (n == 0 || !value_at(t, 0, &v)) {
    std::printf(n == 0 ? "  (empty)\n" : "\n");
    return;
  }
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  int64_t nans = 0;
  for (int64_t i = 0; i < n; ++i) {
    value_at(t, i, &v);
    if (std::isnan(v)) {
      ++nans;
      continue;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  if (nans == n) {
    std::printf("  all %lld values are NaN\n", static_cast<long long>(n));
    return;
  }
  std::printf("  min=%.6g max=%.6g mean=%.6g", lo, hi, sum / static_cast<double>(n - nans));
  if (nans > 0) std::printf(" nan=%lld", static_cast<long long>(nans));
  std::printf("\n");
  if (is_floating(t.dtype()) && t.shape().rank() == 2 && t.shape().dim(1) >= kTopK) print_top_k(t);
}

}  // namespace pbmem::cli
