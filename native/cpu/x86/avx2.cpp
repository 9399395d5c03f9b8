// AVX2 + FMA micro-kernel, 6 x 16: 12 ymm accumulators; per k, 2 loads of B and 6 broadcasts of A
// feed 12 FMAs. Compiled with -mavx2 -mfma (this file only); called only after cpuid says so.
#include <immintrin.h>

#include "../kernels.h"
#include "../ref/ops.h"
#include "../ref/ref.h"

namespace cc {
namespace {

constexpr int MR = 6, NR = 16, NV = NR / 8;

// kOffsets: B row k at b + offs[k] (rows read in place, see KernelSet::ukernel_rows); else packed.
template <bool kOffsets>
void ukernel_t(int64_t kc, const float* a, const float* b, const int64_t* offs, float* c, int64_t rs, int64_t cs, int m,
               int n, const float* bias, int flags) {
  // Named accumulators, not an array: GCC spilled an array it also indexed in the epilogue on every
  // iteration of the k loop.
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = kOffsets ? b + offs[k] : b;
    const __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
    __m256 ai = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(ai, b0, c00); c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10); c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20); c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30); c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40); c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50); c51 = _mm256_fmadd_ps(ai, b1, c51);
    a += MR;
    if (!kOffsets) b += NR;
  }
  alignas(32) float t[MR * NR];
  const __m256 acc[MR][NV] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (cs == 1 && m == MR && n == NR) {
    const __m256 zero = _mm256_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      float* ci = c + i * rs;
      const __m256 init = _mm256_set1_ps(bias ? bias[i] : 0.0f);
      for (int v = 0; v < NV; ++v) {
        __m256 r = acc[i][v];
        r = (flags & kUkAccumulate) ? _mm256_add_ps(r, _mm256_loadu_ps(ci + 8 * v)) : _mm256_add_ps(r, init);
        if (flags & kUkRelu) r = _mm256_max_ps(r, zero);
        _mm256_storeu_ps(ci + 8 * v, r);
      }
    }
    return;
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) _mm256_store_ps(t + i * NR + 8 * v, acc[i][v]);
  ref::store_tile(t, NR, c, rs, cs, m, n, bias, flags);
}


// Stride 1: 8 outputs in a register across all rows and taps; row edges through masked loads.
void direct_row(const float* const* x, const float* const* w, int64_t nrows, int64_t W, int64_t KW,
                int64_t pl, int64_t dw, int64_t sw, float* y, int64_t OW, float bias, int flags) {
  if (sw != 1) return ref::direct_row(x, w, nrows, W, KW, pl, dw, sw, y, OW, bias, flags);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t ow0 = 0; ow0 < OW; ow0 += 8) {
    const __m256i out = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(imin(8, OW - ow0))), lane);
    const bool whole = ow0 + 8 <= OW;  // vmaskmovps stores are slow on AMD: only for the tail
    __m256 acc = !(flags & kUkAccumulate) ? _mm256_set1_ps(bias)
                 : whole ? _mm256_loadu_ps(y + ow0) : _mm256_maskload_ps(y + ow0, out);
    for (int64_t kw = 0; kw < KW; ++kw) {
      const int64_t off = ow0 + kw * dw - pl;
      const int64_t lo = imax(0, -off), hi = imin(8, W - off);
      if (hi <= lo) continue;
      const bool full = lo == 0 && hi == 8;
      const __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(int(lo) - 1)),
                                         _mm256_cmpgt_epi32(_mm256_set1_epi32(int(hi)), lane));
      for (int64_t r = 0; r < nrows; ++r) {
        const __m256 v = full ? _mm256_loadu_ps(x[r] + off) : _mm256_maskload_ps(x[r] + off, m);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(w[r][kw]), v, acc);
      }
    }
    if (flags & kUkRelu) acc = _mm256_max_ps(acc, _mm256_setzero_ps());
    if (whole) _mm256_storeu_ps(y + ow0, acc);
    else _mm256_maskstore_ps(y + ow0, out, acc);
  }
}

// Two rows as two single-row passes over the rows each uses.
void direct_row2(const float* const* x, const float* const* wa, const float* const* wb, int64_t nrows,
                 int64_t W, int64_t KW, int64_t pl, int64_t dw, int64_t sw, float* y0, float* y1, int64_t OW,
                 float bias, int flags) {
  ref::direct_row2(direct_row, x, wa, wb, nrows, W, KW, pl, dw, sw, y0, y1, OW, bias, flags);
}

// B packing primitives (pack_b.inl): 8 lanes, scalar tails.
typedef float PackVec __attribute__((vector_size(32), aligned(1), may_alias));
#include "../ref/lane_pack.inl"
void pb_gather(float* d, const float* s, int64_t inc, int n) {
  for (int i = 0; i < n; ++i) d[i] = s[i * inc];
}

#include "../ref/pack_b.inl"

#include "../ref/bf16_portable.inl"
#include "../ref/gemm_bf16.inl"
#include "../ref/peak.inl"
#include "../ref/winograd.inl"

float peak(int64_t iters, float seed) {
  return peak_chains<__m256>(
      iters, seed, [](float v) { return _mm256_set1_ps(v); },
      [](__m256 x, __m256 a, __m256 b) { return _mm256_fmadd_ps(x, a, b); },
      [](__m256 v) {
        alignas(32) float t[8];
        _mm256_store_ps(t, v);
        return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
      });
}

#include "../ref/ukernel.inl"

// bf16, emulated (AVX2 has no bfloat16 arithmetic): 4 x 16 tiles, 8 accumulators plus the widened
// B pairs and A pair in 16 ymm registers.
typedef float F8 __attribute__((vector_size(32)));
F8 fma8(F8 a, F8 b, F8 c) { return F8(_mm256_fmadd_ps(__m256(a), __m256(b), __m256(c))); }
using Bf16 = EmulatedBf16<4, 2, F8, fma8>;

}  // namespace

extern const KernelSet kAvx2 = {"avx2", MR, NR, 256, 480, ukernel, ukernel_rows, pack_b, direct_row,
                                direct_row2, ref::gather, peak, kPeakChains * 8 * 2, &Bf16::gemm, wino_in, wino_out};

}  // namespace cc
