#pragma once
#include <cstdint>

#include "shape.h"

namespace cc {

// im2col of a column tile: x [Cg, H, W] (one image, one group, NCHW) -> col [Cg*KH*KW, cols],
// for output pixels p0 .. p0+cols-1 (p = oh*OW + ow). Padding reads as 0.
void im2col_tile(const ConvShape& s, const float* x, int64_t p0, int64_t cols, float* col);

// One image and group of the input: element (c, ih, iw) at x[c*cs + ih*hs + iw*ws]
// (NCHW: cs = H*W, hs = W, ws = 1; NHWC: cs = 1, hs = W*C, ws = C).
struct InputView {
  const float* x;
  int64_t cs, hs, ws;
};

// im2col fused into GEMM B packing: rows k0 .. k0+kcb-1 of the im2col matrix [Cg*KH*KW, OH*OW]
// (k = (c*KH + kh)*KW + kw), columns q0 .. q0+ncols-1, written as NR-wide panels [kcb][nr] (panel j at
// dst + j*kcb*nr), padding and the last panel's missing columns zero. The im2col matrix never exists.
void pack_b_im2col(const ConvShape& s, const InputView& in, int64_t k0, int64_t kcb, int64_t q0,
                   int64_t ncols, int nr, float* dst);

}  // namespace cc
