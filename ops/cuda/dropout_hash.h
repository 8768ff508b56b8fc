// dropout_hash.h — the counter-based dropout RNG shared by the CUDA kernel and
// host code (the same splitmix64 stream as ops/cpu/nn.cpp): element i of a
// tensor is kept iff hash(key, i) >= p * 2^53, key = key_of(seed, step). A pure
// function of (seed, step, i), so CPU and GPU masks agree bit for bit.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FT_HOST_DEVICE __host__ __device__
#else
#define FT_HOST_DEVICE
#endif

namespace ft {
namespace cuda {

FT_HOST_DEVICE inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

FT_HOST_DEVICE inline uint64_t dropout_key(uint64_t seed, uint64_t step) {
  return mix64(seed ^ mix64(step + 0x632be59bd9b4e019ULL));
}

// 53 random bits of element i.
FT_HOST_DEVICE inline uint64_t dropout_bits(uint64_t key, int64_t i) {
  return mix64(key + uint64_t(i + 1) * 0x9e3779b97f4a7c15ULL) >> 11;
}

inline uint64_t dropout_threshold(double p) { return uint64_t(p * 9007199254740992.0); }  // p * 2^53

}  // namespace cuda
}  // namespace ft
