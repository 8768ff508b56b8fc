// rng.h — a small portable random generator (SplitMix64) for data shuffling and masking.
//
// std::shuffle and std::uniform_int_distribution differ between standard
// libraries; this generator and its helpers give the same sequence everywhere,
// so every rank (and every build) sees the same data order.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace ft {
namespace data {

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  // Seeds from several values (e.g. seed, epoch) mixed together.
  Rng(uint64_t seed, uint64_t stream) : s_(mix(seed ^ mix(stream + 0x632BE59BD9B4E019ull))) {}

  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    return mix_finish(z);
  }
  // Uniform in [0, n), n > 0 (rejection sampling, no modulo bias).
  uint64_t below(uint64_t n) {
    const uint64_t limit = ~0ull - (~0ull % n);
    uint64_t r;
    do r = next(); while (r >= limit);
    return r % n;
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

  template <class T> void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  static uint64_t mix_finish(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  static uint64_t mix(uint64_t z) { return mix_finish(z + 0x9E3779B97F4A7C15ull); }
  uint64_t s_;
};

}  // namespace data
}  // namespace ft
