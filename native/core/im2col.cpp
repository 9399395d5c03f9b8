#include "im2col.h"

#include <algorithm>

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

namespace {

// Writes a stream of columns into one row of NR-wide panels: column q lands at
// panel (q / nr), offset q % nr; the cursor tracks both without dividing.
struct PanelCursor {
  float* p;  // current panel's row
  int j;     // column within the panel
  int nr;
  int64_t pstride;  // floats between panels (kcb * nr)

  void step(int len) {
    j += len;
    if (j == nr) { j = 0; p += pstride; }
  }
  void zeros(int64_t n) {
    while (n > 0) {
      const int len = int(std::min<int64_t>(n, nr - j));
      for (int i = 0; i < len; ++i) p[j + i] = 0.0f;
      step(len);
      n -= len;
    }
  }
  void copy(const float* s, int64_t n) {  // contiguous source: vectorised runs of up to nr
    while (n > 0) {
      const int len = int(std::min<int64_t>(n, nr - j));
      float* d = p + j;
      for (int i = 0; i < len; ++i) d[i] = s[i];
      s += len;
      step(len);
      n -= len;
    }
  }
  void gather(const float* s, int64_t inc, int64_t n) {
    for (int64_t i = 0; i < n; ++i, s += inc) {
      p[j] = *s;
      step(1);
    }
  }
};

}  // namespace

void pack_b_im2col(const ConvShape& s, const InputView& in, int64_t k0, int64_t kcb, int64_t q0,
                   int64_t ncols, int nr, float* dst) {
  const int64_t panels = (ncols + nr - 1) / nr;
  const int64_t khw = s.KH * s.KW;
  int64_t c = k0 / khw, kh = (k0 % khw) / s.KW, kw = k0 % s.KW;
  const int64_t oh0 = q0 / s.OW, ow0 = q0 % s.OW;
  for (int64_t kk = 0; kk < kcb; ++kk) {
    PanelCursor cur{dst + kk * nr, 0, nr, kcb * nr};
    const float* xc = in.x + c * in.cs;
    const int64_t dh = kh * s.dil_h - s.pad_t, dw = kw * s.dil_w - s.pad_l;
    int64_t q = 0, oh = oh0, ow = ow0;
    while (q < ncols) {
      const int64_t run = std::min(s.OW - ow, ncols - q);  // the rest of this output row
      const int64_t ih = oh * s.stride_h + dh;
      if (ih < 0 || ih >= s.H) {
        cur.zeros(run);
      } else {
        // Output columns ow+t, t in [lo, hi), read inside the row: 0 <= iw0 + t*stride_w < W.
        const int64_t iw0 = ow * s.stride_w + dw, sw = s.stride_w;
        const int64_t lo = iw0 >= 0 ? 0 : std::min(run, (-iw0 + sw - 1) / sw);
        const int64_t hi = iw0 >= s.W ? lo : std::max(lo, std::min(run, (s.W - 1 - iw0) / sw + 1));
        const float* xr = xc + ih * in.hs + (iw0 + lo * sw) * in.ws;
        cur.zeros(lo);
        if (sw == 1 && in.ws == 1) cur.copy(xr, hi - lo);
        else cur.gather(xr, sw * in.ws, hi - lo);
        cur.zeros(run - hi);
      }
      q += run;
      ow = 0;
      ++oh;
    }
    cur.zeros(panels * nr - ncols);
    if (++kw == s.KW) {
      kw = 0;
      if (++kh == s.KH) { kh = 0; ++c; }
    }
  }
}

}  // namespace cc
