#include "ref.h"

namespace cc {
namespace ref {

void direct_row(const float* const* x, const float* const* w, int64_t nrows, int64_t W, int64_t KW, int64_t pl,
                int64_t dw, int64_t sw, float* y, int64_t OW, float bias, int flags) {
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

void direct_row2(DirectRow row, const float* const* x, const float* const* wa, const float* const* wb,
                 int64_t nrows, int64_t W, int64_t KW, int64_t pl, int64_t dw, int64_t sw, float* y0, float* y1,
                 int64_t OW, float bias, int flags) {
  const float* xs[kDirectMaxRows];
  const float* ws[kDirectMaxRows];
  for (int out = 0; out < 2; ++out) {
    const float* const* wsrc = out ? wb : wa;
    int64_t n = 0;
    for (int64_t r = 0; r < nrows; ++r)
      if (wsrc[r]) { xs[n] = x[r]; ws[n] = wsrc[r]; ++n; }
    row(xs, ws, n, W, KW, pl, dw, sw, out ? y1 : y0, OW, bias, flags);
  }
}

void gather(float* d, const float* s, int64_t inc, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = s[i * inc];
}

void store_tile(const float* t, int ldt, float* c, int64_t rs, int64_t cs, int m, int n, const float* bias,
                int flags) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float* p = c + i * rs + j * cs;
      float v = t[i * ldt + j] + ((flags & kUkAccumulate) ? *p : (bias ? bias[i] : 0.0f));
      if ((flags & kUkRelu) && !(v > 0.0f)) v = 0.0f;
      *p = v;
    }
}

}  // namespace ref
}  // namespace cc
