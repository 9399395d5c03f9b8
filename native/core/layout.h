// Layout conversions between the memory layouts users pass and the NCHW / OIHW the kernels use. All
// are one permutation: a 3-D array [A, B, C] with its outer and inner axes swapped, [C, B, A].
#pragma once
#include <cstdint>

namespace cc {

// dst[c][b][a] = src[a][b][c] for an [A, B, C] array src.
void swap_outer_inner(const float* src, float* dst, int64_t A, int64_t B, int64_t C);

// [KH, KW, I, O] -> [O, I, KH, KW] and back.
inline void hwio_to_oihw(const float* src, float* dst, int64_t O, int64_t I, int64_t KH, int64_t KW) {
  swap_outer_inner(src, dst, KH * KW, I, O);
}
inline void oihw_to_hwio(const float* src, float* dst, int64_t O, int64_t I, int64_t KH, int64_t KW) {
  swap_outer_inner(src, dst, O, I, KH * KW);
}
// [N, H, W, C] -> [N, C, H, W] and back.
inline void nhwc_to_nchw(const float* src, float* dst, int64_t N, int64_t C, int64_t H, int64_t W) {
  for (int64_t n = 0; n < N; ++n) swap_outer_inner(src + n * C * H * W, dst + n * C * H * W, H * W, 1, C);
}
inline void nchw_to_nhwc(const float* src, float* dst, int64_t N, int64_t C, int64_t H, int64_t W) {
  for (int64_t n = 0; n < N; ++n) swap_outer_inner(src + n * C * H * W, dst + n * C * H * W, C, 1, H * W);
}

}  // namespace cc
