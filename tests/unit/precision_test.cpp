// precision_test.cpp — f32 <-> f16 / bf16 round-to-nearest-even conversions
// (CPU only; runs everywhere). The loss scaler is tested in optim_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "ops/precision.h"

using namespace ft;
using namespace ft::precision;

namespace {
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
}  // namespace

TEST(Half, KnownValues) {
  EXPECT_EQ(f32_to_f16_bits(0.f), 0x0000);
  EXPECT_EQ(f32_to_f16_bits(-0.f), 0x8000);
  EXPECT_EQ(f32_to_f16_bits(1.f), 0x3c00);
  EXPECT_EQ(f32_to_f16_bits(-2.f), 0xc000);
  EXPECT_EQ(f32_to_f16_bits(0.5f), 0x3800);
  EXPECT_EQ(f32_to_f16_bits(65504.f), 0x7bff);  // largest finite
  EXPECT_EQ(f32_to_f16_bits(6.103515625e-05f), 0x0400);  // 2^-14, smallest normal
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f16_bits_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f16_bits_to_f32(0x0001), std::ldexp(1.f, -24));
  EXPECT_EQ(f16_bits_to_f32(0xfbff), -65504.f);
}

TEST(Half, RoundsToNearestEven) {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
  EXPECT_EQ(f32_to_f16_bits(1.f + std::ldexp(1.f, -11)), 0x3c00);
  // 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even): rounds up.
  EXPECT_EQ(f32_to_f16_bits(1.f + 3 * std::ldexp(1.f, -11)), 0x3c02);
  // just above the tie rounds up
  EXPECT_EQ(f32_to_f16_bits(std::nextafter(1.f + std::ldexp(1.f, -11), 2.f)), 0x3c01);
  // subnormal ties: 2^-25 -> 0 (even), 3*2^-25 -> 2*2^-24 (even)
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.f, -25)), 0x0000);
  EXPECT_EQ(f32_to_f16_bits(3 * std::ldexp(1.f, -25)), 0x0002);
}

TEST(Half, OverflowInfAndNan) {
  EXPECT_EQ(f32_to_f16_bits(65519.f), 0x7bff);  // below the midpoint to 2^16
  EXPECT_EQ(f32_to_f16_bits(65520.f), 0x7c00);  // the midpoint rounds to even = inf
  EXPECT_EQ(f32_to_f16_bits(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16_bits(-1e10f), 0xfc00);
  EXPECT_EQ(f32_to_f16_bits(std::numeric_limits<float>::infinity()), 0x7c00);
  const uint16_t n = f32_to_f16_bits(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(n & 0x7c00, 0x7c00);
  EXPECT_NE(n & 0x03ff, 0);
  EXPECT_TRUE(std::isnan(f16_bits_to_f32(n)));
  EXPECT_TRUE(std::isinf(f16_bits_to_f32(0x7c00)));
}

TEST(Half, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_bits_to_f32(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_bits_to_f32(f32_to_f16_bits(f)))) << h;
      continue;
    }
    ASSERT_EQ(f32_to_f16_bits(f), h) << "half bits " << h;
  }
}

// Property: the result is a nearest representable value, and on a tie the even one.
TEST(Half, RandomFloatsRoundToNearest) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mag(-30.f, 17.f);
  for (int i = 0; i < 100000; ++i) {
    const float f = std::ldexp(1.f + float(rng() % 1000000) / 1e6f, int(mag(rng))) * (rng() % 2 ? 1.f : -1.f);
    const uint16_t h = f32_to_f16_bits(f);
    const float r = f16_bits_to_f32(h);
    if (std::isinf(r)) {
      ASSERT_GE(std::fabs(f), 65520.f) << f;
      continue;
    }
    const float up = f16_bits_to_f32(uint16_t(h + 1)), down = h & 0x7fff ? f16_bits_to_f32(uint16_t(h - 1)) : r;
    const double e = std::fabs(double(f) - r);
    ASSERT_LE(e, std::fabs(double(f) - up)) << f;
    ASSERT_LE(e, std::fabs(double(f) - down)) << f;
    if (e == std::fabs(double(f) - up) || e == std::fabs(double(f) - down)) {
      ASSERT_EQ(h & 1, 0) << "tie not even: " << f;
    }
  }
}

