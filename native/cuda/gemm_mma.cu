// Tensor-core GEMM through wmma (compute capability 8.0 and newer): the same problem as gemm_fp32.cu,
// with A and B rounded once to the precision's operand type when they are stored to shared memory,
// and products summed in float32. TF32: m16n16k8, operands with a 10-bit mantissa (round to nearest,
// ties away, as cvt.rna.tf32). BF16: m16n16k16, bfloat16 operands (round to nearest even). 128x128
// block tile, K step 16, 8 warps each owning a 64x32 sub-tile (4x2 fragments); register prefetch +
// two shared-memory buffers as the fp32 kernel.
#include <cuda_bf16.h>
#include <mma.h>

#include "common.cuh"
#include "kernels.cuh"
#include "loaders.cuh"

namespace cc {
namespace cuda {
namespace {

constexpr int BM = 128, BN = 128, THREADS = 256;
[[maybe_unused]] constexpr int BK = 16;  // (only the sm_80+ kernel body reads it)

// Per precision: the operand type in shared memory and in the fragments, the fragment depth, the
// conversion, and the row padding (keeps fragment pointers 32-byte aligned, ldm a multiple of 16 bytes).
template <Precision P>
struct Mma;
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800 || defined(CC_CUDA_EMULATE)
template <>
struct Mma<Precision::TF32> {
  using Elem = float;
  using Frag = nvcuda::wmma::precision::tf32;
  static constexpr int FK = 8, PAD = 4;
  static __device__ Elem convert(float f) { return nvcuda::wmma::__float_to_tf32(f); }
};
template <>
struct Mma<Precision::BF16> {
  using Elem = __nv_bfloat16;
  using Frag = __nv_bfloat16;
  static constexpr int FK = 16, PAD = 8;
  static __device__ Elem convert(float f) { return __float2bfloat16(f); }
};
#endif

// mma gemm: A [M, Kd], B [Kd, N] (loaded or gathered) -> C [M, N] + bias, per z = (batch, group)
template <Precision P, class AP, class BP>
__global__ void __launch_bounds__(THREADS) mma_kernel(GemmProblem p, AP ap, BP bp) {
#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800) || defined(CC_CUDA_EMULATE)
  using namespace nvcuda;
  using T = Mma<P>;
  using E = typename T::Elem;
  constexpr int LDA = BK + T::PAD, LDB = BN + T::PAD, FK = T::FK;
  __shared__ __align__(32) E As[2][BM][LDA];
  __shared__ __align__(32) E Bs[2][BK][LDB];
  __shared__ __align__(32) float stage[THREADS / 32][16 * 16];
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / 4, wn = warp % 4;  // warp sub-tile: rows wm*64, columns wn*32
  const int a_m = tid / 4, a_k = (tid % 4) * 4;     // load A: rows a_m and a_m + 64, 4 consecutive k
  const int b_k = tid / 32, b_n = (tid % 32) * 4;   // load B: rows b_k and b_k + 8, 4 columns
  const int64_t tilesM = ceil_div_d(p.M, BM), tilesN = ceil_div_d(p.N, BN);
  const int64_t Z = p.batches * p.groups, K = p.M * p.groups;
  const int64_t ksteps = ceil_div_d(p.Kd, BK);

  for (int64_t z = blockIdx.z; z < Z; z += gridDim.z)
    for (int64_t tm = blockIdx.y; tm < tilesM; tm += gridDim.y)
      for (int64_t tn = blockIdx.x; tn < tilesN; tn += gridDim.x) {
        const int64_t img = z / p.groups, g = z - img * p.groups;
        const int64_t m0 = tm * BM, n0 = tn * BN;
        const ALoader<AP> al(ap, img, g, p.M, p.Kd);
        const BLoader<BP> bl(bp, img, g, n0 + b_n, p.N, p.Kd);
        float ra[2][4], rb[2][4];
        wmma::fragment<wmma::accumulator, 16, 16, FK, float> acc[4][2];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

        auto fetch = [&](int64_t k0) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            al.load(m0 + a_m + h * 64, k0 + a_k, ra[h]);
            bl.load(k0 + b_k + h * 8, rb[h]);
          }
        };
        auto put = [&](int buf) {  // rounded once here, not per fragment load
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            E* a = &As[buf][a_m + h * 64][a_k];
            E* b = &Bs[buf][b_k + h * 8][b_n];
#pragma unroll
            for (int j = 0; j < 4; ++j) {
              a[j] = T::convert(ra[h][j]);
              b[j] = T::convert(rb[h][j]);
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
          for (int kk = 0; kk < BK; kk += FK) {
            wmma::fragment<wmma::matrix_a, 16, 16, FK, typename T::Frag, wmma::row_major> a[4];
            wmma::fragment<wmma::matrix_b, 16, 16, FK, typename T::Frag, wmma::row_major> b[2];
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
  __trap();  // the launcher never sends tensor-core work to a device older than 8.0
#endif
}

}  // namespace

template <class AP, class BP>
void launch_mma(Precision precision, const GemmProblem& p, const AP& a, const BP& b, cudaStream_t s) {
  if (precision == Precision::BF16) launch_gemm<BM, BN, THREADS>(mma_kernel<Precision::BF16, AP, BP>, p, a, b, s);
  else launch_gemm<BM, BN, THREADS>(mma_kernel<Precision::TF32, AP, BP>, p, a, b, s);
}

#define CC_INSTANTIATE(A, B) \
  template void launch_mma<A, B>(Precision, const GemmProblem&, const A&, const B&, cudaStream_t);
CC_GEMM_OPERANDS(CC_INSTANTIATE)
#undef CC_INSTANTIATE

}  // namespace cuda
}  // namespace cc
