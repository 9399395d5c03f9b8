// The oracle: a plain float64 convolution straight from the definition, every direction, in any
// supported layout.
#pragma once
#include "problem.h"

namespace cc {

// forward:          out = y  [N, Cout, OH, OW] (or NHWC) from a = x, b = w (+ bias[Cout], act)
// backward-data:    out = dx [N, Cin, H, W]    from a = dy, b = w (+ bias[Cin], act)
// backward-weights: out = dw (p.weight_layout) from a = x, b = dy; bias (when non-null) receives the
//                   bias gradient, the sum of dy over N, OH, OW, per output channel
// where y[n, k, oh, ow] = sum_{c, kh, kw} x[n, g*Cg + c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw]
//                         * w[k, c, kh, kw]      (g = k / (Cout / groups))
void conv2d_reference(const ConvProblem& p, const float* a, const float* b, const float* bias, double* out,
                      double* bias_grad = nullptr);

}  // namespace cc
