// Tiled float32 SGEMM for the convolution: C[M x N] = A[M x Kd] * B[Kd x N] per (batch, group), the
// operands from the loaders of kernels.cuh (every direction).
// 128x128 block tile, K step 8, 256 threads each holding an 8x8 register tile; A and B tiles are
// prefetched into registers while the current tile is multiplied from the other shared-memory buffer
// (double buffering: one __syncthreads per K step). Plain FMAs: exact float32, no tensor cores.
#include "common.cuh"
#include "kernels.cuh"
#include "loaders.cuh"

namespace cc {
namespace cuda {
namespace {

constexpr int BN = 128, BK = 8, THREADS = 256;

// sgemm: A [M, Kd], B [Kd, N] (loaded or gathered) -> C [M, N] + bias, per z = (batch, group).
// BM = 128, or 64 when M <= 64 (half the FMAs of a 128-row tile would be padding). Each thread owns
// RM blocks of 4 rows (64 apart) by 2 blocks of 4 columns (64 apart).
template <class AP, class BP, int BM>
__global__ void __launch_bounds__(THREADS) sgemm_kernel(GemmProblem p, AP ap, BP bp) {
  constexpr int RM = BM / 64;
  __shared__ __align__(16) float As[2][BK][BM];  // A transposed: a column of the tile is contiguous
  __shared__ __align__(16) float Bs[2][BK][BN];
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;       // compute: rows ty*4 (+64), columns tx*4 (+64)
  const bool a_loader = tid < BM * 2;           // BM*8 floats of A per step, 4 per loading thread
  const int a_m = tid / 2, a_k = (tid % 2) * 4;  // load A: one row, 4 consecutive k
  const int b_k = tid / 32, b_n = (tid % 32) * 4;  // load B: one k, 4 consecutive columns
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
        float ra[4] = {0.f, 0.f, 0.f, 0.f}, rb[4];
        auto fetch = [&](int64_t k0) {
          if (a_loader) al.load(m0 + a_m, k0 + a_k, ra);
          bl.load(k0 + b_k, rb);
          if (p.round_bf16)
#pragma unroll
            for (int j = 0; j < 4; ++j) ra[j] = bf16_round(ra[j]), rb[j] = bf16_round(rb[j]);
        };
        float acc[RM * 4][8];
#pragma unroll
        for (int i = 0; i < RM * 4; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

        __syncthreads();  // the previous tile's last reads of the shared buffers are done
        fetch(0);
        if (a_loader)
#pragma unroll
          for (int j = 0; j < 4; ++j) As[0][a_k + j][a_m] = ra[j];
        *reinterpret_cast<float4*>(&Bs[0][b_k][b_n]) = make_float4(rb[0], rb[1], rb[2], rb[3]);
        __syncthreads();

        int cur = 0;
        for (int64_t ks = 0; ks < ksteps; ++ks) {
          const bool more = ks + 1 < ksteps;
          if (more) fetch((ks + 1) * BK);  // next tile's global loads are in flight during the FMAs below
#pragma unroll
          for (int kk = 0; kk < BK; ++kk) {
            float a[RM * 4], b[8];
#pragma unroll
            for (int h = 0; h < RM; ++h) {
              const float4 t = *reinterpret_cast<const float4*>(&As[cur][kk][h * 64 + ty * 4]);
              a[h * 4] = t.x; a[h * 4 + 1] = t.y; a[h * 4 + 2] = t.z; a[h * 4 + 3] = t.w;
            }
            const float4 b0 = *reinterpret_cast<const float4*>(&Bs[cur][kk][tx * 4]);
            const float4 b1 = *reinterpret_cast<const float4*>(&Bs[cur][kk][64 + tx * 4]);
            b[0] = b0.x; b[1] = b0.y; b[2] = b0.z; b[3] = b0.w;
            b[4] = b1.x; b[5] = b1.y; b[6] = b1.z; b[7] = b1.w;
#pragma unroll
            for (int i = 0; i < RM * 4; ++i)
#pragma unroll
              for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
          }
          if (more) {
            const int nxt = cur ^ 1;  // last read in the previous step, before its barrier
            if (a_loader)
#pragma unroll
              for (int j = 0; j < 4; ++j) As[nxt][a_k + j][a_m] = ra[j];
            *reinterpret_cast<float4*>(&Bs[nxt][b_k][b_n]) = make_float4(rb[0], rb[1], rb[2], rb[3]);
            __syncthreads();
            cur = nxt;
          }
        }

        float* C = p.C + (img * K + g * p.M) * p.N;
#pragma unroll
        for (int i = 0; i < RM * 4; ++i) {
          const int64_t m = m0 + (i / 4) * 64 + ty * 4 + (i % 4);
          if (m >= p.M) continue;
          const float bias = p.bias ? __ldg(p.bias + g * p.M + m) : 0.f;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            float v[4] = {acc[i][h * 4], acc[i][h * 4 + 1], acc[i][h * 4 + 2], acc[i][h * 4 + 3]};
            store4(C + m * p.N, n0 + h * 64 + tx * 4, p.N, p.c_vec, bias, p.relu, v);
          }
        }
      }
}

}  // namespace

template <class AP, class BP>
void launch_sgemm(const GemmProblem& p, const AP& a, const BP& b, cudaStream_t s) {
  if (p.M <= 64) launch_gemm<64, BN, THREADS>(sgemm_kernel<AP, BP, 64>, p, a, b, s);
  else launch_gemm<128, BN, THREADS>(sgemm_kernel<AP, BP, 128>, p, a, b, s);
}

#define CC_INSTANTIATE(A, B) template void launch_sgemm<A, B>(const GemmProblem&, const A&, const B&, cudaStream_t);
CC_GEMM_OPERANDS(CC_INSTANTIATE)
#undef CC_INSTANTIATE

}  // namespace cuda
}  // namespace cc
