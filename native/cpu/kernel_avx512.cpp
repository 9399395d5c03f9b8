// AVX-512 micro-kernel, 8 x 48: 24 zmm accumulators; per k, 3 loads of B and 8 broadcasts of A feed
// 24 FMAs. Compiled with -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma (this file only); called
// only after cpuid says the CPU has AVX-512F/DQ/BW/VL.
#include <immintrin.h>

#include "gemm.h"

namespace cc {
namespace {

constexpr int MR = 8, NR = 48, NV = NR / 16;

// Any tile that is partial or not row-contiguous (NHWC output): through a stack tile, scalar.
void store_general(const float* t, float* c, int64_t rs, int64_t cs, int m, int n, const float* bias,
                   int flags) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float* p = c + i * rs + j * cs;
      float v = t[i * NR + j] + ((flags & kUkAccumulate) ? *p : (bias ? bias[i] : 0.0f));
      if ((flags & kUkRelu) && !(v > 0.0f)) v = 0.0f;
      *p = v;
    }
}

void ukernel_8x48(int64_t kc, const float* a, const float* b, float* c, int64_t rs, int64_t cs, int m,
                  int n, const float* bias, int flags) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), b2 = _mm512_loadu_ps(b + 32);
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
    }
    a += MR;
    b += NR;
  }
  if (cs == 1) {  // NCHW output: rows contiguous; masked for a partial tile
    const __m512 zero = _mm512_setzero_ps();
    __mmask16 mask[NV];
    for (int v = 0; v < NV; ++v) {
      const int left = n - 16 * v;
      mask[v] = left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
    }
    for (int i = 0; i < MR; ++i) {
      if (i >= m) break;
      float* ci = c + i * rs;
      const __m512 init = _mm512_set1_ps(bias ? bias[i] : 0.0f);
      for (int v = 0; v < NV; ++v) {
        __m512 r = acc[i][v];
        r = (flags & kUkAccumulate) ? _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask[v], ci + 16 * v))
                                    : _mm512_add_ps(r, init);
        if (flags & kUkRelu) r = _mm512_max_ps(r, zero);
        _mm512_mask_storeu_ps(ci + 16 * v, mask[v], r);
      }
    }
    return;
  }
  alignas(64) float t[MR * NR];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) _mm512_store_ps(t + i * NR + 16 * v, acc[i][v]);
  store_general(t, c, rs, cs, m, n, bias, flags);
}


void axpy(int64_t n, float a, const float* x, int64_t incx, float* y) {
  if (incx != 1) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i * incx];
    return;
  }
  const __m512 av = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

}  // namespace

extern const GemmKernels kGemmAvx512 = {"avx512", MR, NR, 256, 480, ukernel_8x48, axpy};

}  // namespace cc
