// Cast between float, double, half, bfloat16, bool and the 8/16/32/64-bit integers, with the
// results TF gives on x86-64 (Truncate=false):
//   float -> int     truncates toward zero; NaN and out-of-range values give the integer
//                    minimum (cvttss2si), and 8/16-bit targets take the low bits of that int32
//                    (TF gives 44 for uint8(300.5) and 0 for uint8(NaN));
//   x -> bool        x != 0 (NaN is true);
//   int -> int       wraps (two's complement);
//   -> half/bfloat16 round to nearest even, overflowing to infinity.
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

constexpr int64_t kCastChunk = 64 * 1024;  // elements per thread chunk

struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

// Calls fn(T{}) for the C++ type that stores dtype; false when Cast does not support it.
template <typename Fn>
bool with_cast_type(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat: fn(float{}); return true;
    case DType::kDouble: fn(double{}); return true;
    case DType::kHalf: fn(Half{}); return true;
    case DType::kBFloat16: fn(BFloat16{}); return true;
    case DType::kBool: fn(bool{}); return true;
    case DType::kInt8: fn(int8_t{}); return true;
    case DType::kInt16: fn(int16_t{}); return true;
    case DType::kInt32: fn(int32_t{}); return true;
    case DType::kInt64: fn(int64_t{}); return true;
    case DType::kUInt8: fn(uint8_t{}); return true;
    case DType::kUInt16: fn(uint16_t{}); return true;
    case DType::kUInt32: fn(uint32_t{}); return true;
    case DType::kUInt64: fn(uint64_t{}); return true;
    default: return false;
  }
}

bool is_cast_type(DType dtype) {
  return with_cast_type(dtype, [](auto) {});
}

// x86-64 truncating conversions: values that do not fit (and NaN) give the "integer indefinite"
// value, the minimum of the target width.
template <typename F>
int32_t to_int32_x86(F v) {
  constexpr F kLimit = static_cast<F>(2147483648.0);  // 2^31
  if (!(v >= -kLimit && v < kLimit)) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(v);
}
template <typename F>
int64_t to_int64_x86(F v) {
  constexpr F kLimit = static_cast<F>(9223372036854775808.0);  // 2^63
  if (!(v >= -kLimit && v < kLimit)) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}
template <typename F>
uint64_t to_uint64_x86(F v) {
  constexpr F kHalfRange = static_cast<F>(9223372036854775808.0);  // 2^63
  if (v >= kHalfRange && v < kHalfRange * 2) {
    return static_cast<uint64_t>(to_int64_x86(v - kHalfRange)) ^ (uint64_t{1} << 63);
  }
  return static_cast<uint64_t>(to_int64_x86(v));
}

template <typename Dst, typename F>
Dst real_to_int(F v) {
  if constexpr (std::is_same_v<Dst, int64_t>) {
    return to_int64_x86(v);
  } else if constexpr (std::is_same_v<Dst, uint64_t>) {
    return to_uint64_x86(v);
  } else if constexpr (std::is_same_v<Dst, uint32_t>) {
    return static_cast<uint32_t>(to_int64_x86(v));
  } else {
    return static_cast<Dst>(to_int32_x86(v));  // int32 and the 8/16-bit types keep the low bits
  }
}

template <typename T>
constexpr bool kIsReduced = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <typename T>
float reduced_to_float(T v) {
  if constexpr (std::is_same_v<T, Half>) {
    return half_to_float(v.bits);
  } else {
    return bfloat16_to_float(v.bits);
  }
}

template <typename Dst>
Dst float_to_reduced(float v, bool truncate) {
  if constexpr (std::is_same_v<Dst, Half>) {
    return Dst{float_to_half(v)};
  } else {
    if (truncate && !std::isnan(v)) {
      uint32_t bits;
      std::memcpy(&bits, &v, sizeof(bits));
      return Dst{static_cast<uint16_t>(bits >> 16)};
    }
    return Dst{float_to_bfloat16(v)};
  }
}

template <typename Dst, typename Src>
Dst convert(Src v, bool truncate) {
  if constexpr (kIsReduced<Src>) {
    return convert<Dst, float>(reduced_to_float(v), truncate);
  } else if constexpr (std::is_same_v<Dst, bool>) {
    return v != Src(0);
  } else if constexpr (kIsReduced<Dst>) {
    return float_to_reduced<Dst>(static_cast<float>(v), truncate);
  } else if constexpr (std::is_same_v<Src, bool>) {
    return static_cast<Dst>(v ? 1 : 0);
  } else if constexpr (std::is_floating_point_v<Src> && std::is_integral_v<Dst>) {
    return real_to_int<Dst>(v);
  } else {
    return static_cast<Dst>(v);  // int<->int wraps; to/from float and double as C++ does
  }
}

template <typename Src, typename Dst>
void cast_range(const void* in, void* out, int64_t begin, int64_t end, bool truncate) {
  const Src* src = static_cast<const Src*>(in);
  Dst* dst = static_cast<Dst*>(out);
  for (int64_t i = begin; i < end; ++i) dst[i] = convert<Dst, Src>(src[i], truncate);
}

class CastKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    const Node& node = ctx.node();
    PBMEM_ASSIGN_OR_RETURN(DType src, node.attr_type_or("SrcT", ctx.input_dtype(0)));
    PBMEM_ASSIGN_OR_RETURN(DType dst, node.attr_type("DstT"));
    PBMEM_ASSIGN_OR_RETURN(truncate_, node.attr_bool_or("Truncate", false));
    if (src != ctx.input_dtype(0)) {
      return ctx.error("attribute 'SrcT' is ", dtype_name(src), " but input 0 is ", dtype_name(ctx.input_dtype(0)));
    }
    if (!is_cast_type(src) || !is_cast_type(dst)) {
      return ctx.unsupported("cast from ", dtype_name(src), " to ", dtype_name(dst), " is not supported");
    }
    if (truncate_ && dst == DType::kHalf && src != DType::kHalf) {
      return ctx.unsupported("attribute 'Truncate' = true is not supported for casts to half");
    }
    ctx.set_output(0, dst, ctx.input_shape(0));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    const int64_t n = in.num_elements();
    if (in.dtype() == out.dtype()) {
      if (n > 0 && !out.shares_buffer_with(in)) std::memcpy(out.raw_data(), in.raw_data(), in.num_bytes());
      return ok_status();
    }
    const bool truncate = truncate_;
    bool supported = with_cast_type(in.dtype(), [&](auto src_zero) {
      with_cast_type(out.dtype(), [&](auto dst_zero) {
        using Src = decltype(src_zero);
        using Dst = decltype(dst_zero);
        parallel_for(n, kCastChunk, [&](int64_t begin, int64_t end) {
          cast_range<Src, Dst>(in.raw_data(), out.raw_data(), begin, end, truncate);
        });
      });
    });
    if (!supported) return internal_error(ctx.node().describe(), ": unexpected dtype in run()");
    return ok_status();
  }

 private:
  bool truncate_ = false;
};

}  // namespace

Status register_array_cast_ops(OpRegistry& registry) {
  return registry.add_all({
      {"Cast", op_record<CastKernel>()},
  });
}

}  // namespace array_detail
}  // namespace pbmem
