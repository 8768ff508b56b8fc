// cpu/dnnl_matmul.h — the native bf16 matmul kernel (oneDNN, AVX512_BF16).
#pragma once

namespace ft {
namespace ops {

// Whether this build has oneDNN and this CPU has AVX512_BF16.
bool native_bf16_matmul_available();
// Registers the oneDNN kernel for matmul on bf16 (replacing the emulated one);
// false (and nothing registered) when it is not available.
bool register_dnnl_bf16_matmul();

}  // namespace ops
}  // namespace ft
