// AVX-512 micro-kernel, 8 x 48: 24 zmm accumulators; per k, 3 loads of B and 8 broadcasts of A feed
// 24 FMAs. Compiled with -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma (this file only); called
// only after cpuid says the CPU has AVX-512F/DQ/BW/VL.
#include <immintrin.h>

// GCC 12 flags the _mm512_undefined_ps() inside _mm512_max_ps as maybe-uninitialized (a false
// positive of the intrinsic header).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "../kernels.h"
#include "../ref/ops.h"
#include "../ref/ref.h"

namespace cc {
namespace {

constexpr int MR = 8, NR = 48, NV = NR / 16;

#include "avx512_tile.inl"

// kOffsets: B row k at b + offs[k] (rows read in place, see KernelSet::ukernel_rows); else packed.
// kRows: rows computed (8, or 4 for a last panel with m <= 4: S1's 100 = 12 x 8 + 4 output channels);
// the packed A panel keeps its 8-row layout.
template <bool kOffsets, int kRows = MR>
void ukernel_8x48_t(int64_t kc, const float* a, const float* b, const int64_t* offs, float* c, int64_t rs, int64_t cs, int m,
                  int n, const float* bias, int flags) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();  // rows >= kRows stay zero
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = kOffsets ? b + offs[k] : b;
    const __m512 b0 = _mm512_loadu_ps(bk), b1 = _mm512_loadu_ps(bk + 16), b2 = _mm512_loadu_ps(bk + 32);
    for (int i = 0; i < kRows; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
    }
    a += MR;
    if (!kOffsets) b += NR;
  }
  store_acc(acc, c, rs, cs, m, n, bias, flags);
}



// The direct kernels' masks, for the V vectors of 16 outputs from ow0: `out` (outputs inside OW)
// and, for tap kw, `in` (outputs whose input column lies inside the row [0, W)).
template <int V>
void output_masks(int64_t ow0, int64_t OW, __mmask16* out) {
  for (int v = 0; v < V; ++v) out[v] = __mmask16((1u << imax(0, imin(16, OW - ow0 - 16 * v))) - 1);
}
template <int V>
void input_masks(int64_t ow0, int64_t OW, int64_t W, int64_t off0, __mmask16* in) {
  for (int v = 0; v < V; ++v) {
    const int64_t off = off0 + 16 * v;  // input column of this vector's first output
    const int64_t lo = imax(0, -off), hi = imin(imin(16, W - off), OW - ow0 - 16 * v);
    in[v] = hi <= lo ? __mmask16(0) : __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1));
  }
}

// Stride 1: 64 outputs (4 vectors) at a time in registers across all rows and taps, even and odd rows
// into separate accumulators so 8 FMA chains run in parallel; masked loads read the edges as zeros.
void direct_row(const float* const* x, const float* const* w, int64_t nrows, int64_t W, int64_t KW,
                int64_t pl, int64_t dw, int64_t sw, float* y, int64_t OW, float bias, int flags) {
  if (sw != 1) return ref::direct_row(x, w, nrows, W, KW, pl, dw, sw, y, OW, bias, flags);
  constexpr int V = 4;
  for (int64_t ow0 = 0; ow0 < OW; ow0 += 16 * V) {
    __mmask16 out[V];
    __m512 acc[V], acc1[V];
    output_masks<V>(ow0, OW, out);
    for (int v = 0; v < V; ++v) {
      acc[v] = (flags & kUkAccumulate) ? _mm512_maskz_loadu_ps(out[v], y + ow0 + 16 * v) : _mm512_set1_ps(bias);
      acc1[v] = _mm512_setzero_ps();
    }
    for (int64_t kw = 0; kw < KW; ++kw) {
      const int64_t off0 = ow0 + kw * dw - pl;
      __mmask16 m[V];
      input_masks<V>(ow0, OW, W, off0, m);
      // Plain loads where the vector lies inside the row: masked loads are slower once the input
      // streams from memory (docs/PERF.md, "What was tried": direct kernel).
      auto load = [&](int v, const float* p) {
        return m[v] == 0xFFFF ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m[v], p);
      };
      int64_t r = 0;
      for (; r + 2 <= nrows; r += 2) {
        const __m512 w0 = _mm512_set1_ps(w[r][kw]), w1 = _mm512_set1_ps(w[r + 1][kw]);
        for (int v = 0; v < V; ++v) {
          acc[v] = _mm512_fmadd_ps(w0, load(v, x[r] + off0 + 16 * v), acc[v]);
          acc1[v] = _mm512_fmadd_ps(w1, load(v, x[r + 1] + off0 + 16 * v), acc1[v]);
        }
      }
      if (r < nrows) {
        const __m512 w0 = _mm512_set1_ps(w[r][kw]);
        for (int v = 0; v < V; ++v) acc[v] = _mm512_fmadd_ps(w0, load(v, x[r] + off0 + 16 * v), acc[v]);
      }
    }
    for (int v = 0; v < V; ++v) {
      __m512 t = _mm512_add_ps(acc[v], acc1[v]);
      if (flags & kUkRelu) t = _mm512_max_ps(t, _mm512_setzero_ps());
      if (out[v] == 0xFFFF) _mm512_storeu_ps(y + ow0 + 16 * v, t);
      else _mm512_mask_storeu_ps(y + ow0 + 16 * v, out[v], t);
    }
  }
}

