// cpu/dnnl_conv.h — conv2d and its gradients through oneDNN (Debian libdnnl-dev),
// f32 everywhere and bf16 natively on CPUs with AVX512_BF16.
#pragma once

namespace ft {
namespace ops {

// Whether this build has oneDNN.
bool dnnl_conv_available();

// Replaces the CPU kernels of conv2d, conv2d_grad_input and conv2d_grad_filter for
// f32 (and bf16 where native_bf16_matmul_available()) by kernels that choose per
// shape, by timing on first use (ops/cpu/kernel_choice.h), between oneDNN on plain
// NCHW layouts ("onednn"), oneDNN on its blocked layouts with reorders
// ("onednn-blocked") and the kernel registered before ("im2col" for f32, "emulated"
// for bf16). Call after register_conv_cpu() and register_precision_cpu(). Without
// oneDNN it does nothing and returns false.
bool register_dnnl_conv();

}  // namespace ops
}  // namespace ft
