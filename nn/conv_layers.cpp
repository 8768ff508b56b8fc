// conv_layers.cpp — Conv2D, MaxPool2D, AvgPool2D.
#include "nn/conv_layers.h"

namespace ft {
namespace nn {

Padding::Padding(const char* mode) {
  std::string m = mode ? mode : "";
  if (m == "same") same = true;
  else if (m != "valid") throw Error("unknown padding '" + m + "' (expected \"same\", \"valid\" or a number)");
}

Conv2D::Conv2D(int64_t filters, int64_t kernel, int64_t stride, Padding padding, std::string activation, bool use_bias,
               Initializer kernel_init)
    : filters_(filters), kernel_(kernel), stride_(stride), padding_(padding), act_(std::move(activation)),
      use_bias_(use_bias), init_(std::move(kernel_init)) {
  if (filters <= 0 || kernel <= 0 || stride <= 0)
    throw Error("Conv2D: filters, kernel and stride must be > 0, got " + std::to_string(filters) + ", " +
                std::to_string(kernel) + ", " + std::to_string(stride));
  if (padding.same && kernel % 2 == 0)
    throw Error("Conv2D: padding \"same\" needs an odd kernel, got " + std::to_string(kernel));
  if (padding.pixels < 0) throw Error("Conv2D: padding must be >= 0, got " + std::to_string(padding.pixels));
  check_activation(act_);
}

Value Conv2D::forward(Graph& g, Value x) {
  if (x.rank() != 4) fail("input must be (N, C, H, W), got " + shape_str(x.shape()));
  const int64_t c = x.shape()[1];
  if (c < 0) fail("the channel dim must be known, got " + shape_str(x.shape()));
  const int64_t pad = padding_.same ? (kernel_ - 1) / 2 : padding_.pixels;
  Value w = variable(g, "w", {filters_, c, kernel_, kernel_}, init_);
  Value b;
  if (use_bias_) b = image_bias_ ? variable(g, "b", {filters_, 1, 1}, init::zeros()) : variable(g, "b", {filters_}, init::zeros());
  Value y = conv2d(x, w, stride_, pad);
  if (use_bias_) y = y + (image_bias_ ? b : reshape(b, {filters_, 1, 1}));
  return activation(y, act_);
}

MaxPool2D::MaxPool2D(int64_t k, int64_t stride) : k_(k), stride_(stride) {
  if (k <= 0) throw Error("MaxPool2D: k must be > 0, got " + std::to_string(k));
}

AvgPool2D::AvgPool2D(int64_t k, int64_t stride) : k_(k), stride_(stride) {
  if (k <= 0) throw Error("AvgPool2D: k must be > 0, got " + std::to_string(k));
}

}  // namespace nn
}  // namespace ft
