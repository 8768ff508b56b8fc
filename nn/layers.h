// layers.h — the basic layers: Dense, Activation, Flatten, Dropout, LayerNorm, Embedding.
#pragma once

#include <string>

#include "nn/layer.h"

namespace ft {
namespace nn {

// (..., in) -> (..., units): x w + b, then the activation. w (in, units) glorot, b (units) zeros.
class Dense : public LayerBase<Dense> {
 public:
  explicit Dense(int64_t units, std::string activation = "", bool use_bias = true,
                 Initializer kernel_init = init::glorot());
  std::string kind() const override { return "dense"; }
  int64_t units() const { return units_; }

 protected:
  Value forward(Graph& g, Value x) override;

 private:
  int64_t units_;
  std::string act_;
  bool use_bias_;
  Initializer init_;
};

// Applies an activation by name (see activation()).
class Activation : public LayerBase<Activation> {
 public:
  explicit Activation(std::string name);
  std::string kind() const override { return act_.empty() ? "linear" : act_; }

 protected:
  Value forward(Graph&, Value x) override { return activation(x, act_); }

 private:
  std::string act_;
};

class ReLU : public Activation {
 public:
  ReLU() : Activation("relu") {}
};

// (N, d1, d2, ...) -> (N, d1*d2*...); the trailing dims must be known.
class Flatten : public LayerBase<Flatten> {
 public:
  std::string kind() const override { return "flatten"; }

 protected:
  Value forward(Graph& g, Value x) override;
};

// Inverted dropout with drop probability `rate` while training (RunOptions::training),
// identity in evaluation. Seeded from the layer's name and the run's step.
class Dropout : public LayerBase<Dropout> {
 public:
  explicit Dropout(double rate);
  std::string kind() const override { return "dropout"; }

 protected:
  Value forward(Graph& g, Value x) override;

 private:
  double rate_;
};

// Normalizes over the last axis (C): gamma (C) ones, beta (C) zeros.
class LayerNorm : public LayerBase<LayerNorm> {
 public:
  explicit LayerNorm(double eps = 1e-5) : eps_(eps) {}
  std::string kind() const override { return "layer_norm"; }

 protected:
  Value forward(Graph& g, Value x) override;

 private:
  double eps_;
};

// int ids (N...) -> (N..., dim) rows of table (vocab, dim), normal(0.02) init.
class Embedding : public LayerBase<Embedding> {
 public:
  Embedding(int64_t vocab, int64_t dim, Initializer init = init::normal(0.02));
  std::string kind() const override { return "embedding"; }

 protected:
  Value forward(Graph& g, Value x) override;

 private:
  int64_t vocab_, dim_;
  Initializer init_;
};

}  // namespace nn
}  // namespace ft
