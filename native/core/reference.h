// The oracle: a plain float64 convolution straight from the definition, in any supported layout.
#pragma once
#include "shape.h"

namespace cc {

// y[n, k, oh, ow] = bias[k] + sum_{c, kh, kw} x[n, g*Cg + c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw]
//                                             * w[k, c, kh, kw]      (g = k / (K / groups))
// x, w and y are in s.layout / s.weight_layout; bias may be null.
void conv2d_reference(const ConvShape& s, const float* x, const float* w, const float* bias, double* y);

}  // namespace cc
