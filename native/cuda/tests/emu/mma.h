// CPU stand-in for the parts of nvcuda::wmma that gemm_mma.cu uses (m16n16k8 TF32 and m16n16k16
// BF16, row-major), for the emulation build only. Lane 0 of each warp holds whole fragments and does
// the whole product for the warp (the hardware splits it across the lanes); the other lanes' wmma
// calls do nothing. Correct because __syncwarp is a scheduling point in the emulation, so the other
// lanes read a stored tile only after lane 0 wrote it. Fragments hold the operands as floats (TF32 and
// BF16 values are exact in float); products are summed in float, in k order (the hardware's order
// within a fragment is its own).
#pragma once
#ifndef CC_CUDA_EMULATE
#error "this header is only for the CPU emulation build (CC_CUDA_EMULATE)"
#endif
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cuda_bf16.h"
#include "cuda_runtime.h"

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
namespace precision {
struct tf32 {};
}
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment;
template <int K, class T, class L>
struct fragment<matrix_a, 16, 16, K, T, L> {
  float v[16][K];
};
template <int K, class T, class L>
struct fragment<matrix_b, 16, 16, K, T, L> {
  float v[K][16];
};
template <int K, class T, class L>
struct fragment<accumulator, 16, 16, K, T, L> {
  float v[16][16];
};

inline float value(float f) { return f; }
inline float value(__nv_bfloat16 h) { return __bfloat162float(h); }

inline bool lane0() { return ccemu::threadIdx.x % 32 == 0; }

// cvt.rna.tf32.f32: round to nearest, ties away from zero, keep 10 mantissa bits.
inline float __float_to_tf32(float f) {
  if (!std::isfinite(f)) return f;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&f, &u, 4);
  return f;
}

template <int K, class T, class L, class E>
void load_matrix_sync(fragment<matrix_a, 16, 16, K, T, L>& a, const E* p, unsigned ld) {
  if (!lane0()) return;
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < K; ++k) a.v[i][k] = value(p[i * ld + k]);
}
template <int K, class T, class L, class E>
void load_matrix_sync(fragment<matrix_b, 16, 16, K, T, L>& b, const E* p, unsigned ld) {
  if (!lane0()) return;
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < 16; ++j) b.v[k][j] = value(p[k * ld + j]);
}
template <int K, class T, class L>
void fill_fragment(fragment<accumulator, 16, 16, K, T, L>& c, float x) {
  for (auto& row : c.v)
    for (float& e : row) e = x;
}
template <int K, class TA, class LA, class TB, class LB, class TC, class LC>
void mma_sync(fragment<accumulator, 16, 16, K, TC, LC>& d, const fragment<matrix_a, 16, 16, K, TA, LA>& a,
              const fragment<matrix_b, 16, 16, K, TB, LB>& b, const fragment<accumulator, 16, 16, K, TC, LC>& c) {
  if (!lane0()) return;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      float s = c.v[i][j];
      for (int k = 0; k < K; ++k) s = std::fma(a.v[i][k], b.v[k][j], s);
      d.v[i][j] = s;
    }
}
template <int K, class T, class L>
void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, K, T, L>& c, unsigned ld, layout_t) {
  if (!lane0()) return;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) p[i * ld + j] = c.v[i][j];
}
}  // namespace wmma
}  // namespace nvcuda
