// precision.h — reduced-precision support that runs anywhere (pure C++, no GPU):
// f32 <-> f16 / bf16 conversions with round-to-nearest-even (bit-identical to
// __float2half_rn / __float2bfloat16_rn for every non-NaN input; NaN stays NaN),
// tensor conversion and a finiteness check. The dynamic loss scaler of
// mixed-precision training is optim::LossScaler (optim/loss_scale.h).
#pragma once

#include <cstdint>
#include <cstring>

#include "core/tensor.h"

namespace ft {
namespace precision {

// IEEE binary16: overflow rounds to inf, NaN stays (quiet) NaN, subnormals kept.
uint16_t f32_to_f16_bits(float f);
float f16_bits_to_f32(uint16_t h);
// bfloat16 (the top 16 bits of an f32, rounded to nearest even; a NaN stays a
// quiet NaN). bf16_round_bits is the rule on the f32's bits (the result's low
// half zero). Both inline and integer-only, so loops that call them vectorize.
inline uint32_t bf16_round_bits(uint32_t u) {
  const uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  return (u & 0x7fffffffu) > 0x7f800000u ? ((u | 0x00400000u) & 0xffff0000u) : r;
}
inline uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return uint16_t(bf16_round_bits(u) >> 16);
}
float bf16_bits_to_f32(uint16_t h);

// Arrays: n f16/bf16 values (bits) <-> n floats, vectorized; equal to the scalar
// functions above except for f16 NaN payloads. `half` is DType::F16 or DType::BF16.
void half_to_f32(const uint16_t* src, DType half, float* dst, int64_t n);
void f32_to_half(const float* src, DType half, uint16_t* dst, int64_t n);
// n f32 values rounded to the nearest f16/bf16 value and kept as f32, as
// half_to_f32(f32_to_half(src)) gives them; dst may be src.
void round_to_half(const float* src, DType half, float* dst, int64_t n);

// Converts between F32, F64, F16 and BF16 tensors (a new tensor, same shape).
Tensor convert(const Tensor& x, DType to);
// True when no element is inf or nan (F32, F64, F16, BF16).
bool all_finite(const Tensor& x);

}  // namespace precision
}  // namespace ft
