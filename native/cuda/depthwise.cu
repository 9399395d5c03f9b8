// Direct convolution for one input channel per group (depthwise, Cin/groups = 1): a GEMM per group
// would have M = Cout/groups rows (often 1) and Kd = KH*KW, almost all padding in a 64-row tile.
#include "common.cuh"
#include "kernels.cuh"

namespace cc {
namespace cuda {
namespace {

// depthwise: x [N, C, H, W], w [K, 1, KH, KW] -> y [N, K, OH, OW]; output channel k reads input
// channel k / (K/C). One thread per output element, grid-stride loop, consecutive ow per warp.
__global__ void depthwise_kernel(ImplicitB g, int64_t N, int64_t K, int64_t OH, const float* __restrict__ w,
                                 const float* __restrict__ bias, bool relu, float* __restrict__ y) {
  const int64_t OHW = OH * g.OW, total = N * K * OHW, mult = K / g.C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t pix = i % OHW, nk = i / OHW, k = nk % K, n = nk / K;
    const int64_t oh = pix / g.OW, ow = pix - oh * g.OW;
    const float* plane = g.x + (n * g.C + k / mult) * g.H * g.W;
    const float* wk = w + k * g.KH * g.KW;
    float acc = 0.f;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t iw = ow * g.sw - g.pl + kw * g.dw;
        if (iw >= 0 && iw < g.W) acc = fmaf(__ldg(plane + ih * g.W + iw), __ldg(wk + kh * g.KW + kw), acc);
      }
    }
    if (bias) acc += __ldg(bias + k);
    if (relu && acc < 0.f) acc = 0.f;
    y[i] = acc;
  }
}

}  // namespace

void launch_depthwise(const ImplicitB& g, int64_t N, int64_t K, int64_t OH, const float* w, const float* bias,
                      bool relu, float* y, cudaStream_t s) {
  const int64_t total = N * K * OH * g.OW;
  const int threads = 256;
  CC_LAUNCH(depthwise_kernel, clamp_grid(ceil_div(total, threads), 1 << 20), threads, 0, s)(g, N, K, OH, w, bias, relu, y);
  CC_CUDA_LAUNCH_CHECK("depthwise_kernel");
}

}  // namespace cuda
}  // namespace cc
