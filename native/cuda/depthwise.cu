// Direct kernels for one input channel per group (depthwise, Cin/groups = 1), every direction: a
// GEMM per group would have M = Cout/groups rows (often 1) and Kd = KH*KW, almost all padding in a
// 64-row tile. Output channel k reads input channel k / mult (mult = K / C). Sums in float32 over
// operands rounded to bfloat16 first when `round_bf16` (precision 'bf16'); exact otherwise.
#include "common.cuh"
#include "kernels.cuh"
#include "loaders.cuh"

namespace cc {
namespace cuda {
namespace {

__device__ inline float op(float v, bool round_bf16) { return round_bf16 ? bf16_round(v) : v; }

// depthwise forward: x [N, C, H, W], w [K, 1, KH, KW] -> y [N, K, OH, OW]. One thread per output
// element, grid-stride loop, consecutive ow per warp.
__global__ void depthwise_kernel(const float* __restrict__ x, Geometry g, int64_t N, const float* __restrict__ w,
                                 const float* __restrict__ bias, bool relu, bool rnd, float* __restrict__ y) {
  const int64_t OHW = g.OH * g.OW, total = N * g.K * OHW, mult = g.K / g.C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t pix = i % OHW, nk = i / OHW, k = nk % g.K, n = nk / g.K;
    const int64_t oh = pix / g.OW, ow = pix - oh * g.OW;
    const float* plane = x + (n * g.C + k / mult) * g.H * g.W;
    const float* wk = w + k * g.KH * g.KW;
    float acc = 0.f;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t iw = ow * g.sw - g.pl + kw * g.dw;
        if (iw >= 0 && iw < g.W)
          acc = fmaf(op(__ldg(plane + ih * g.W + iw), rnd), op(__ldg(wk + kh * g.KW + kw), rnd), acc);
      }
    }
    if (bias) acc += __ldg(bias + k);
    if (relu && acc < 0.f) acc = 0.f;
    y[i] = acc;
  }
}

// depthwise backward-data: dy [N, K, OH, OW], w [K, 1, KH, KW] -> dx [N, C, H, W]. One thread per
// input pixel, gathering the outputs whose windows cover it (no atomics).
__global__ void depthwise_data_kernel(const float* __restrict__ dy, Geometry g, int64_t N, const float* __restrict__ w,
                                      const float* __restrict__ bias, bool relu, bool rnd, float* __restrict__ dx) {
  const int64_t HW = g.H * g.W, total = N * g.C * HW, mult = g.K / g.C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t pix = i % HW, nc = i / HW, c = nc % g.C, n = nc / g.C;
    const int64_t th0 = pix / g.W + g.pt, tw0 = pix % g.W + g.pl;
    float acc = 0.f;
    for (int64_t j = 0; j < mult; ++j) {
      const int64_t k = c * mult + j;
      const float* plane = dy + (n * g.K + k) * g.OH * g.OW;
      const float* wk = w + k * g.KH * g.KW;
      for_each_tap(g, th0, tw0, [&](int64_t kh, int64_t kw, int64_t oh, int64_t ow) {
        acc = fmaf(op(__ldg(plane + oh * g.OW + ow), rnd), op(__ldg(wk + kh * g.KW + kw), rnd), acc);
      });
    }
    if (bias) acc += __ldg(bias + c);
    if (relu && acc < 0.f) acc = 0.f;
    dx[i] = acc;
  }
}

// depthwise backward-weights: x, dy -> dw [K, 1, KH, KW]. One block per weight (grid-stride), its
// threads striding over the N*OH*OW products, then one fixed-order block sum.
__global__ void depthwise_weights_kernel(const float* __restrict__ x, const float* __restrict__ dy, Geometry g,
                                         int64_t N, bool rnd, float* __restrict__ dw) {
  const int64_t KHW = g.KH * g.KW, OHW = g.OH * g.OW, terms = N * OHW, mult = g.K / g.C;
  for (int64_t o = blockIdx.x; o < g.K * KHW; o += gridDim.x) {
    const int64_t k = o / KHW, r = o - k * KHW, kh = r / g.KW, kw = r - kh * g.KW;
    double acc = 0.0;
    for (int64_t t = threadIdx.x; t < terms; t += blockDim.x) {
      const int64_t n = t / OHW, pix = t - n * OHW, oh = pix / g.OW, ow = pix - oh * g.OW;
      const int64_t ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
      if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
      const float xv = op(__ldg(x + ((n * g.C + k / mult) * g.H + ih) * g.W + iw), rnd);
      acc += double(xv * op(__ldg(dy + (n * g.K + k) * OHW + pix), rnd));
    }
    acc = block_sum256(acc);
    if (threadIdx.x == 0) dw[o] = float(acc);
  }
}

constexpr int kThreads = 256;
unsigned blocks_for(int64_t total) { return clamp_grid(ceil_div(total, kThreads), 1 << 20); }

}  // namespace

void launch_depthwise(const float* x, const Geometry& g, int64_t N, const float* w, const float* bias, bool relu,
                      bool round_bf16, float* y, cudaStream_t s) {
  CC_LAUNCH(depthwise_kernel, blocks_for(N * g.K * g.OH * g.OW), kThreads, 0, s)(x, g, N, w, bias, relu, round_bf16, y);
  CC_CUDA_LAUNCH_CHECK("depthwise_kernel");
}

void launch_depthwise_data(const float* dy, const Geometry& g, int64_t N, const float* w, const float* bias, bool relu,
                           bool round_bf16, float* dx, cudaStream_t s) {
  CC_LAUNCH(depthwise_data_kernel, blocks_for(N * g.C * g.H * g.W), kThreads, 0, s)(dy, g, N, w, bias, relu, round_bf16, dx);
  CC_CUDA_LAUNCH_CHECK("depthwise_data_kernel");
}

void launch_depthwise_weights(const float* x, const float* dy, const Geometry& g, int64_t N, bool round_bf16, float* dw,
                              cudaStream_t s) {
  CC_LAUNCH(depthwise_weights_kernel, clamp_grid(g.K * g.KH * g.KW, 1 << 20), kThreads, 0, s)(x, dy, g, N, round_bf16, dw);
  CC_CUDA_LAUNCH_CHECK("depthwise_weights_kernel");
}

}  // namespace cuda
}  // namespace cc
