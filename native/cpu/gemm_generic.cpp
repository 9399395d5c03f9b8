// Portable cache-blocked GEMM: rows of C are accumulated four at a time so each loaded row of B
// feeds four FMAs; K is blocked so a B block stays in L2.
#include <algorithm>

#include "gemm.h"

namespace cc {
namespace {
constexpr int64_t kKc = 256;  // K block: kKc rows of B (<= 256 columns wide in the conv driver)
}

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
           float* C, int64_t ldc, const float* bias) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    const float b0 = bias ? bias[i] : 0.0f;
    for (int64_t j = 0; j < N; ++j) c[j] = b0;
  }
  for (int64_t k0 = 0; k0 < K; k0 += kKc) {
    const int64_t kb = std::min(kKc, K - k0);
    int64_t i = 0;
    for (; i + 4 <= M; i += 4) {
      float* c0 = C + i * ldc;
      float* c1 = c0 + ldc;
      float* c2 = c1 + ldc;
      float* c3 = c2 + ldc;
      const float* a = A + i * lda + k0;
      for (int64_t k = 0; k < kb; ++k) {
        const float a0 = a[k], a1 = a[lda + k], a2 = a[2 * lda + k], a3 = a[3 * lda + k];
        const float* b = B + (k0 + k) * ldb;
        for (int64_t j = 0; j < N; ++j) {
          const float bj = b[j];
          c0[j] += a0 * bj;
          c1[j] += a1 * bj;
          c2[j] += a2 * bj;
          c3[j] += a3 * bj;
        }
      }
    }
    for (; i < M; ++i) {
      float* c0 = C + i * ldc;
      const float* a = A + i * lda + k0;
      for (int64_t k = 0; k < kb; ++k) {
        const float a0 = a[k];
        const float* b = B + (k0 + k) * ldb;
        for (int64_t j = 0; j < N; ++j) c0[j] += a0 * b[j];
      }
    }
  }
}

const char* gemm_isa() { return "generic"; }

}  // namespace cc
