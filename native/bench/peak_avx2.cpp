// AVX2+FMA probe: compiled with -mavx2 -mfma (this file only); run only where the CPU has both.
#include <immintrin.h>

#include "peak.h"

namespace ccbench {
namespace {

// 12 independent accumulators cover FMA latency (4 cycles) x 2 pipes with room to spare.
constexpr int kChains = 12;

float run(int64_t iters, float seed) {
  // acc = acc * a + b with a just below 1: converges to b / (1 - a), never overflows or denormalises.
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(seed * 1e-6f);
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(seed + float(i));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  __m256 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  float r = 0;
  for (float v : out) r += v;
  return r;
}

}  // namespace

PeakProbe probe_avx2() {
  return {"avx2", "12 chains of vfmadd (ymm, 8 floats)", int64_t{kChains} * 8 * 2, run};
}

}  // namespace ccbench
