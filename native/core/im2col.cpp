#include "im2col.h"


namespace cc {

void im2col_tile(const ConvShape& s, const float* x, int64_t p0, int64_t cols, float* col) {
  const int64_t oh0 = p0 / s.OW, ow0 = p0 % s.OW;
  for (int64_t c = 0; c < s.Cg; ++c) {
    const float* xc = x + c * s.H * s.W;
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        float* dst = col + ((c * s.KH + kh) * s.KW + kw) * cols;
        int64_t oh = oh0, ow = ow0;
        for (int64_t j = 0; j < cols; ++j) {
          const int64_t ih = oh * s.stride_h - s.pad_t + kh * s.dil_h;
          const int64_t iw = ow * s.stride_w - s.pad_l + kw * s.dil_w;
          dst[j] = (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W) ? xc[ih * s.W + iw] : 0.0f;
          if (++ow == s.OW) { ow = 0; ++oh; }
        }
      }
  }
}

}  // namespace cc
