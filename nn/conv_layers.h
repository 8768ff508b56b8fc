// conv_layers.h — convolution and pooling layers (NCHW).
#pragma once

#include <string>
#include <type_traits>

#include "nn/layer.h"

namespace ft {
namespace nn {

// Padding as a number of pixels per side, or "same" (output = ceil(input/stride);
// needs an odd kernel) / "valid" (0).
struct Padding {
  Padding() = default;
  template <class I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
  Padding(I pixels) : pixels(static_cast<int64_t>(pixels)) {}  // NOLINT: implicit on purpose
  Padding(const char* mode);                       // NOLINT
  Padding(const std::string& mode) : Padding(mode.c_str()) {}  // NOLINT
  int64_t pixels = 0;
  bool same = false;
};

// (N, C, H, W) -> (N, filters, H', W'): w (filters, C, k, k) he init, b (filters) zeros.
class Conv2D : public LayerBase<Conv2D> {
 public:
  Conv2D(int64_t filters, int64_t kernel, int64_t stride = 1, Padding padding = Padding(), std::string activation = "",
         bool use_bias = true, Initializer kernel_init = init::he());
  std::string kind() const override { return "conv2d"; }
  // The bias as a (filters, 1, 1) variable broadcast over (H, W) instead of
  // (filters) reshaped: the layout of the MNIST CNN's checkpoints (nn/zoo.h).
  Conv2D& image_bias(bool on = true) {
    image_bias_ = on;
    return *this;
  }

 protected:
  Value forward(Graph& g, Value x) override;

 private:
  int64_t filters_, kernel_, stride_;
  Padding padding_;
  std::string act_;
  bool use_bias_;
  Initializer init_;
  bool image_bias_ = false;
};

// k x k max pooling, stride k unless given.
class MaxPool2D : public LayerBase<MaxPool2D> {
 public:
  explicit MaxPool2D(int64_t k, int64_t stride = -1);
  std::string kind() const override { return "max_pool2d"; }

 protected:
  Value forward(Graph&, Value x) override { return max_pool2d(x, k_, stride_); }

 private:
  int64_t k_, stride_;
};

class AvgPool2D : public LayerBase<AvgPool2D> {
 public:
  explicit AvgPool2D(int64_t k, int64_t stride = -1);
  std::string kind() const override { return "avg_pool2d"; }

 protected:
  Value forward(Graph&, Value x) override { return avg_pool2d(x, k_, stride_); }

 private:
  int64_t k_, stride_;
};

}  // namespace nn
}  // namespace ft
