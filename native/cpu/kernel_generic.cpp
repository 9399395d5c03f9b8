// Portable micro-kernel, 4 x 8, plain C++ (the compiler vectorises it for baseline x86-64 SSE2 or
// whatever the target offers): the fallback when neither AVX2+FMA nor AVX-512 is available.
#include "gemm.h"

namespace cc {
namespace {

constexpr int MR = 4, NR = 8;

void ukernel_4x8(int64_t kc, const float* a, const float* b, float* c, int64_t rs, int64_t cs, int m,
                 int n, const float* bias, int flags) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
    a += MR;
    b += NR;
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float* p = c + i * rs + j * cs;
      float v = acc[i][j] + ((flags & kUkAccumulate) ? *p : (bias ? bias[i] : 0.0f));
      if ((flags & kUkRelu) && !(v > 0.0f)) v = 0.0f;
      *p = v;
    }
}


void axpy(int64_t n, float a, const float* x, int64_t incx, float* y) {
  if (incx == 1) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i * incx];
  }
}

}  // namespace

extern const GemmKernels kGemmGeneric = {"generic", MR, NR, 256, 480, ukernel_4x8, axpy};

}  // namespace cc
