// cpu/dnnl_matmul.h — the native bf16 matmul kernel (oneDNN, AVX512_BF16), and the
// f32 matmul's per-shape choice between oneDNN and OpenBLAS.
#pragma once

#include <cstdint>

namespace ft {
namespace ops {

// Whether this build has oneDNN and this CPU has AVX512_BF16.
bool native_bf16_matmul_available();
// Registers the oneDNN kernel for matmul on bf16 (replacing the emulated one);
// false (and nothing registered) when it is not available.
bool register_dnnl_bf16_matmul();
// Replaces the f32 kernels of matmul and matmul_bias_act with ones that choose per
// GEMM shape, by a rule on the shape, between oneDNN and those kernels (OpenBLAS);
// false (and nothing registered) without oneDNN. The emulated half kernels keep
// OpenBLAS: register after them.
bool register_dnnl_f32_matmul();
// One single-threaded GEMM on bf16 operands with the f32 accumulator as the result,
// row-major: C (m, n) = op(A) x op(B), A (m, k) with leading dimension lda or (k, m)
// when ta, B (k, n) with ldb or (n, k) when tb, C with ldc. Only where
// native_bf16_matmul_available().
void gemm_bf16_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda,
                   const uint16_t* b, int64_t ldb, float* c, int64_t ldc);

}  // namespace ops
}  // namespace ft
