// ops.h — the graph-building API of flowtrain's ops. Each function adds a node
// (shape-checked at build time) and returns its symbolic output(s).
//
// Shapes in comments: (B,T,C) etc. Broadcasting follows NumPy.
#pragma once

#include <vector>

#include "core/core.h"

namespace ft {
namespace ops {
// Registers every op definition and every CPU kernel (idempotent, thread-safe).
// Builders below call it, so user code rarely needs to.
void register_all();
}  // namespace ops

// ---- elementwise (NumPy broadcasting)
Value add(Value a, Value b);
Value sub(Value a, Value b);
Value mul(Value a, Value b);
Value div(Value a, Value b);
Value pow(Value a, Value b);
Value add_n(const std::vector<Value>& xs);   // same shapes
Value neg(Value x);
Value exp(Value x);
Value log(Value x);
Value sqrt(Value x);
Value rsqrt(Value x);
Value square(Value x);
Value abs(Value x);
Value relu(Value x);
Value gelu(Value x);       // tanh approximation (BERT)
Value tanh(Value x);
Value sigmoid(Value x);
Value cast(Value x, DType to);
Value ones_like(Value x);
Value zeros_like(Value x);
Value scale(Value x, double s);               // x * s
Value add_scalar(Value x, double s);          // x + s
Value stop_gradient(Value x);
// Sums g over the dims that were broadcast so it gets x's runtime shape.
Value sum_to_like(Value g, Value x);
// Broadcasts g to x's runtime shape.
Value broadcast_like(Value g, Value x);

Value operator+(Value a, Value b);
Value operator-(Value a, Value b);
Value operator*(Value a, Value b);
Value operator/(Value a, Value b);
Value operator-(Value a);
Value operator*(Value a, double s);
Value operator*(double s, Value a);
Value operator+(Value a, double s);

// ---- matmul
// (.., M, K) x (.., K, N) -> (.., M, N); transposes apply to the last two dims.
// Rank 2 x rank 2, or equal batch dims (batched), or rank>2 x rank 2 (weights).
Value matmul(Value a, Value b, bool transpose_a = false, bool transpose_b = false);
// act(matmul(a, b) + bias) in one kernel; bias (N), act "relu" or "".
Value matmul_bias_act(Value a, Value b, Value bias, const std::string& act, bool transpose_a = false,
                      bool transpose_b = false);

// ---- reductions; axes may be negative; empty axes = all
Value reduce_sum(Value x, std::vector<int64_t> axes = {}, bool keepdims = false);
Value reduce_mean(Value x, std::vector<int64_t> axes = {}, bool keepdims = false);
Value reduce_max(Value x, std::vector<int64_t> axes = {}, bool keepdims = false);
Value sum(Value x);   // scalar
Value mean(Value x);  // scalar

// ---- shape
Value reshape(Value x, Shape shape);                  // one dim may be -1
Value reshape_like(Value x, Value like);
Value transpose(Value x, std::vector<int64_t> perm);  // permute dims
Value concat(const std::vector<Value>& xs, int64_t axis);
std::vector<Value> split(Value x, std::vector<int64_t> sizes, int64_t axis);
Value slice(Value x, std::vector<int64_t> begin, std::vector<int64_t> size);  // size -1 = to the end
Value gather(Value params, Value indices);  // params (V, D...), indices int (any) -> (indices..., D...)
Value one_hot(Value indices, int64_t depth);  // int (N...) -> f32 (N..., depth)
Value argmax(Value x, int64_t axis = -1);     // -> i64

// ---- neural-network ops
Value softmax(Value x);        // over the last axis
Value log_softmax(Value x);
// Numerically stable masked softmax over the last axis: positions where mask == 0
// get probability 0; mask broadcasts against x.
Value masked_softmax(Value x, Value mask);
// logits (N, C), labels int (N) -> per-example loss (N). Labels < 0 are ignored (loss 0).
Value sparse_softmax_cross_entropy(Value logits, Value labels);
Value mse(Value pred, Value target);  // scalar mean of squared error
// Normalizes over the last axis; gamma, beta (C).
Value layer_norm(Value x, Value gamma, Value beta, double eps = 1e-5);
// Inverted dropout with rate p, seeded by (seed, step); identity when not training.
Value dropout(Value x, double p, int64_t seed);

// ---- convolution and pooling (NCHW; weights (O, I, KH, KW))
Value conv2d(Value x, Value w, int64_t stride = 1, int64_t padding = 0);
// act(conv2d(x, w) + b) in one kernel; b (O, 1, 1) or (1, O, 1, 1), act "relu" or "".
Value conv2d_bias_act(Value x, Value w, Value b, const std::string& act, int64_t stride = 1, int64_t padding = 0);
Value max_pool2d(Value x, int64_t k, int64_t stride = -1);  // stride -1 = k
Value avg_pool2d(Value x, int64_t k, int64_t stride = -1);

}  // namespace ft
