// Small helpers for the kernel files. Internal linkage on purpose (static): a function with external
// linkage instantiated in a file compiled with ISA flags (std::min, an inline template) could be the
// copy the linker keeps for baseline code too, and fault on an older CPU.
#pragma once
#include <cstdint>
#include <cstring>

namespace cc {
namespace {
static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// float -> bfloat16 bits, rounded to nearest even, as AVX512_BF16's vcvtne2ps2bf16 does it: a NaN
// stays a (quiet) NaN, zero and fp32 subnormals become a zero of the same sign. Branch-free, so
// loops over it vectorise.
static inline uint32_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t mag = u & 0x7FFFFFFFu;
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  const uint32_t nan = (u >> 16) | 0x40u;
  const uint32_t zero = (u >> 16) & 0x8000u;
  return mag > 0x7F800000u ? nan : mag < 0x00800000u ? zero : rounded;
}

// The float a bfloat16 (in the low 16 bits) stands for.
static inline float from_bf16(uint32_t h) {
  const uint32_t u = h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// d[i] = (bf16(s0[i*inc]) | bf16(s1[i*inc]) << 16) for i < n; s1 null: zero high halves.
static inline void pairs_portable(uint32_t* d, const float* s0, const float* s1, int64_t inc, int64_t n) {
  if (!s1) {
    for (int64_t i = 0; i < n; ++i) d[i] = to_bf16(s0[i * inc]);
  } else if (inc == 1) {
    for (int64_t i = 0; i < n; ++i) d[i] = to_bf16(s0[i]) | to_bf16(s1[i]) << 16;
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = to_bf16(s0[i * inc]) | to_bf16(s1[i * inc]) << 16;
  }
}
}  // namespace
}  // namespace cc
