// AVX2 + FMA micro-kernel, 6 x 16: 12 ymm accumulators; per k, 2 loads of B and 6 broadcasts of A
// feed 12 FMAs. Compiled with -mavx2 -mfma (this file only); called only after cpuid says so.
#include <immintrin.h>

#include "gemm.h"

namespace cc {
namespace {

constexpr int MR = 6, NR = 16, NV = NR / 8;

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

void ukernel_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t rs, int64_t cs, int m,
                  int n, const float* bias, int flags) {
  __m256 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += MR;
    b += NR;
  }
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
  alignas(32) float t[MR * NR];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) _mm256_store_ps(t + i * NR + 8 * v, acc[i][v]);
  store_general(t, c, rs, cs, m, n, bias, flags);
}


void axpy(int64_t n, float a, const float* x, int64_t incx, float* y) {
  if (incx != 1) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i * incx];
    return;
  }
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

}  // namespace

extern const GemmKernels kGemmAvx2 = {"avx2", MR, NR, 256, 480, ukernel_6x16, axpy};

}  // namespace cc