TEST(BFloat16, KnownValuesAndTies) {
  EXPECT_EQ(f32_to_bf16_bits(1.f), 0x3f80);
  EXPECT_EQ(f32_to_bf16_bits(-1.f), 0xbf80);
  EXPECT_EQ(f32_to_bf16_bits(1.f + std::ldexp(1.f, -8)), 0x3f80);      // tie -> even
  EXPECT_EQ(f32_to_bf16_bits(1.f + 3 * std::ldexp(1.f, -8)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(f32_to_bf16_bits(std::nextafter(1.f + std::ldexp(1.f, -8), 2.f)), 0x3f81);
  EXPECT_EQ(f32_to_bf16_bits(from_bits(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to inf
  EXPECT_EQ(f32_to_bf16_bits(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_TRUE(std::isnan(bf16_bits_to_f32(f32_to_bf16_bits(std::numeric_limits<float>::quiet_NaN()))));
  // a signalling-looking nan whose payload lives only in the low bits stays nan
  EXPECT_TRUE(std::isnan(bf16_bits_to_f32(f32_to_bf16_bits(from_bits(0x7f800001u)))));
  EXPECT_EQ(bf16_bits_to_f32(0x4049), 3.140625f);
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_bits_to_f32(uint16_t(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16_bits(f), h);
    }
  }
}

TEST(Precision, TensorConvertAndAllFinite) {
  Tensor x = Tensor::from<float>({4}, {1.f, -0.1f, 65504.f, 1e-8f});
  Tensor h = convert(x, DType::F16);
  EXPECT_EQ(h.dtype(), DType::F16);
  EXPECT_EQ(h.shape(), Shape{4});
  Tensor back = convert(h, DType::F32);
  EXPECT_EQ(back.data<float>()[0], 1.f);
  EXPECT_NEAR(back.data<float>()[1], -0.1f, 1e-4);
  EXPECT_EQ(back.data<float>()[2], 65504.f);
  EXPECT_EQ(back.data<float>()[3], 0.f);  // below half the smallest subnormal
  EXPECT_TRUE(all_finite(h));
  Tensor b = convert(x, DType::BF16);
  EXPECT_EQ(convert(b, DType::F32).data<float>()[2], 65536.f);  // bf16 has 8 mantissa bits
  Tensor big = Tensor::from<float>({2}, {1.f, 1e5f});
  EXPECT_FALSE(all_finite(convert(big, DType::F16)));  // 1e5 overflows f16
  EXPECT_TRUE(all_finite(convert(big, DType::BF16)));
  EXPECT_THROW(convert(Tensor::from<int32_t>({1}, {1}), DType::F16), Error);
}

// The bulk (vectorized) conversions agree with the scalar ones.
TEST(Precision, BulkConversionsMatchScalar) {
  std::vector<uint16_t> all(65536);
  for (uint32_t h = 0; h < 65536; ++h) all[h] = uint16_t(h);
  std::vector<float> wide(65536);
  for (DType dt : {DType::F16, DType::BF16}) {
    half_to_f32(all.data(), dt, wide.data(), 65536);
    for (uint32_t h = 0; h < 65536; ++h) {
      const float want = dt == DType::F16 ? f16_bits_to_f32(uint16_t(h)) : bf16_bits_to_f32(uint16_t(h));
      if (std::isnan(want)) ASSERT_TRUE(std::isnan(wide[h])) << h;
      else ASSERT_EQ(wide[h], want) << dtype_name(dt) << " bits " << h;
    }
  }
  std::mt19937 rng(11);
  std::vector<float> x;
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = rng();
    float f = from_bits(u);
    if (!std::isnan(f)) x.push_back(f);
  }
  for (float f : {0.f, -0.f, 65504.f, 65519.f, 65520.f, 1.f + std::ldexp(1.f, -11), std::ldexp(1.f, -25),
                  3 * std::ldexp(1.f, -25), std::numeric_limits<float>::infinity()})
    x.push_back(f);
  std::vector<uint16_t> out(x.size());
  for (DType dt : {DType::F16, DType::BF16}) {
    f32_to_half(x.data(), dt, out.data(), int64_t(x.size()));
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(out[i], dt == DType::F16 ? f32_to_f16_bits(x[i]) : f32_to_bf16_bits(x[i]))
          << dtype_name(dt) << " of " << x[i];
    const float nan = std::numeric_limits<float>::quiet_NaN();
    uint16_t h = 0;
    f32_to_half(&nan, dt, &h, 1);
    EXPECT_TRUE(std::isnan(dt == DType::F16 ? f16_bits_to_f32(h) : bf16_bits_to_f32(h)));
  }
}
