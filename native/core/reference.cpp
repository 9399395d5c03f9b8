#include "reference.h"

namespace cc {

void conv2d_reference(const ConvShape& s, const float* x, const float* w, const float* bias, double* y) {
  const bool nhwc = s.layout == Layout::NHWC, hwio = s.weight_layout == WeightLayout::HWIO;
  auto xi = [&](int64_t n, int64_t c, int64_t h, int64_t ww) {
    return nhwc ? ((n * s.H + h) * s.W + ww) * s.C + c : ((n * s.C + c) * s.H + h) * s.W + ww;
  };
  auto wi = [&](int64_t k, int64_t c, int64_t kh, int64_t kw) {
    return hwio ? ((kh * s.KW + kw) * s.Cg + c) * s.K + k : ((k * s.Cg + c) * s.KH + kh) * s.KW + kw;
  };
  auto yi = [&](int64_t n, int64_t k, int64_t h, int64_t ww) {
    return nhwc ? ((n * s.OH + h) * s.OW + ww) * s.K + k : ((n * s.K + k) * s.OH + h) * s.OW + ww;
  };
  const int64_t Kg = s.K / s.groups;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t g = k / Kg;
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          double acc = bias ? bias[k] : 0.0;
          for (int64_t c = 0; c < s.Cg; ++c)
            for (int64_t kh = 0; kh < s.KH; ++kh) {
              const int64_t ih = oh * s.stride_h - s.pad_t + kh * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t iw = ow * s.stride_w - s.pad_l + kw * s.dil_w;
                if (iw < 0 || iw >= s.W) continue;
                acc += double(x[xi(n, g * s.Cg + c, ih, iw)]) * double(w[wi(k, c, kh, kw)]);
              }
            }
          y[yi(n, k, oh, ow)] = acc;
        }
    }
}

}  // namespace cc
