// Kernel launch interface shared by the launcher (conv.cu) and the kernel files.
//
// Every GEMM-shaped step of every direction is one batched GEMM, C[M x N] = A[M x Kd] * B[Kd x N]
// (+ bias[m], relu), Z = batches * groups of them in one launch; A and B come from loaders, so the
// same kernels serve (per batch b and group g):
//   forward                    A = w [Kg, Cg*KH*KW]          B = x gathered (ImplicitB) or dense   C = y
//   backward-data, implicit    A = w^T [Cg, Kg*KH*KW]        B = dy gathered (GradDataB)           C = dx
//   backward-data, via columns A = w^T [Cg*KH*KW, Kg]        B = dy (DenseB)            C = columns, then col2im
//   backward-weights           A = dy [Kg, N*OH*OW] (GradOutA) B = x gathered (WeightGradB) C = dw
// (backward-weights splits its long reduction: batch b sums the b-th chunk into its own partial dw).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../core/problem.h"

namespace cc {
namespace cuda {

struct GemmProblem {
  int64_t M = 0, N = 0;
  int64_t Kd = 0;                 // the reduction each GEMM sums (backward-weights: one chunk of it)
  int64_t batches = 1, groups = 1;
  const float* bias = nullptr;    // [groups * M] or null; row m of group g uses bias[g*M + m]
  float* C = nullptr;             // [batches, groups * M, N]
  bool relu = false;
  bool c_vec = false;             // C rows 16-byte aligned (N % 4 == 0): float4 stores
  bool round_bf16 = false;        // fp32 kernel: round A and B to bfloat16 first ('bf16' without bf16 tensor cores)
};

// ----- A operands -----------------------------------------------------------------------------------

// A row-major per group: group g's [M, Kd] starts at A + g*M*Kd (weights, or their transpose).
struct DenseA {
  const float* A = nullptr;
  bool vec = false;  // Kd % 4 == 0 and A 16-byte aligned: float4 loads
};

// Backward-weights: A[m][k] = dy[n, g*M + m, p] with n*OHW + p = b*chunk + k (< total = N*OH*OW).
struct GradOutA {
  const float* dy = nullptr;  // [N, Cout, OH, OW]
  int64_t Cout = 0, OHW = 0, total = 0, chunk = 0;
  bool vec = false;  // OHW % 4 == 0, chunk % 4 == 0 and dy 16-byte aligned: float4 loads
};

// ----- B operands -----------------------------------------------------------------------------------

// B as a dense matrix: the im2col workspace, the input itself for a 1x1 stride-1 convolution, or dy.
// B of (batch, group) = B + batch*img_stride + group*group_stride, rows ldb apart.
struct DenseB {
  const float* B = nullptr;
  int64_t ldb = 0, img_stride = 0, group_stride = 0;
  bool vec = false;  // ldb, strides and B all multiples of 4 floats: float4 loads
};

// The convolution's geometry, as the gathering loaders and the direct kernels read it.
struct Geometry {
  int64_t C = 0, H = 0, W = 0, Cg = 0, KH = 0, KW = 0;  // input channels, size; per-group channels; kernel
  int64_t sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
  int64_t K = 0, OH = 0, OW = 0, groups = 1;            // output channels and size
};
Geometry geometry_of(const ConvProblem& p);

// Forward: B[(c, kh, kw)][(oh, ow)] = x[b, g*Cg + c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw].
struct ImplicitB {
  const float* x = nullptr;  // [N, C, H, W]
  Geometry g;
};

// Backward-data: B[(k, kh, kw)][(ih, iw)] = dy[b, g*Kg + k, oh, ow] where ih = oh*sh - pt + kh*dh
// (and the same along w); 0 where no such (oh, ow) exists.
struct GradDataB {
  const float* dy = nullptr;  // [N, K, OH, OW]
  Geometry g;
};

// Backward-weights: B[k][(c, kh, kw)] = x[n, g*Cg + c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw] with
// (n, oh, ow) = b*chunk + k (< total).
struct WeightGradB {
  const float* x = nullptr;  // [N, C, H, W]
  Geometry g;
  int64_t total = 0, chunk = 0;
};

// The (A, B) pairs the launcher uses; each GEMM kernel file instantiates exactly these.
#define CC_GEMM_OPERANDS(X) \
  X(DenseA, DenseB)         \
  X(DenseA, ImplicitB)      \
  X(DenseA, GradDataB)      \
  X(GradOutA, WeightGradB)

// Float32 FMAs (gemm_fp32.cu): exact, or on operands rounded to bfloat16 (p.round_bf16).
template <class AP, class BP>
void launch_sgemm(const GemmProblem& p, const AP& a, const BP& b, cudaStream_t s);
// Tensor cores through wmma (gemm_mma.cu), compute capability 8.0+: TF32 or BF16 operands, float32
// sums.
template <class AP, class BP>
void launch_mma(Precision precision, const GemmProblem& p, const AP& a, const BP& b, cudaStream_t s);

// ----- the other kernels ----------------------------------------------------------------------------

// im2col of `images` images starting at x: [images, C, H, W] -> [images, C*KH*KW, OH*OW].
void launch_im2col(const float* x, const Geometry& g, int64_t images, float* cols, cudaStream_t s);
// col2im as a gather (deterministic, no atomics), fused with the epilogue: cols [images,
// C*KH*KW, OH*OW] -> dx [images, C, H, W] = the sum of the columns that read each pixel (+ bias[c],
// relu).
void launch_col2im(const float* cols, const Geometry& g, int64_t images, const float* bias, bool relu, float* dx,
                   cudaStream_t s);

// Direct kernels for one input channel per group (depthwise, Cin/groups == 1); round_bf16: the
// operands are rounded to bfloat16 first (precision 'bf16'), the sums stay float32.
// forward x [N, C, H, W], w [K, 1, KH, KW] -> y [N, K, OH, OW] (+bias, relu);
void launch_depthwise(const float* x, const Geometry& g, int64_t N, const float* w, const float* bias, bool relu,
                      bool round_bf16, float* y, cudaStream_t s);
// backward-data dy [N, K, OH, OW], w -> dx [N, C, H, W] (+bias[C], relu);
void launch_depthwise_data(const float* dy, const Geometry& g, int64_t N, const float* w, const float* bias,
                           bool relu, bool round_bf16, float* dx, cudaStream_t s);
// backward-weights x, dy -> dw [K, 1, KH, KW] (one block per weight, a fixed-order sum).
void launch_depthwise_weights(const float* x, const float* dy, const Geometry& g, int64_t N, bool round_bf16,
                              float* dw, cudaStream_t s);

// Bias gradient: db[k] = sum of dy[:, k, :, :] (one block per channel, a fixed-order sum).
void launch_bias_grad(const float* dy, int64_t N, int64_t K, int64_t OHW, float* db, cudaStream_t s);
// Sum of `parts` partial results [parts, n] in order, into out [n].
void launch_sum_parts(const float* partial, int64_t parts, int64_t n, float* out, cudaStream_t s);
// Per group, w [groups*Kg, Cg, KHW] -> wt [groups][Cg][KHW][Kg] (k_inner) or [groups][Cg][Kg][KHW].
void launch_transpose_weights(const float* w, int64_t groups, int64_t Kg, int64_t Cg, int64_t KHW, bool k_inner,
                              float* wt, cudaStream_t s);

}  // namespace cuda
}  // namespace cc
