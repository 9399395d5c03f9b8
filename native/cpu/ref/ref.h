// Portable reference versions of the helpers every kernel set needs, written once and compiled with
// baseline flags (BLIS's ref_kernels); an ISA file overrides what it does faster and calls these for
// the rest (strided rows, partial tiles). The generic kernel set (generic.cpp) is made of them.
#pragma once
#include "../kernels.h"

namespace cc {
namespace ref {

// DirectRow, scalar: any stride.
void direct_row(const float* const* x, const float* const* w, int64_t nrows, int64_t W, int64_t KW, int64_t pl,
                int64_t dw, int64_t sw, float* y, int64_t OW, float bias, int flags);

// DirectRow2 as two single-row passes of `row` over the rows each output uses.
void direct_row2(DirectRow row, const float* const* x, const float* const* wa, const float* const* wb,
                 int64_t nrows, int64_t W, int64_t KW, int64_t pl, int64_t dw, int64_t sw, float* y0, float* y1,
                 int64_t OW, float bias, int flags);

// Gather, scalar.
void gather(float* d, const float* s, int64_t inc, int64_t n);

// Stores an m x n tile t (row stride ldt) to c + i*rs + j*cs with the micro-kernel epilogue (bias or
// accumulate, relu): for partial tiles and strided (NHWC) outputs.
void store_tile(const float* t, int ldt, float* c, int64_t rs, int64_t cs, int m, int n, const float* bias,
                int flags);

}  // namespace ref
}  // namespace cc
