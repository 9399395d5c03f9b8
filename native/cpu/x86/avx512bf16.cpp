// AVX512_BF16 bf16 GEMM: an 8 x 48 micro-kernel on pairs (vdpbf16ps: per lane, two bf16 products
// summed into an fp32 accumulator, at the fp32 FMA's rate, so twice its multiply-adds), and packing
// that converts with vcvtne2ps2bf16. Compiled with -mavx512bf16 and the AVX-512 flags (this file
// only); called only after cpuid says the CPU has AVX512_BF16 (kernel_table.cpp). The fp32 kernels
// of its kernel set are avx512.cpp's.
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // as in avx512.cpp: _mm512_max_ps's header

#include "../kernels.h"
#include "../ref/ops.h"
#include "../ref/ref.h"

namespace cc {
namespace {

constexpr int MR = 8, NR = 48, NV = NR / 16;

#include "avx512_tile.inl"

__attribute__((always_inline)) inline __m512bh as_bh(__m512i v) { return (__m512bh)v; }

// C[m x n] (op)= A[MR x 2kp] * B[2kp x NR] on pairs: per pair step, 3 loads of B and 8 broadcasts of
// A pairs feed 24 vdpbf16ps. kOffsets: B row k at b + offs[k]; kRows: rows computed (4 for a last
// panel with m <= 4), as the fp32 kernel.
template <bool kOffsets, int kRows = MR>
void ukernel_t(int64_t kp, const Bf16Pair* a, const Bf16Pair* b, const int64_t* offs, float* c, int64_t rs,
               int64_t cs, int m, int n, const float* bias, int flags) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kp; ++k) {
    const Bf16Pair* bk = kOffsets ? b + offs[k] : b;
    const __m512bh b0 = as_bh(_mm512_loadu_si512(bk)), b1 = as_bh(_mm512_loadu_si512(bk + 16)),
                   b2 = as_bh(_mm512_loadu_si512(bk + 32));
    for (int i = 0; i < kRows; ++i) {
      const __m512bh ai = as_bh(_mm512_set1_epi32(int(a[i])));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
      acc[i][2] = _mm512_dpbf16_ps(acc[i][2], ai, b2);
    }
    a += MR;
    if (!kOffsets) b += NR;
  }
  store_acc(acc, c, rs, cs, m, n, bias, flags);
}

void ukernel(int64_t kp, const Bf16Pair* a, const Bf16Pair* b, float* c, int64_t rs, int64_t cs, int m, int n,
             const float* bias, int flags) {
  if (m <= 4) ukernel_t<false, 4>(kp, a, b, nullptr, c, rs, cs, m, n, bias, flags);
  else ukernel_t<false>(kp, a, b, nullptr, c, rs, cs, m, n, bias, flags);
}
void ukernel_rows(int64_t kp, const Bf16Pair* a, const Bf16Pair* b, const int64_t* offs, float* c, int64_t rs,
                  int m, int n, const float* bias, int flags) {
  if (m <= 4) ukernel_t<true, 4>(kp, a, b, offs, c, rs, 1, m, n, bias, flags);
  else ukernel_t<true>(kp, a, b, offs, c, rs, 1, m, n, bias, flags);
}

// 16 pairs from two vectors of 16 floats: vcvtne2ps2bf16 gives [bf16(lo) x 16 | bf16(hi) x 16], and a
// word permutation interleaves them.
__attribute__((always_inline)) inline __m512i interleave_pairs(__m512 lo, __m512 hi) {
  const __m512i idx = _mm512_setr_epi32(0x00100000, 0x00110001, 0x00120002, 0x00130003, 0x00140004, 0x00150005,
                                        0x00160006, 0x00170007, 0x00180008, 0x00190009, 0x001A000A, 0x001B000B,
                                        0x001C000C, 0x001D000D, 0x001E000E, 0x001F000F);
  return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

__attribute__((always_inline)) inline __mmask16 first(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
}

// The even lanes of s[0 .. 2*cnt - 1], loads masked to the floats used.
__attribute__((always_inline)) inline __m512 even_lanes(const float* s, int cnt) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const int used = 2 * cnt - 1;
  const __mmask16 ma = first(used), mb = used > 16 ? first(used - 16) : __mmask16(0);
  return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(ma, s), even, _mm512_maskz_loadu_ps(mb, s + 16));
}

// PackPairs for one segment (pack_b's panel runs, the implicit GEMM's row copies): contiguous rows
// (NCHW stride 1), stride 2 (NCHW stride 2), and adjacent channels (NHWC: s1 = s0 + 1, a 64-bit
// gather per pair); anything else portably.
void pb_pairs(Bf16Pair* d, const float* s0, const float* s1, int64_t inc, int n) {
  if (inc == 1 || inc == 2) {
    for (int i = 0; i < n; i += 16) {
      const int cnt = int(imin(16, n - i));
      const __mmask16 m = first(cnt);
      __m512 lo, hi = _mm512_setzero_ps();
      if (inc == 1) {
        lo = _mm512_maskz_loadu_ps(m, s0 + i);
        if (s1) hi = _mm512_maskz_loadu_ps(m, s1 + i);
      } else {
        lo = even_lanes(s0 + 2 * i, cnt);
        if (s1) hi = even_lanes(s1 + 2 * i, cnt);
      }
      _mm512_mask_storeu_epi32(d + i, m, interleave_pairs(lo, hi));
    }
    return;
  }
  if (s1 == s0 + 1 && inc > 0 && inc <= (int64_t(1) << 26)) {  // 16 * inc must fit int32 indices
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(inc)));
    for (int i = 0; i < n; i += 16) {
      const int cnt = int(imin(16, n - i));
      const __mmask8 m0 = __mmask8(first(cnt)), m1 = __mmask8(cnt > 8 ? first(cnt - 8) : 0);
      const float* s = s0 + i * inc;
      const __m512i g0 = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), m0, idx, s, 4);
      const __m512i g1 = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), m1, idx, s + 8 * inc, 4);
      // Each gathered 64 bits already is (channel c, channel c + 1): converting g0 then g1 keeps
      // them in pair order, no permutation.
      _mm512_mask_storeu_epi32(d + i, first(cnt),
                               (__m512i)_mm512_cvtne2ps_pbh(_mm512_castsi512_ps(g1), _mm512_castsi512_ps(g0)));
    }
    return;
  }
  pairs_portable(d, s0, s1, inc, n);
}

#include "../ref/gemm_bf16.inl"
#include "../ref/peak.inl"

// The vdpbf16ps peak: kPeakChains chains acc += a.hi * b.hi + a.lo * b.lo (32 multiply-adds each).
float peak(int64_t iters, float seed) {
  return peak_chains<__m512>(
      iters, seed, [](float v) { return _mm512_castsi512_ps(_mm512_set1_epi32(int(to_bf16(v) * 0x10001u))); },
      [](__m512 x, __m512 a, __m512 b) {
        return _mm512_dpbf16_ps(x, as_bh(_mm512_castps_si512(a)), as_bh(_mm512_castps_si512(b)));
      },
      [](__m512 v) {
        alignas(64) float t[16];
        _mm512_store_ps(t, v);
        float r = 0;
        for (float f : t) r += f;
        return r;
      });
}

}  // namespace

extern const GemmBf16 kAvx512Bf16Gemm = {true,       MR,          NR,   256,  480, ukernel, ukernel_rows,
                                         pack_b_bf16, pack_pairs, peak, kPeakChains * 16 * 4};

}  // namespace cc
