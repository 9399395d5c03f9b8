#include "layout.h"

namespace cc {

void nhwc_to_nchw(const float* src, float* dst, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  for (int64_t n = 0; n < N; ++n) {
    const float* s = src + n * HW * C;
    float* d = dst + n * HW * C;
    for (int64_t p = 0; p < HW; ++p)
      for (int64_t c = 0; c < C; ++c) d[c * HW + p] = s[p * C + c];
  }
}

void nchw_to_nhwc(const float* src, float* dst, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  for (int64_t n = 0; n < N; ++n) {
    const float* s = src + n * HW * C;
    float* d = dst + n * HW * C;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < HW; ++p) d[p * C + c] = s[c * HW + p];
  }
}

void hwio_to_oihw(const float* src, float* dst, int64_t O, int64_t I, int64_t KH, int64_t KW) {
  for (int64_t kh = 0; kh < KH; ++kh)
    for (int64_t kw = 0; kw < KW; ++kw)
      for (int64_t i = 0; i < I; ++i)
        for (int64_t o = 0; o < O; ++o)
          dst[((o * I + i) * KH + kh) * KW + kw] = src[((kh * KW + kw) * I + i) * O + o];
}

}  // namespace cc
