// fp32 FMA peak probes: one per ISA, each compiled with its own flags (CMakeLists.txt), chosen at
// run time. A probe runs independent multiply-add chains that never touch memory, so its rate is the
// core's arithmetic ceiling that the convolution kernels are measured against.
#pragma once
#include <cstdint>

namespace ccbench {

struct PeakProbe {
  const char* isa;        // "avx512", "avx2", "generic"
  const char* detail;     // what the probe executes
  int64_t flops_per_iter; // a multiply-add counts as 2 FLOPs
  // Runs `iters` iterations; the result only defeats dead-code elimination.
  float (*run)(int64_t iters, float seed);
};

// Each returns its probe; the caller checks the CPU supports it before calling run().
PeakProbe probe_avx512();
PeakProbe probe_avx2();
PeakProbe probe_generic();

}  // namespace ccbench
