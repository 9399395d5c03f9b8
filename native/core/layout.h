// Layout conversions between the memory layouts users pass and the NCHW / OIHW the kernels use.
#pragma once
#include <cstdint>

namespace cc {

// [N, H, W, C] -> [N, C, H, W]
void nhwc_to_nchw(const float* src, float* dst, int64_t N, int64_t C, int64_t H, int64_t W);
// [N, C, H, W] -> [N, H, W, C]
void nchw_to_nhwc(const float* src, float* dst, int64_t N, int64_t C, int64_t H, int64_t W);
// [KH, KW, I, O] -> [O, I, KH, KW]
void hwio_to_oihw(const float* src, float* dst, int64_t O, int64_t I, int64_t KH, int64_t KW);

}  // namespace cc
