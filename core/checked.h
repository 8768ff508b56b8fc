// checked.h — overflow-checked integer arithmetic for sizes read from files.
//
// Every count, dim, offset and index that comes from outside the program (a
// file, a config) goes through these before it sizes an allocation or indexes
// memory: a product that wraps would pass a size check and then under-allocate.
//
//   int64_t n;
//   if (!ft::checked_mul(rows, cols, &n)) throw Error(path + ": ...");
//   int64_t n = ft::mul_or_throw(rows, cols, [&] { return path + ": dims overflow"; });
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "core/tensor.h"

namespace ft {

// a*b, a+b into *out; false (and *out unspecified) when the result does not fit in T.
template <class T>
bool checked_mul(T a, T b, T* out) {
  static_assert(std::is_integral<T>::value, "checked_mul: integer types only");
  return !__builtin_mul_overflow(a, b, out);
}
template <class T>
bool checked_add(T a, T b, T* out) {
  static_assert(std::is_integral<T>::value, "checked_add: integer types only");
  return !__builtin_add_overflow(a, b, out);
}

// The same, throwing ft::Error(what()) on overflow; `what` is called only then.
template <class T, class What>
T mul_or_throw(T a, T b, What what) {
  T r;
  if (!checked_mul(a, b, &r)) throw Error(what());
  return r;
}
template <class T, class What>
T add_or_throw(T a, T b, What what) {
  T r;
  if (!checked_add(a, b, &r)) throw Error(what());
  return r;
}

// The number of elements of dims that are all >= 0, and their size in bytes for
// elements of elem_bytes each. False when a dim is negative or the element
// count or the byte count exceeds INT64_MAX.
inline bool checked_numel(const std::vector<int64_t>& dims, int64_t* numel) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (d < 0) return false;
  for (int64_t d : dims)
    if (!checked_mul(n, d, &n)) return false;
  *numel = n;
  return true;
}
inline bool checked_bytes(const std::vector<int64_t>& dims, size_t elem_bytes, int64_t* bytes) {
  int64_t n;
  return checked_numel(dims, &n) && checked_mul(n, static_cast<int64_t>(elem_bytes), bytes);
}

}  // namespace ft
