// tensor.cpp — Tensor storage and helpers.
#include "core/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/checked.h"
#include "core/device.h"

namespace ft {

void throw_error(const std::string& msg) { throw Error(msg); }

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::F16: return 2;
    case DType::BF16: return 2;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
  }
  return "?";
}

bool is_float(DType t) { return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16; }

int64_t numel(const Shape& s) {
  for (int64_t d : s)
    if (d < 0) return -1;
  int64_t n;
  if (!checked_numel(s, &n)) throw Error("shape " + shape_str(s) + " has more than 2^63-1 elements");
  return n;
}

bool fully_defined(const Shape& s) { return numel(s) >= 0; }

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) o << ", ";
    if (s[i] < 0) o << "?"; else o << s[i];
  }
  o << "]";
  return o.str();
}

namespace {
// The bytes a tensor of `shape` holds, checked: every dim known, no overflow
// (and room to round up to 64).
int64_t storage_bytes(const Shape& shape, DType dtype, const char* who) {
  FT_CHECK(fully_defined(shape), std::string(who) + " with unknown dims " + shape_str(shape));
  int64_t exact;
  if (!checked_mul(ft::numel(shape), static_cast<int64_t>(dtype_size(dtype)), &exact) || exact > INT64_MAX - 63)
    throw Error(std::string(who) + ": shape " + shape_str(shape) + " of " + dtype_name(dtype) +
                " needs more than 2^63 bytes");
  return exact;
}
}  // namespace

const std::string& Tensor::device() const {
  static const std::string cpu = "cpu";
  return dev_ ? dev_->name() : cpu;
}

Tensor Tensor::on_device(void* data, const Shape& shape, DType dtype, Device* dev) {
  Tensor t = view(data, shape, dtype);
  if (dev && !dev->is_host()) t.dev_ = dev;
  return t;
}

Tensor Tensor::empty_on(Device& dev, const Shape& shape, DType dtype) {
  if (dev.is_host()) return empty(shape, dtype);
  const int64_t exact = storage_bytes(shape, dtype, "Tensor::empty_on");
  Tensor t = view(nullptr, shape, dtype);
  Device* d = &dev;
  void* p = d->allocate(std::max<size_t>(size_t(exact), 64));
  t.storage_ = std::shared_ptr<void>(p, [d](void* q) { d->free(q); });
  t.data_ = p;
  t.dev_ = d;
  return t;
}

Tensor Tensor::to_host() const {
  if (!dev_) return *this;
  Tensor t = empty(shape_, dtype_);
  copy_between(*dev_, data_, cpu_device(), t.data_, bytes());
  return t;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  const int64_t exact = storage_bytes(shape, dtype, "Tensor::empty");
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.numel_ = ft::numel(shape);
  size_t bytes = (static_cast<size_t>(exact) + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
  t.storage_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  t.data_ = p;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.data_, 0, t.bytes());
  return t;
}

Tensor Tensor::view(void* data, const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.numel_ = ft::numel(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::scalar(float v) { return from<float>({}, {v}); }

Tensor Tensor::clone() const {
  if (dev_) {
    Tensor t = empty_on(*dev_, shape_, dtype_);
    copy_between(*dev_, data_, *dev_, t.data_, bytes());
    return t;
  }
  Tensor t = empty(shape_, dtype_);
  if (bytes()) std::memcpy(t.data_, data_, bytes());
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  FT_CHECK(src.dtype_ == dtype_ && src.numel_ == numel_,
           "copy_from " + shape_str(src.shape_) + " " + dtype_name(src.dtype_) + " into " +
               shape_str(shape_) + " " + dtype_name(dtype_));
  if (!bytes() || src.data_ == data_) return;
  if (dev_ || src.dev_)
    copy_between(src.dev_ ? *src.dev_ : cpu_device(), src.data_, dev_ ? *dev_ : cpu_device(), data_, bytes());
  else
    std::memcpy(data_, src.data_, bytes());
}

Tensor Tensor::reshaped(const Shape& shape) const {
  FT_CHECK(ft::numel(shape) == numel_, "reshape " + shape_str(shape_) + " to " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

double Tensor::at(int64_t i) const {
  FT_CHECK(i >= 0 && i < numel_, "index out of range");
  if (dev_) return to_host().at(i);
  switch (dtype_) {
    case DType::F32: return static_cast<const float*>(data_)[i];
    case DType::F64: return static_cast<const double*>(data_)[i];
    case DType::I32: return static_cast<const int32_t*>(data_)[i];
    case DType::I64: return static_cast<double>(static_cast<const int64_t*>(data_)[i]);
    default: throw Error(std::string("Tensor::at on ") + dtype_name(dtype_));
  }
}

}  // namespace ft
