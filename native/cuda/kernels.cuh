// Kernel launch interface shared by the launcher (conv.cu) and the kernel files.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace cc {
namespace cuda {

// One GEMM per (image, group): C[M x N] = A[M x Kd] * B[Kd x N] (+ bias[m]) (relu), Z = images * groups
// of them in one launch. M = Cout/groups, N = OH*OW, Kd = Cg*KH*KW. A is the group's weight slice.
struct GemmProblem {
  int64_t M = 0, N = 0, Kd = 0;
  int64_t images = 1, groups = 1;
  const float* A = nullptr;       // weight [K, Kd]; group g starts at A + g*M*Kd
  const float* bias = nullptr;    // [K] or null; row m of group g uses bias[g*M + m]
  float* C = nullptr;             // output [images, K, N]
  bool relu = false;
  bool a_vec = false;             // A rows 16-byte aligned (Kd % 4 == 0): float4 loads
  bool c_vec = false;             // C rows 16-byte aligned (N % 4 == 0): float4 stores
};

// B as a dense matrix: the im2col workspace, or the input itself for a 1x1 stride-1 convolution.
// B of (image, group) = B + image*img_stride + group*group_stride, rows ldb apart.
struct DenseB {
  const float* B = nullptr;
  int64_t ldb = 0, img_stride = 0, group_stride = 0;
  bool vec = false;  // ldb, strides and B all multiples of 4 floats: float4 loads
};

// B gathered from the input: B[(c, kh, kw)][(oh, ow)] = x[img, g*Cg + c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw].
struct ImplicitB {
  const float* x = nullptr;  // [N, C, H, W]
  int64_t C = 0, H = 0, W = 0, Cg = 0, KH = 0, KW = 0;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, OW = 1;
};

void launch_sgemm(const GemmProblem& p, const DenseB& b, cudaStream_t s);
void launch_sgemm(const GemmProblem& p, const ImplicitB& b, cudaStream_t s);
void launch_tf32(const GemmProblem& p, const DenseB& b, cudaStream_t s);
void launch_tf32(const GemmProblem& p, const ImplicitB& b, cudaStream_t s);

// im2col of `images` images starting at x: [images, C, H, W] -> [images, C*KH*KW, OH*OW].
// Direct conv for Cin/groups == 1: x [N, C, H, W], w [K, 1, KH, KW] -> y [N, K, OH, OW] (+bias, relu).
void launch_depthwise(const ImplicitB& g, int64_t N, int64_t K, int64_t OH, const float* w, const float* bias,
                      bool relu, float* y, cudaStream_t s);

void launch_im2col(const ImplicitB& g, int64_t images, int64_t OH, float* cols, cudaStream_t s);

}  // namespace cuda
}  // namespace cc
