// TF32 tensor-core GEMM (precision 'tf32'; compute capability 8.0 and newer): the same problem as
// gemm_fp32.cu, with operands rounded to TF32 (10-bit mantissa) and products summed in float32 by
// wmma m16n16k8. 128x128 block tile, K step 16, 8 warps each owning a 64x32 sub-tile (4x2
// fragments); the same register prefetch + two shared-memory buffers as the fp32 kernel.
#include <mma.h>

#include "common.cuh"
#include "kernels.cuh"
#include "loaders.cuh"

namespace cc {
namespace cuda {
namespace {

constexpr int BM = 128, BN = 128, BK = 16, THREADS = 256;
[[maybe_unused]] constexpr int LDA = BK + 4, LDB = BN + 4;  // padded rows; fragment pointers stay 32-byte aligned

// tf32 gemm: A [M, Kd], B [Kd, N] -> C [M, N] + bias, per z = (image, group)
template <class BP>
__global__ void __launch_bounds__(THREADS) tf32_kernel(GemmProblem p, BP bp) {
#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800) || defined(CC_CUDA_EMULATE)
  using namespace nvcuda;
  __shared__ __align__(32) float As[2][BM][LDA];
  __shared__ __align__(32) float Bs[2][BK][LDB];
  __shared__ __align__(32) float stage[THREADS / 32][16 * 16];
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / 4, wn = warp % 4;  // warp sub-tile: rows wm*64, columns wn*32
  const int a_m = tid / 4, a_k = (tid % 4) * 4;     // load A: rows a_m and a_m + 64, 4 consecutive k
  const int b_k = tid / 32, b_n = (tid % 32) * 4;   // load B: rows b_k and b_k + 8, 4 columns
  const int64_t tilesM = ceil_div_d(p.M, BM), tilesN = ceil_div_d(p.N, BN);
  const int64_t Z = p.images * p.groups, K = p.M * p.groups;
  const int64_t ksteps = ceil_div_d(p.Kd, BK);

  for (int64_t z = blockIdx.z; z < Z; z += gridDim.z)
    for (int64_t tm = blockIdx.y; tm < tilesM; tm += gridDim.y)
      for (int64_t tn = blockIdx.x; tn < tilesN; tn += gridDim.x) {
        const int64_t img = z / p.groups, g = z - img * p.groups;
        const int64_t m0 = tm * BM, n0 = tn * BN;
        const float* A = p.A + g * p.M * p.Kd;
        const BLoader<BP> bl(bp, img, g, n0 + b_n, p.N, p.Kd);
        float ra[2][4], rb[2][4];
        wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4][2];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

        auto fetch = [&](int64_t k0) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            load_a4(A, p.M, p.Kd, p.a_vec, m0 + a_m + h * 64, k0 + a_k, ra[h]);
            bl.load(k0 + b_k + h * 8, rb[h]);
          }
        };
        auto put = [&](int buf) {  // rounded to TF32 once here, not per fragment load
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            float* a = &As[buf][a_m + h * 64][a_k];
            float* b = &Bs[buf][b_k + h * 8][b_n];
#pragma unroll
            for (int j = 0; j < 4; ++j) {
              a[j] = wmma::__float_to_tf32(ra[h][j]);
              b[j] = wmma::__float_to_tf32(rb[h][j]);
            }
          }
        };

        __syncthreads();  // the previous tile is done with the shared buffers
        fetch(0);
        put(0);
        __syncthreads();
        int cur = 0;
        for (int64_t ks = 0; ks < ksteps; ++ks) {
          const bool more = ks + 1 < ksteps;
          if (more) fetch((ks + 1) * BK);
#pragma unroll
          for (int kk = 0; kk < BK; kk += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a[4];
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[2];
#pragma unroll
            for (int i = 0; i < 4; ++i) wmma::load_matrix_sync(a[i], &As[cur][wm * 64 + i * 16][kk], LDA);
#pragma unroll
            for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], &Bs[cur][kk][wn * 32 + j * 16], LDB);
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
              for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
          }
          if (more) {
            put(cur ^ 1);
            __syncthreads();
            cur ^= 1;
          }
        }

        // Epilogue through a per-warp 16x16 staging tile: bias, relu and bounds per element.
        float* C = p.C + (img * K + g * p.M) * p.N;
        float* st = stage[warp];
        const int r = lane / 2, c0 = (lane % 2) * 8;
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            wmma::store_matrix_sync(st, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            const int64_t m = m0 + wm * 64 + i * 16 + r;
            const int64_t n = n0 + wn * 32 + j * 16 + c0;
            if (m < p.M) {
              const float bias = p.bias ? __ldg(p.bias + g * p.M + m) : 0.f;
#pragma unroll
              for (int h = 0; h < 2; ++h) {
                float v[4] = {st[r * 16 + c0 + h * 4], st[r * 16 + c0 + h * 4 + 1], st[r * 16 + c0 + h * 4 + 2],
                              st[r * 16 + c0 + h * 4 + 3]};
                store4(C + m * p.N, n + h * 4, p.N, p.c_vec, bias, p.relu, v);
              }
            }
            __syncwarp();
          }
      }
#else
  __trap();  // the launcher never sends TF32 work to a device older than 8.0
#endif
}

template <class BP>
void launch(const GemmProblem& p, const BP& b, cudaStream_t s) {
  const dim3 grid(clamp_grid(ceil_div(p.N, BN), 0x7fffffff), clamp_grid(ceil_div(p.M, BM)),
                  clamp_grid(p.images * p.groups));
  auto* kernel = tf32_kernel<BP>;
  CC_LAUNCH(kernel, grid, THREADS, 0, s)(p, b);
  CC_CUDA_LAUNCH_CHECK("tf32_kernel");
}

}  // namespace

void launch_tf32(const GemmProblem& p, const DenseB& b, cudaStream_t s) { launch(p, b, s); }
void launch_tf32(const GemmProblem& p, const ImplicitB& b, cudaStream_t s) { launch(p, b, s); }

}  // namespace cuda
}  // namespace cc
