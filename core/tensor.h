// tensor.h — dtypes, shapes, the Error type and Tensor (shape + dtype + ref-counted storage).
//
// A Tensor either owns 64-byte aligned host memory or is a view into memory
// owned by someone else (an executor's planned arena, a fed buffer). Copies of a
// Tensor share storage; clone() makes a deep copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ft {

class Device;

// ---- errors -----------------------------------------------------------------

// The one recoverable error type of the library. Messages name what failed
// (op, key, file:line) so the train program can print them as one line.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_error(const std::string& msg);

// Invariant check: throws ft::Error with file:line and the message.
#define FT_CHECK(cond, msg)                                                              \
  do {                                                                                   \
    if (!(cond)) ::ft::throw_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
                                   ": check failed: " #cond ": " + (msg));               \
  } while (0)

// ---- dtypes -------------------------------------------------------------------

enum class DType : uint8_t { F32, F64, I32, I64, F16, BF16 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool is_float(DType t);

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::F64; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::I64; };

// ---- shapes -----------------------------------------------------------------

// Dimensions; -1 means "unknown until run time" (e.g. the batch dimension of a
// placeholder). A Tensor's shape never holds -1.
using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);           // product of dims; -1 if any dim is unknown
bool fully_defined(const Shape& s);
std::string shape_str(const Shape& s);   // "[128, 784]", "[?, 784]"

// ---- tensor -----------------------------------------------------------------

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(const Shape& shape, DType dtype);   // uninitialized, owned
  static Tensor zeros(const Shape& shape, DType dtype);
  static Tensor view(void* data, const Shape& shape, DType dtype);  // not owned
  // Memory of a non-host device (core/device.h): a view, or owned (allocated there).
  // The host must not read or write it directly: to_host(), copy_from() copy.
  static Tensor on_device(void* data, const Shape& shape, DType dtype, Device* dev);
  static Tensor empty_on(Device& dev, const Shape& shape, DType dtype);  // empty() on a host device
  template <class T> static Tensor from(const Shape& shape, const std::vector<T>& v);
  static Tensor scalar(float v);

  bool defined() const { return data_ != nullptr || numel_ == 0; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i < 0 ? i + rank() : i)); }
  int rank() const { return static_cast<int>(shape_.size()); }
  DType dtype() const { return dtype_; }
  int64_t numel() const { return numel_; }
  size_t bytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  const std::string& device() const;  // "cpu", or the device holding it
  Device* device_ptr() const { return dev_; }  // nullptr in host memory
  bool on_host() const { return dev_ == nullptr; }
  // A host tensor with the same values: itself when on the host, else a copy.
  Tensor to_host() const;

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <class T> T* data() { check_type<T>(); return static_cast<T*>(data_); }
  template <class T> const T* data() const { check_type<T>(); return static_cast<const T*>(data_); }
  template <class T> std::vector<T> to_vector() const {
    const T* p = data<T>();
    return std::vector<T>(p, p + numel_);
  }
  template <class T> T item() const {
    FT_CHECK(numel_ == 1, "item() of a tensor with shape " + shape_str(shape_));
    return data<T>()[0];
  }

  Tensor clone() const;                // owned, on the same device
  void copy_from(const Tensor& src);   // same dtype and numel; across devices too
  // Same storage, new shape with the same numel.
  Tensor reshaped(const Shape& shape) const;
  // Value as double (any dtype), for tests and logging.
  double at(int64_t flat_index) const;

 private:
  template <class T> void check_type() const {
    FT_CHECK(DTypeOf<T>::value == dtype_, std::string("tensor is ") + dtype_name(dtype_) +
                                             ", accessed as " + dtype_name(DTypeOf<T>::value));
  }
  Shape shape_;
  DType dtype_ = DType::F32;
  int64_t numel_ = 0;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;
  Device* dev_ = nullptr;
};

template <class T>
Tensor Tensor::from(const Shape& shape, const std::vector<T>& v) {
  Tensor t = empty(shape, DTypeOf<T>::value);
  FT_CHECK(static_cast<int64_t>(v.size()) == t.numel(),
           "Tensor::from: " + std::to_string(v.size()) + " values for shape " + shape_str(shape));
  std::copy(v.begin(), v.end(), t.data<T>());
  return t;
}

}  // namespace ft
