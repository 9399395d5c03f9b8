// CPU stand-in for the parts of cuda_bf16.h the kernels use (emulation build only): the bfloat16
// type and its conversions, with the device's rounding (to nearest, ties to even; NaN stays NaN).
#pragma once
#ifndef CC_CUDA_EMULATE
#error "this header is only for the CPU emulation build (CC_CUDA_EMULATE)"
#endif
#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
  uint16_t bits;
};

inline __nv_bfloat16 __float2bfloat16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {uint16_t((u >> 16) | 0x40u)};  // NaN: quiet, sign kept
  u += 0x7fffu + ((u >> 16) & 1u);
  return {uint16_t(u >> 16)};
}

inline float __bfloat162float(__nv_bfloat16 h) {
  const uint32_t u = uint32_t(h.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
