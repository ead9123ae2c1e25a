// Branch-free float exp, expm1, sigmoid, tanh, erf and erfc that GCC vectorises inside plain
// loops (libm calls keep a loop scalar), plus the helpers that make loops vectorise: select()
// and PBMEM_SIMD_CLONES. Max relative error over all floats (checked exhaustively against
// double libm): exp 8e-8, sigmoid 1.5e-7, expm1 6e-7, tanh 4e-7, erf 2e-7, erfc 1e-6; NaN
// and +-inf behave like libm. TF's own float versions (Eigen) are approximations of the same
// quality. Double paths use libm.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

// Compiles a hot-loop function twice, for AVX2/FMA (x86-64-v3) and for the portable baseline,
// and picks one at load time (GCC ifunc): the build stays portable (no -march=native) while
// machines with AVX2 run 8-wide loops.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PBMEM_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PBMEM_SIMD_CLONES
#endif

// Helpers called from a PBMEM_SIMD_CLONES function must be inlined into it to get its ISA.
#if defined(__GNUC__)
#define PBMEM_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define PBMEM_ALWAYS_INLINE inline
#endif

namespace pbmem {
namespace fast_math {

PBMEM_ALWAYS_INLINE uint32_t float_bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  return bits;
}
PBMEM_ALWAYS_INLINE float bits_float(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof(x));
  return x;
}

// cond ? a : b as a bitwise blend. GCC keeps `?:` on computed floats as a branch (with the
// default -ftrapping-math it may not evaluate both arms), which stops vectorisation; a blend
// of values already computed does not. Integers and bool use `?:` (no traps to preserve).
template <typename T>
PBMEM_ALWAYS_INLINE T select(bool cond, T a, T b) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    using Bits = std::conditional_t<std::is_same_v<T, float>, uint32_t, uint64_t>;
    const Bits mask = Bits{0} - static_cast<Bits>(cond);
    Bits abits, bbits;
    std::memcpy(&abits, &a, sizeof(a));
    std::memcpy(&bbits, &b, sizeof(b));
    const Bits blended = (abits & mask) | (bbits & ~mask);
    T result;
    std::memcpy(&result, &blended, sizeof(result));
    return result;
  } else {
    return cond ? a : b;
  }
}

