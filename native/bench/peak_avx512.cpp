// AVX-512F probe: compiled with -mavx512f -mfma (this file only); run only where the CPU has AVX-512F.
#include <immintrin.h>

#include "peak.h"

namespace ccbench {
namespace {

// 12 independent accumulators cover FMA latency (4 cycles) x 2 pipes with room to spare.
constexpr int kChains = 12;

float run(int64_t iters, float seed) {
  // acc = acc * a + b with a just below 1: converges to b / (1 - a), never overflows or denormalises.
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(seed * 1e-6f);
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(seed + float(i));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  float r = 0;
  for (float v : out) r += v;
  return r;
}

}  // namespace

PeakProbe probe_avx512() {
  return {"avx512", "12 chains of vfmadd (zmm, 16 floats)", int64_t{kChains} * 16 * 2, run};
}

}  // namespace ccbench
