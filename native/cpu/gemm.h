// Single-precision GEMM used by the convolution driver.
#pragma once
#include <cstdint>

namespace cc {

// C[M x N] = A[M x K] * B[K x N] (+ bias[m] on every element of row m, when bias is non-null).
// Row-major with leading dimensions lda, ldb, ldc. C is overwritten, never read.
void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
           float* C, int64_t ldc, const float* bias);

// Name of the kernel set in use ("generic", "avx2", "avx512").
const char* gemm_isa();

}  // namespace cc
