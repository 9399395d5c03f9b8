// The data movement of the GEMM paths: im2col (forward), col2im (backward-data) and the per-group
// weight transposes (backward-data's A).
#include "common.cuh"
#include "kernels.cuh"
#include "loaders.cuh"

namespace cc {
namespace cuda {
namespace {

constexpr int kThreads = 256;
unsigned blocks_for(int64_t total) { return clamp_grid(ceil_div(total, kThreads), 1 << 20); }

// im2col: [images, C, H, W] -> [images, C*KH*KW, OH*OW]; one thread per output element, grid-stride
// loop (the grid is clamped), consecutive threads write consecutive output pixels.
__global__ void im2col_kernel(const float* __restrict__ x, Geometry g, int64_t total, float* __restrict__ cols) {
  const int64_t OHW = g.OH * g.OW, KHW = g.KH * g.KW;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i % OHW;
    const int64_t row = i / OHW;  // image * C*KH*KW + (c, kh, kw)
    const int64_t ck = row % (g.C * KHW), img = row / (g.C * KHW);
    const int64_t c = ck / KHW, r = ck - c * KHW, kh = r / g.KW, kw = r - kh * g.KW;
    const int64_t oh = n / g.OW, ow = n - oh * g.OW;
    const int64_t ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
    cols[i] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? __ldg(x + ((img * g.C + c) * g.H + ih) * g.W + iw) : 0.f;
  }
}

// col2im: [images, C*KH*KW, OH*OW] -> [images, C, H, W] (+bias[c], relu); one thread per input
// pixel, summing the column entries that read it in (kh, kw) order.
__global__ void col2im_kernel(const float* __restrict__ cols, Geometry g, int64_t total, const float* __restrict__ bias,
                              bool relu, float* __restrict__ dx) {
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW, KHW = g.KH * g.KW;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t pix = i % HW, ic = i / HW, c = ic % g.C;  // ic = image * C + c
    const int64_t th0 = pix / g.W + g.pt, tw0 = pix % g.W + g.pl;
    const float* col = cols + ic * KHW * OHW;
    float acc = 0.f;
    for_each_tap(g, th0, tw0, [&](int64_t kh, int64_t kw, int64_t oh, int64_t ow) {
      acc += __ldg(col + (kh * g.KW + kw) * OHW + oh * g.OW + ow);
    });
    if (bias) acc += __ldg(bias + c);
    if (relu && acc < 0.f) acc = 0.f;
    dx[i] = acc;
  }
}

// transpose: per group, w [Kg, Cg, KHW] -> [Cg, KHW, Kg] (k_inner) or [Cg, Kg, KHW]; one thread per
// element of the result.
__global__ void transpose_weights_kernel(const float* __restrict__ w, int64_t total, int64_t Kg, int64_t Cg,
                                         int64_t KHW, bool k_inner, float* __restrict__ wt) {
  const int64_t per_group = Kg * Cg * KHW;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t g = i / per_group, j = i - g * per_group;
    int64_t k, c, r;
    if (k_inner) {
      k = j % Kg;
      c = j / (Kg * KHW);
      r = (j / Kg) % KHW;
    } else {
      r = j % KHW;
      k = (j / KHW) % Kg;
      c = j / (Kg * KHW);
    }
    wt[i] = __ldg(w + g * per_group + (k * Cg + c) * KHW + r);
  }
}

}  // namespace

void launch_im2col(const float* x, const Geometry& g, int64_t images, float* cols, cudaStream_t s) {
  const int64_t total = images * g.C * g.KH * g.KW * g.OH * g.OW;
  CC_LAUNCH(im2col_kernel, blocks_for(total), kThreads, 0, s)(x, g, total, cols);
  CC_CUDA_LAUNCH_CHECK("im2col_kernel");
}

void launch_col2im(const float* cols, const Geometry& g, int64_t images, const float* bias, bool relu, float* dx,
                   cudaStream_t s) {
  const int64_t total = images * g.C * g.H * g.W;
  CC_LAUNCH(col2im_kernel, blocks_for(total), kThreads, 0, s)(cols, g, total, bias, relu, dx);
  CC_CUDA_LAUNCH_CHECK("col2im_kernel");
}

void launch_transpose_weights(const float* w, int64_t groups, int64_t Kg, int64_t Cg, int64_t KHW, bool k_inner,
                              float* wt, cudaStream_t s) {
  const int64_t total = groups * Kg * Cg * KHW;
  CC_LAUNCH(transpose_weights_kernel, blocks_for(total), kThreads, 0, s)(w, total, Kg, Cg, KHW, k_inner, wt);
  CC_CUDA_LAUNCH_CHECK("transpose_weights_kernel");
}

}  // namespace cuda
}  // namespace cc
