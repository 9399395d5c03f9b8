// Portable micro-kernel, 4 x 8, plain C++ (the compiler vectorises it for baseline x86-64 SSE2 or
// whatever the target offers): the fallback when neither AVX2+FMA nor AVX-512 is available.
#include "gemm.h"

namespace cc {
namespace {

// Local helpers, not std::min/max: an inline template instantiated in this file (compiled with
// ISA-specific flags) could be the copy the linker keeps for baseline code too.
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

constexpr int MR = 4, NR = 8;

// kOffsets: B row k at b + offs[k] (rows read in place, see GemmKernels::ukernel_rows); else packed.
template <bool kOffsets>
void ukernel_4x8_t(int64_t kc, const float* a, const float* b, const int64_t* offs, float* c, int64_t rs, int64_t cs, int m,
                 int n, const float* bias, int flags) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = kOffsets ? b + offs[k] : b;
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += a[i] * bk[j];
    a += MR;
    if (!kOffsets) b += NR;
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float* p = c + i * rs + j * cs;
      float v = acc[i][j] + ((flags & kUkAccumulate) ? *p : (bias ? bias[i] : 0.0f));
      if ((flags & kUkRelu) && !(v > 0.0f)) v = 0.0f;
      *p = v;
    }
}


// Strided rows: scalar, one output at a time.
void direct_row_scalar(const float* const* x, const float* const* w, int64_t nrows, int64_t W, int64_t KW,
                       int64_t pl, int64_t dw, int64_t sw, float* y, int64_t OW, float bias, int flags) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    float acc = (flags & kUkAccumulate) ? y[ow] : bias;
    for (int64_t r = 0; r < nrows; ++r)
      for (int64_t kw = 0; kw < KW; ++kw) {
        const int64_t iw = ow * sw + kw * dw - pl;
        if (iw >= 0 && iw < W) acc += w[r][kw] * x[r][iw];
      }
    y[ow] = (flags & kUkRelu) && !(acc > 0.0f) ? 0.0f : acc;
  }
}

void direct_row(const float* const* x, const float* const* w, int64_t nrows, int64_t W, int64_t KW,
                int64_t pl, int64_t dw, int64_t sw, float* y, int64_t OW, float bias, int flags) {
  direct_row_scalar(x, w, nrows, W, KW, pl, dw, sw, y, OW, bias, flags);
}

// Two rows as two single-row passes over the rows each uses.
void direct_row2(const float* const* x, const float* const* wa, const float* const* wb, int64_t nrows,
                 int64_t W, int64_t KW, int64_t pl, int64_t dw, int64_t sw, float* y0, float* y1, int64_t OW,
                 float bias, int flags) {
  const float* xs[kDirectMaxRows];
  const float* ws[kDirectMaxRows];
  for (int out = 0; out < 2; ++out) {
    const float* const* wsrc = out ? wb : wa;
    int64_t n = 0;
    for (int64_t r = 0; r < nrows; ++r)
      if (wsrc[r]) { xs[n] = x[r]; ws[n] = wsrc[r]; ++n; }
    direct_row(xs, ws, n, W, KW, pl, dw, sw, out ? y1 : y0, OW, bias, flags);
  }
}

// B packing primitives (pack_b.inl): plain loops.
void pb_zero(float* d, int n) {
  for (int i = 0; i < n; ++i) d[i] = 0.0f;
}
void pb_copy(float* d, const float* s, int n) {
  for (int i = 0; i < n; ++i) d[i] = s[i];
}
void pb_gather(float* d, const float* s, int64_t inc, int n) {
  for (int i = 0; i < n; ++i) d[i] = s[i * inc];
}

#include "pack_b.inl"

void gather(float* d, const float* s, int64_t inc, int64_t n) {
  for (int64_t i = 0; i < n; i += 1024) pb_gather(d + i, s + i * inc, inc, int(imin(1024, n - i)));
}

void ukernel_4x8(int64_t kc, const float* a, const float* b, float* c, int64_t rs, int64_t cs, int m, int n,
            const float* bias, int flags) {
  ukernel_4x8_t<false>(kc, a, b, nullptr, c, rs, cs, m, n, bias, flags);
}
void ukernel_4x8_rows(int64_t kc, const float* a, const float* b, const int64_t* offs, float* c, int64_t rs, int m,
            int n, const float* bias, int flags) {
  ukernel_4x8_t<true>(kc, a, b, offs, c, rs, 1, m, n, bias, flags);
}

}  // namespace

extern const GemmKernels kGemmGeneric = {"generic", MR, NR, 256, 480, ukernel_4x8, direct_row, pack_b, ukernel_4x8_rows, direct_row2, gather};

}  // namespace cc
