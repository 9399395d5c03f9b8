// The reductions of backward-weights: the bias gradient and the sum of split-K partial results. Both
// add in a fixed order, so a call gives the same bits every time.
#include "common.cuh"
#include "kernels.cuh"

namespace cc {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// bias gradient: dy [N, K, OHW] -> db [K]. One block per channel (grid-stride), float64 sums.
__global__ void bias_grad_kernel(const float* __restrict__ dy, int64_t N, int64_t K, int64_t OHW, float* __restrict__ db) {
  const int64_t terms = N * OHW;
  for (int64_t k = blockIdx.x; k < K; k += gridDim.x) {
    double acc = 0.0;
    for (int64_t t = threadIdx.x; t < terms; t += blockDim.x) {
      const int64_t n = t / OHW;
      acc += double(__ldg(dy + (n * K + k) * OHW + (t - n * OHW)));
    }
    acc = block_sum256(acc);
    if (threadIdx.x == 0) db[k] = float(acc);
  }
}

// sum of parts: partial [parts, n] -> out [n], part 0 first.
__global__ void sum_parts_kernel(const float* __restrict__ partial, int64_t parts, int64_t n, float* __restrict__ out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float acc = 0.f;
    for (int64_t q = 0; q < parts; ++q) acc += __ldg(partial + q * n + i);
    out[i] = acc;
  }
}

}  // namespace

void launch_bias_grad(const float* dy, int64_t N, int64_t K, int64_t OHW, float* db, cudaStream_t s) {
  CC_LAUNCH(bias_grad_kernel, clamp_grid(K, 1 << 20), kThreads, 0, s)(dy, N, K, OHW, db);
  CC_CUDA_LAUNCH_CHECK("bias_grad_kernel");
}

void launch_sum_parts(const float* partial, int64_t parts, int64_t n, float* out, cudaStream_t s) {
  CC_LAUNCH(sum_parts_kernel, clamp_grid(ceil_div(n, kThreads), 1 << 20), kThreads, 0, s)(partial, parts, n, out);
  CC_CUDA_LAUNCH_CHECK("sum_parts_kernel");
}

}  // namespace cuda
}  // namespace cc
