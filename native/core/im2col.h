#pragma once
#include <cstdint>

#include "shape.h"

namespace cc {

// im2col of a column tile: x [Cg, H, W] (one image, one group, NCHW) -> col [Cg*KH*KW, cols],
// for output pixels p0 .. p0+cols-1 (p = oh*OW + ow). Padding reads as 0.
void im2col_tile(const ConvShape& s, const float* x, int64_t p0, int64_t cols, float* col);

}  // namespace cc
