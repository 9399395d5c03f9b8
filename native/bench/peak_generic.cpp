// Portable probe: plain C++ compiled with the baseline flags (on x86-64: SSE2, no FMA, so a
// multiply and an add per element). It is the ceiling of the portable GEMM fallback.
#include "peak.h"

namespace ccbench {
namespace {

constexpr int kLanes = 48;  // independent accumulators; the compiler packs them into vector registers

float run(int64_t iters, float seed) {
  const float a = 0.999999f, b = seed * 1e-6f;
  float acc[kLanes];
  for (int i = 0; i < kLanes; ++i) acc[i] = seed + float(i);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kLanes; ++i) acc[i] = acc[i] * a + b;
  float r = 0;
  for (float v : acc) r += v;
  return r;
}

}  // namespace

PeakProbe probe_generic() {
  return {"generic", "48 chains of multiply + add (baseline flags, no FMA)", int64_t{kLanes} * 2, run};
}

}  // namespace ccbench