// Two output rows, 64 outputs each per pass: each input vector is loaded once for both rows.
void direct_row2(const float* const* x, const float* const* wa, const float* const* wb, int64_t nrows,
                 int64_t W, int64_t KW, int64_t pl, int64_t dw, int64_t sw, float* y0, float* y1, int64_t OW,
                 float bias, int flags) {
  if (sw != 1) return ref::direct_row2(ref::direct_row, x, wa, wb, nrows, W, KW, pl, dw, sw, y0, y1, OW, bias, flags);
  constexpr int V = 4;
  for (int64_t ow0 = 0; ow0 < OW; ow0 += 16 * V) {
    __mmask16 out[V];
    __m512 acc0[V], acc1[V];
    output_masks<V>(ow0, OW, out);
    for (int v = 0; v < V; ++v) {
      const bool acc = flags & kUkAccumulate;
      acc0[v] = acc ? _mm512_maskz_loadu_ps(out[v], y0 + ow0 + 16 * v) : _mm512_set1_ps(bias);
      acc1[v] = acc ? _mm512_maskz_loadu_ps(out[v], y1 + ow0 + 16 * v) : _mm512_set1_ps(bias);
    }
    for (int64_t kw = 0; kw < KW; ++kw) {
      const int64_t off0 = ow0 + kw * dw - pl;
      __mmask16 m[V];
      input_masks<V>(ow0, OW, W, off0, m);
      auto load = [&](int v, const float* p) {
        return m[v] == 0xFFFF ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m[v], p);
      };
      for (int64_t r = 0; r < nrows; ++r) {
        const float* xr = x[r] + off0;
        if (wa[r] && wb[r]) {
          const __m512 w0 = _mm512_set1_ps(wa[r][kw]), w1 = _mm512_set1_ps(wb[r][kw]);
          for (int v = 0; v < V; ++v) {
            const __m512 xv = load(v, xr + 16 * v);
            acc0[v] = _mm512_fmadd_ps(w0, xv, acc0[v]);
            acc1[v] = _mm512_fmadd_ps(w1, xv, acc1[v]);
          }
        } else if (wa[r]) {
          const __m512 w0 = _mm512_set1_ps(wa[r][kw]);
          for (int v = 0; v < V; ++v) acc0[v] = _mm512_fmadd_ps(w0, load(v, xr + 16 * v), acc0[v]);
        } else if (wb[r]) {
          const __m512 w1 = _mm512_set1_ps(wb[r][kw]);
          for (int v = 0; v < V; ++v) acc1[v] = _mm512_fmadd_ps(w1, load(v, xr + 16 * v), acc1[v]);
        }
      }
    }
    for (int v = 0; v < V; ++v) {
      __m512 t0 = acc0[v], t1 = acc1[v];
      if (flags & kUkRelu) {
        t0 = _mm512_max_ps(t0, _mm512_setzero_ps());
        t1 = _mm512_max_ps(t1, _mm512_setzero_ps());
      }
      if (out[v] == 0xFFFF) {  // plain stores where possible: masked ones were slower to memory
        _mm512_storeu_ps(y0 + ow0 + 16 * v, t0);
        _mm512_storeu_ps(y1 + ow0 + 16 * v, t1);
      } else {
        _mm512_mask_storeu_ps(y0 + ow0 + 16 * v, out[v], t0);
        _mm512_mask_storeu_ps(y1 + ow0 + 16 * v, out[v], t1);
      }
    }
  }
}

