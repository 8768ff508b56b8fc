// layers.h — the basic layers: Dense (plain or tensor-parallel), Activation, Flatten, Dropout,
// LayerNorm, Embedding.
#pragma once

#include <string>

#include "nn/layer.h"

namespace ft {
namespace nn {

// How a Dense layer is split over a tensor-parallel group (Megatron-style, nn/parallel.h):
//   Columns  x (.., in) replicated -> copy_to_parallel -> x w_r + b_r (.., units/k)
//            [-> gather_from_parallel -> (.., units)]; w (in, units) split by columns, b with them
//   Rows     x_r (.., in/k) this rank's part -> reduce_from_parallel(x_r w_r) + b (.., units);
//            w split by rows, b replicated
// The activation applies to this rank's result, before a gather. With tp.size 1
// (the default) both are the plain layer.
enum class Split { Columns, Rows };

// (..., in) -> (..., units): x w + b, then the activation. w (in, units) glorot, b (units) zeros.
// Split variables keep the unsplit names ("fc1/w") and hold slices of the unsplit initial values.
class Dense : public LayerBase<Dense> {
 public:
  explicit Dense(int64_t units, std::string activation = "", bool use_bias = true,
                 Initializer kernel_init = init::glorot());
  std::string kind() const override { return "dense"; }
  int64_t units() const { return units_; }

  // This rank's part of the layer over tp (tp.size 1: the plain layer).
  // gather_output (Columns only): every rank gets the whole (.., units).
  // copy_input (Columns only): false when x already passed copy_to_parallel.
  Dense& parallel(const TensorParallel& tp, Split split = Split::Columns, bool gather_output = false,
                  bool copy_input = true);
  Dense& dtype(DType d) {  // of the variables (F32 by default)
    dtype_ = d;
    return *this;
  }

 protected:
  Value forward(Graph& g, Value x) override;

 private:
  int64_t units_;
  std::string act_;
  bool use_bias_;
  Initializer init_;
  DType dtype_ = DType::F32;
  TensorParallel tp_;
  Split split_ = Split::Columns;
  bool gather_ = false, copy_input_ = true;
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
// identity in evaluation. The mask is a function of (seed, step, index): the seed is
// derived from the layer's name unless one is given.
class Dropout : public LayerBase<Dropout> {
 public:
  explicit Dropout(double rate);
  Dropout(double rate, int64_t seed);
  std::string kind() const override { return "dropout"; }

 protected:
  Value forward(Graph& g, Value x) override;

 private:
  double rate_;
  bool fixed_seed_ = false;
  int64_t seed_ = 0;
};

// Normalizes over the last axis (C): gamma (C) ones, beta (C) zeros.
class LayerNorm : public LayerBase<LayerNorm> {
 public:
  explicit LayerNorm(double eps = 1e-5) : eps_(eps) {}
  std::string kind() const override { return "layer_norm"; }
  LayerNorm& dtype(DType d) {  // of gamma and beta (F32 by default)
    dtype_ = d;
    return *this;
  }

 protected:
  Value forward(Graph& g, Value x) override;

 private:
  double eps_;
  DType dtype_ = DType::F32;
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