inline constexpr float kLog2e = 1.44269504088896341f;
// ln(2) split so that n * kLn2Hi is exact for the |n| <= 150 we use.
inline constexpr float kLn2Hi = 0.693359375f;
inline constexpr float kLn2Lo = -2.12194440e-4f;
// Adding 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer held in the low mantissa.
inline constexpr float kRoundMagic = 12582912.0f;
// exp(x) overflows float above ln(FLT_MAX) and is 0 below ln(smallest subnormal / 2).
inline constexpr float kExpOverflow = 88.7228394f;
inline constexpr float kExpUnderflow = -103.972084f;
inline constexpr int32_t kFloatExponentBias = 127;
inline constexpr int kFloatMantissaBits = 23;
// Minimax coefficients of (exp(r) - 1 - r) / r^2 on |r| <= ln(2)/2 (Cephes expf).
inline constexpr float kExpPoly[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                     4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

PBMEM_ALWAYS_INLINE float exp(float x) {
  float xc = select(x < kExpUnderflow, kExpUnderflow, x);
  xc = select(xc > kExpOverflow, kExpOverflow, xc);
  xc = select(xc != xc, 0.0f, xc);  // NaN is restored at the end; keep the integer math defined
  const float shifted = xc * kLog2e + kRoundMagic;
  const float n = shifted - kRoundMagic;  // round(x / ln 2)
  const int32_t exponent =
      static_cast<int32_t>(float_bits(shifted) - float_bits(kRoundMagic));  // in [-150, 128]
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  float p = kExpPoly[0];
  p = p * r + kExpPoly[1];
  p = p * r + kExpPoly[2];
  p = p * r + kExpPoly[3];
  p = p * r + kExpPoly[4];
  p = p * r + kExpPoly[5];
  p = p * r * r + r + 1.0f;
  // 2^exponent as two normal factors, so exponents beyond the normal range work too.
  const int32_t half = exponent / 2;
  const float scale1 =
      bits_float(static_cast<uint32_t>(half + kFloatExponentBias) << kFloatMantissaBits);
  const float scale2 =
      bits_float(static_cast<uint32_t>(exponent - half + kFloatExponentBias) << kFloatMantissaBits);
  float result = p * scale1 * scale2;
  result = select(x > kExpOverflow, std::numeric_limits<float>::infinity(), result);
  result = select(x < kExpUnderflow, 0.0f, result);
  return select(x != x, x, result);
}

// c[0] + c[1] x + ... + c[N-1] x^(N-1), by Horner's scheme.
template <size_t N>
PBMEM_ALWAYS_INLINE float horner(const float (&coefficients)[N], float x) {
  float p = coefficients[N - 1];
  for (size_t i = N - 1; i-- > 0;) p = p * x + coefficients[i];
  return p;
}

// Below this |x|, expm1 uses its Taylor series (exp(x) - 1 would cancel).
inline constexpr float kExpm1SeriesLimit = 0.1f;
// 1, 1/2!, ..., 1/6!: expm1(x) / x = sum of x^k / (k+1)!.
inline constexpr float kExpm1Series[] = {1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120,
                                         1.0f / 720};

PBMEM_ALWAYS_INLINE float expm1(float x) {
  // x + x^2/2! + ... + x^6/6!, in Horner form.
  const float series = x * horner(kExpm1Series, x);
  return select(std::fabs(x) < kExpm1SeriesLimit, series, fast_math::exp(x) - 1.0f);
}

PBMEM_ALWAYS_INLINE float sigmoid(float x) { return 1.0f / (1.0f + fast_math::exp(-x)); }

// Below this |x|, tanh uses its Taylor series (the exp form would cancel).
inline constexpr float kTanhSeriesLimit = 0.0625f;
// Taylor coefficients of tanh: x - x^3/3 + 2x^5/15 - 17x^7/315.
inline constexpr float kTanhSeries[] = {-1.0f / 3.0f, 2.0f / 15.0f, -17.0f / 315.0f};

PBMEM_ALWAYS_INLINE float tanh(float x) {
  const float ax = std::fabs(x);
  const float e = fast_math::exp(-2.0f * ax);  // in (0, 1]: no overflow
  const float big = (1.0f - e) / (1.0f + e);
  const float x2 = x * x;
  const float series = x + x * x2 * (kTanhSeries[0] + x2 * (kTanhSeries[1] + x2 * kTanhSeries[2]));
  const float signed_big = select(x < 0.0f, -big, big);
  return select(ax < kTanhSeriesLimit, series, select(x != x, x, signed_big));
}

// ---- erf / erfc ----
// |x| < kErfSplit: erf(x) = x * P(x^2). Otherwise erfc(|x|) = exp(-x^2) * Q(1/|x|) / |x|.
// Both are least-squares fits in relative error on Chebyshev nodes (max fit error 1.4e-9 and
// 4.7e-8), made for pbmem (tests/py/test_ops_activation.py sweeps them against TF).
inline constexpr float kErfSplit = 1.0f;
inline constexpr float kErfSmallPoly[] = {1.1283791665e+00f, -3.7612628843e-01f, 1.1283612428e-01f,
                                          -2.6854808537e-02f, 5.1900535778e-03f, -8.0243541283e-04f,
                                          7.8982102058e-05f};
inline constexpr float kErfcTailPoly[] = {5.6420894647e-01f, -6.8587079053e-04f, -2.7192128314e-01f,
                                          -8.2852140405e-02f, 8.2775428468e-01f, -1.1837593732e+00f,
                                          7.1228553672e-01f, 5.8022906418e-02f, -3.7149027400e-01f,
                                          2.2166970992e-01f, -4.5648878082e-02f};
// erfc(x) is below the smallest float subnormal beyond this.
inline constexpr float kErfcUnderflow = 10.1f;
// Keeps the top 12 significant bits of a float, so that its square is exact.
inline constexpr uint32_t kHalfMantissaMask = 0xFFFFF000u;

PBMEM_ALWAYS_INLINE float erf_small(float x) { return x * horner(kErfSmallPoly, x * x); }

// erfc(a) for a >= kErfSplit (NaN stays NaN).
PBMEM_ALWAYS_INLINE float erfc_tail(float a) {
  a = select(a > kErfcUnderflow, kErfcUnderflow, a);
  const float u = 1.0f / a;
  // exp(-a^2) with a = hi + lo: hi^2 is exact and the rest small, so the rounding of a^2
  // (amplified by a^2 in the exponent) does not cost accuracy.
  const float hi = bits_float(float_bits(a) & kHalfMantissaMask);
  const float lo = a - hi;
  const float gaussian = fast_math::exp(-hi * hi) * fast_math::exp(-lo * (a + hi));
  return gaussian * horner(kErfcTailPoly, u) * u;
}

PBMEM_ALWAYS_INLINE float erf(float x) {
  const float ax = std::fabs(x);
  const float big = 1.0f - erfc_tail(ax);
  return select(ax < kErfSplit, erf_small(x), select(x < 0.0f, -big, big));
}

PBMEM_ALWAYS_INLINE float erfc(float x) {
  const float ax = std::fabs(x);
  const float tail = erfc_tail(ax);
  return select(ax < kErfSplit, 1.0f - erf_small(x), select(x < 0.0f, 2.0f - tail, tail));
}

}  // namespace fast_math
}  // namespace pbmem