// B packing primitives (pack_b.inl): 16 lanes, masked tails.
void pb_zero(float* d, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_setzero_ps());
  if (i < n) _mm512_mask_storeu_ps(d + i, __mmask16((1u << (n - i)) - 1), _mm512_setzero_ps());
}
void pb_copy(float* d, const float* s, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_loadu_ps(s + i));
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(d + i, m, _mm512_maskz_loadu_ps(m, s + i));
  }
}
// Stride 2 (stride-2 convolutions in NCHW): the even lanes of two loads; loads are masked so they
// never read past the last element used.
void pb_gather(float* d, const float* s, int64_t inc, int n) {
  if (inc != 2) {
    if (inc < 1 || inc > (int64_t(1) << 26)) {  // 16 * inc must fit the gather's int32 indices
      for (int i = 0; i < n; ++i) d[i] = s[i * inc];
      return;
    }
    // NHWC input (inc = C): a hardware gather per 16 columns beats 16 scalar load/store pairs.
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(int(inc)));
    for (int i = 0; i < n; i += 16) {
      const int cnt = int(imin(16, n - i));
      const __mmask16 m = cnt == 16 ? __mmask16(0xFFFF) : __mmask16((1u << cnt) - 1);
      const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, s + i * inc, 4);
      _mm512_mask_storeu_ps(d + i, m, v);
    }
    return;
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int i = 0; i < n; i += 16) {
    const int cnt = int(imin(16, n - i)), used = 2 * cnt - 1;  // source floats read
    const __mmask16 ma = used >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << used) - 1);
    const __mmask16 mb = used > 16 ? __mmask16((1u << (used - 16)) - 1) : __mmask16(0);
    const __m512 a = _mm512_maskz_loadu_ps(ma, s + 2 * i), b = _mm512_maskz_loadu_ps(mb, s + 2 * i + 16);
    _mm512_mask_storeu_ps(d + i, __mmask16((1u << cnt) - 1), _mm512_permutex2var_ps(a, even, b));
  }
}

#include "../ref/pack_b.inl"

#include "../ref/bf16_portable.inl"
#include "../ref/gemm_bf16.inl"
#include "../ref/peak.inl"
#include "../ref/winograd.inl"

float peak(int64_t iters, float seed) {
  return peak_chains<__m512>(
      iters, seed, [](float v) { return _mm512_set1_ps(v); },
      [](__m512 x, __m512 a, __m512 b) { return _mm512_fmadd_ps(x, a, b); }, [](__m512 v) {
        alignas(64) float t[16];
        _mm512_store_ps(t, v);
        float r = 0;
        for (float f : t) r += f;
        return r;
      });
}

void gather(float* d, const float* s, int64_t inc, int64_t n) {
  for (int64_t i = 0; i < n; i += 1024) pb_gather(d + i, s + i * inc, inc, int(imin(1024, n - i)));
}

// What ukernel.inl's entries call: 4 rows for a last panel with m <= 4.
template <bool kOffsets>
__attribute__((always_inline)) inline void ukernel_t(int64_t kc, const float* a, const float* b, const int64_t* offs,
                                                     float* c, int64_t rs, int64_t cs, int m, int n, const float* bias,
                                                     int flags) {
  if (m <= 4) ukernel_8x48_t<kOffsets, 4>(kc, a, b, offs, c, rs, cs, m, n, bias, flags);
  else ukernel_8x48_t<kOffsets>(kc, a, b, offs, c, rs, cs, m, n, bias, flags);
}

#include "../ref/ukernel.inl"

// bf16 emulated with fp32 FMAs (an AVX-512 CPU without AVX512_BF16: Skylake-SP to Ice Lake, or the
// avx512bf16 set's fallback forced with CHANNELCONV_ISA=avx512): 8 x 32 tiles, 16 accumulators.
typedef float F16 __attribute__((vector_size(64)));
F16 fma16(F16 a, F16 b, F16 c) { return F16(_mm512_fmadd_ps(__m512(a), __m512(b), __m512(c))); }
using Bf16 = EmulatedBf16<8, 2, F16, fma16>;

}  // namespace

extern const KernelSet kAvx512 = {"avx512", MR, NR, 256, 480, ukernel, ukernel_rows, pack_b, direct_row,
                                  direct_row2, gather, peak, kPeakChains * 16 * 2, &Bf16::gemm,
                                  wino_in, wino_out};

#ifdef CC_HAVE_AVX512BF16
// The same fp32 kernels with AVX512_BF16's bf16 GEMM (avx512bf16.cpp): Cooper Lake, Sapphire Rapids,
// Zen 4 and later.
extern const GemmBf16 kAvx512Bf16Gemm;
extern const KernelSet kAvx512Bf16 = {"avx512bf16", MR, NR, 256, 480, ukernel, ukernel_rows, pack_b,
                                      direct_row, direct_row2, gather, peak, kPeakChains * 16 * 2, &kAvx512Bf16Gemm,
                                      wino_in, wino_out};
#endif

}  // namespace cc
