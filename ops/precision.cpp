// precision.cpp — round-to-nearest-even f32 -> f16 / bf16 conversions (bit
// manipulation, no FPU mode changes except the subnormal-half path, which adds a
// magic constant under the default round-to-nearest mode) and tensor conversion.
#include "ops/precision.h"

#include <Eigen/Core>

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif
#include <algorithm>
#include <cmath>
#include <cstring>

namespace ft {
namespace precision {

namespace {
uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
}  // namespace

uint16_t f32_to_f16_bits(float f) {
  const uint32_t f32_inf = 255u << 23;
  const uint32_t f16_limit = (127u + 16u) << 23;                 // 2^16: at or above is inf (or nan)
  const uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;  // 0.5 in f16-subnormal units
  uint32_t u = bits_of(f);
  const uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint16_t o;
  if (u >= f16_limit) {
    o = u > f32_inf ? uint16_t(0x7e00u | ((u >> 13) & 0x3ffu)) : uint16_t(0x7c00u);  // nan (quiet) or inf
  } else if (u < (113u << 23)) {
    // |f| < 2^-14: f16 subnormal or zero. Adding the magic constant makes the FPU
    // round the mantissa to the subnormal grid (nearest even).
    o = uint16_t(bits_of(float_of(u) + float_of(denorm_magic)) - denorm_magic);
  } else {
    const uint32_t mant_odd = (u >> 13) & 1u;
    u += (uint32_t(15 - 127) << 23) + 0xfffu;  // rebias the exponent, add half an ulp - 1
    u += mant_odd;                              // ties go to even
    o = uint16_t(u >> 13);                      // a carry into the exponent yields inf correctly
  }
  return uint16_t(o | (sign >> 16));
}

float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = std::ldexp(float(mant), -24);  // zero or subnormal, exact
    return sign ? -v : v;
  }
  if (exp == 31) return float_of(sign | 0x7f800000u | (mant << 13));
  return float_of(sign | ((exp + 112u) << 23) | (mant << 13));
}

float bf16_bits_to_f32(uint16_t h) { return float_of(uint32_t(h) << 16); }

// Bulk conversions: bf16 through the integer rule above in loops the compiler
// vectorizes (the scalar function's bits exactly, NaN included); f16 through the
// F16C instructions (8 values per instruction) when the build targets them, and
// Eigen's casts for the rest (Eigen converts f16 one value at a time). Both round
// to nearest even like the scalar functions above; precision_test checks that
// they agree on every input it can enumerate. An f16 NaN stays a NaN (its payload
// may differ from the scalar path's).
namespace {

// f16 <-> f32 for the first multiple of 8 values; returns how many were done.
int64_t f16_to_f32_simd(const uint16_t* src, float* dst, int64_t n) {
#if defined(__F16C__) && defined(__AVX__)
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  return i;
#else
  (void)src, (void)dst, (void)n;
  return 0;
#endif
}

int64_t f32_to_f16_simd(const float* src, uint16_t* dst, int64_t n) {
#if defined(__F16C__) && defined(__AVX__)
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  return i;
#else
  (void)src, (void)dst, (void)n;
  return 0;
#endif
}

}  // namespace

// bf16 -> f32 as an integer loop the compiler vectorizes: a bf16 value is the top
// half of an f32's bits.
namespace {
void bf16_to_f32_loop(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = uint32_t(src[i]) << 16;
    std::memcpy(dst + i, &u, sizeof u);
  }
}
}  // namespace

void half_to_f32(const uint16_t* src, DType half, float* dst, int64_t n) {
  if (half == DType::BF16) return bf16_to_f32_loop(src, dst, n);
  if (half == DType::F16) {
    const int64_t done = f16_to_f32_simd(src, dst, n);
    src += done, dst += done, n -= done;
  }
  Eigen::Map<Eigen::ArrayXf> out(dst, n);
  if (half == DType::F16) {
    out = Eigen::Map<const Eigen::Array<Eigen::half, Eigen::Dynamic, 1>>(reinterpret_cast<const Eigen::half*>(src), n)
              .cast<float>();
  } else {
    throw Error(std::string("precision::half_to_f32: not a half dtype: ") + dtype_name(half));
  }
}

void f32_to_half(const float* src, DType half, uint16_t* dst, int64_t n) {
  if (half == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u;
      std::memcpy(&u, src + i, sizeof u);
      dst[i] = uint16_t(bf16_round_bits(u) >> 16);
    }
    return;
  }
  if (half == DType::F16) {
    const int64_t done = f32_to_f16_simd(src, dst, n);
    src += done, dst += done, n -= done;
  }
  Eigen::Map<const Eigen::ArrayXf> in(src, n);
  if (half == DType::F16) {
    Eigen::Map<Eigen::Array<Eigen::half, Eigen::Dynamic, 1>>(reinterpret_cast<Eigen::half*>(dst), n) =
        in.cast<Eigen::half>();
  } else {
    throw Error(std::string("precision::f32_to_half: not a half dtype: ") + dtype_name(half));
  }
}

void round_to_half(const float* src, DType half, float* dst, int64_t n) {
  if (half == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u;
      std::memcpy(&u, src + i, sizeof u);
      u = bf16_round_bits(u);
      std::memcpy(dst + i, &u, sizeof u);
    }
    return;
  }
  constexpr int64_t kBlock = 1024;  // on the stack, so the round trip stays in L1
  uint16_t h[kBlock];
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t len = std::min(kBlock, n - i);
    f32_to_half(src + i, half, h, len);
    half_to_f32(h, half, dst + i, len);
  }
}

namespace {
double load(const Tensor& x, int64_t i) {
  switch (x.dtype()) {
    case DType::F32: return double(x.data<float>()[i]);
    case DType::F64: return x.data<double>()[i];
    case DType::F16: return double(f16_bits_to_f32(static_cast<const uint16_t*>(x.raw())[i]));
    case DType::BF16: return double(bf16_bits_to_f32(static_cast<const uint16_t*>(x.raw())[i]));
    default: throw Error(std::string("precision::convert: unsupported input dtype ") + dtype_name(x.dtype()));
  }
}
}  // namespace

Tensor convert(const Tensor& x, DType to) {
  Tensor y = Tensor::empty(x.shape(), to);
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double v = load(x, i);
    switch (to) {
      case DType::F32: y.data<float>()[i] = float(v); break;
      case DType::F64: y.data<double>()[i] = v; break;
      // From f64 the value is first rounded to f32 (double rounding; exact for f32/f16/bf16 inputs).
      case DType::F16: static_cast<uint16_t*>(y.raw())[i] = f32_to_f16_bits(float(v)); break;
      case DType::BF16: static_cast<uint16_t*>(y.raw())[i] = f32_to_bf16_bits(float(v)); break;
      default: throw Error(std::string("precision::convert: unsupported output dtype ") + dtype_name(to));
    }
  }
  return y;
}

bool all_finite(const Tensor& x) {
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(load(x, i))) return false;
  return true;
}

}  // namespace precision
}  // namespace ft
