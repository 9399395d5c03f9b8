#include "reference.h"

#include <vector>

namespace cc {

void conv2d_reference(const ConvProblem& s, const float* a, const float* b, const float* bias, double* out,
                      double* bias_grad) {
  const bool nhwc = s.layout == Layout::NHWC, hwio = s.weight_layout == WeightLayout::HWIO;
  auto xi = [&](int64_t n, int64_t c, int64_t h, int64_t ww) {
    return nhwc ? ((n * s.H + h) * s.W + ww) * s.Cin + c : ((n * s.Cin + c) * s.H + h) * s.W + ww;
  };
  auto wi = [&](int64_t k, int64_t c, int64_t kh, int64_t kw) {
    return hwio ? ((kh * s.KW + kw) * s.Cg + c) * s.Cout + k : ((k * s.Cg + c) * s.KH + kh) * s.KW + kw;
  };
  auto yi = [&](int64_t n, int64_t k, int64_t h, int64_t ww) {
    return nhwc ? ((n * s.OH + h) * s.OW + ww) * s.Cout + k : ((n * s.Cout + k) * s.OH + h) * s.OW + ww;
  };
  const Direction dir = s.direction;
  const int64_t dst = s.dst_elems();
  for (int64_t i = 0; i < dst; ++i) out[i] = 0.0;
  if (bias_grad)
    for (int64_t k = 0; k < s.Cout; ++k) bias_grad[k] = 0.0;
  // Every term x * w of the forward sum lands in one element of the output of each direction.
  const int64_t Kg = s.Cout / s.groups;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.Cout; ++k) {
      const int64_t g = k / Kg;
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          const int64_t y = yi(n, k, oh, ow);
          double acc = 0.0;
          if (dir == Direction::BackwardWeights && bias_grad) bias_grad[k] += double(b[y]);
          for (int64_t c = 0; c < s.Cg; ++c)
            for (int64_t kh = 0; kh < s.KH; ++kh) {
              const int64_t ih = oh * s.stride_h - s.pad_t + kh * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t iw = ow * s.stride_w - s.pad_l + kw * s.dil_w;
                if (iw < 0 || iw >= s.W) continue;
                const int64_t x = xi(n, g * s.Cg + c, ih, iw), w = wi(k, c, kh, kw);
                if (dir == Direction::Forward) acc += double(a[x]) * double(b[w]);
                else if (dir == Direction::BackwardData) out[x] += double(a[y]) * double(b[w]);
                else out[w] += double(a[x]) * double(b[y]);
              }
            }
          if (dir == Direction::Forward) out[y] = acc;
        }
    }
  if (dir == Direction::BackwardWeights) return;
  // The epilogue: bias per output channel of this direction, then the activation.
  const int64_t C = dir == Direction::Forward ? s.Cout : s.Cin;
  const int64_t per = dst / (s.N * C);  // pixels per channel and image
  for (int64_t i = 0; i < dst; ++i) {
    const int64_t c = nhwc ? i % C : (i / per) % C;
    double v = out[i] + (bias ? double(bias[c]) : 0.0);
    if (s.epilogue.act == Activation::Relu && !(v > 0.0)) v = 0.0;
    out[i] = v;
  }
}

}  // namespace cc
