// im2col on the GPU, for the Algo::Im2colGemm path.
#include "common.cuh"
#include "kernels.cuh"

namespace cc {
namespace cuda {
namespace {

// im2col: [images, C, H, W] -> [images, C*KH*KW, OH*OW]; one thread per output element, grid-stride
// loop (the grid is clamped), consecutive threads write consecutive output pixels.
__global__ void im2col_kernel(ImplicitB g, int64_t OH, int64_t total, float* cols) {
  const int64_t OHW = OH * g.OW, KHW = g.KH * g.KW;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i % OHW;
    const int64_t row = i / OHW;  // image * C*KH*KW + (c, kh, kw)
    const int64_t ck = row % (g.C * KHW), img = row / (g.C * KHW);
    const int64_t c = ck / KHW, r = ck - c * KHW, kh = r / g.KW, kw = r - kh * g.KW;
    const int64_t oh = n / g.OW, ow = n - oh * g.OW;
    const int64_t ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
    cols[i] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? __ldg(g.x + ((img * g.C + c) * g.H + ih) * g.W + iw) : 0.f;
  }
}

}  // namespace

void launch_im2col(const ImplicitB& g, int64_t images, int64_t OH, float* cols, cudaStream_t s) {
  const int64_t total = images * g.C * g.KH * g.KW * OH * g.OW;
  const int threads = 256;
  CC_LAUNCH(im2col_kernel, clamp_grid(ceil_div(total, threads), 1 << 20), threads, 0, s)(g, OH, total, cols);
  CC_CUDA_LAUNCH_CHECK("im2col_kernel");
}

}  // namespace cuda
}  // namespace cc
