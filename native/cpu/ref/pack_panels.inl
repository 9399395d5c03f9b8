// The im2col-into-panels traversal of the B packers (pack_b.inl: fp32, gemm_bf16.inl: bf16 pairs),
// written once as a template over the element source Src: Src::E the element type; Src::at(g, c) the
// source of element channel c; zero(d, n), copy(d, off, n), gather(d, off, inc, n), prefetch(off) at
// offsets from the channel's first element. Included (once per file) inside the includer's anonymous
// namespace, after ops.h.
#ifndef CC_PACK_PANELS_INL
#define CC_PACK_PANELS_INL

// Writes a stream of columns into one row of NR-wide panels: column q lands at panel q / nr,
// offset q % nr; the cursor tracks both without dividing.
template <class Src>
struct PanelCursor {
  using E = typename Src::E;
  E* p;             // current panel's row
  int j;            // column within the panel
  int nr;
  int64_t pstride;  // elements between panels (kcb * nr)

  void step(int len) {
    j += len;
    if (j == nr) { j = 0; p += pstride; }
  }
  void zeros(int64_t n) {
    while (n > 0) {
      const int len = int(imin(n, nr - j));
      Src::zero(p + j, len);
      step(len);
      n -= len;
    }
  }
  void copy(const Src& s, int64_t off, int64_t n) {
    while (n > 0) {
      const int len = int(imin(n, nr - j));
      s.copy(p + j, off, len);
      off += len;
      step(len);
      n -= len;
    }
  }
  void gather(const Src& s, int64_t off, int64_t inc, int64_t n) {
    while (n > 0) {
      const int len = int(imin(n, nr - j));
      s.gather(p + j, off, inc, len);
      off += len * inc;
      step(len);
      n -= len;
    }
  }
};

// Rows k0 .. k0+kcb-1 of the im2col matrix [C'*KH*KW, OH*OW] (k = (c*KH + kh)*KW + kw, c an element
// channel of Src: one channel, or a pair), columns q0 .. q0+ncols-1, as NR-wide panels [kcb][nr]
// (panel j at dst + j*kcb*nr), padding zero.
template <class Src>
void pack_b_t(const PackGeom& g, int64_t k0, int64_t kcb, int64_t q0, int64_t ncols, int nr, typename Src::E* dst) {
  const int64_t panels = (ncols + nr - 1) / nr;
  if (g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.ws == 1 && g.pt == 0 && g.pl == 0 && g.OW == g.W &&
      q0 + ncols <= g.H * g.W) {
    // 1x1 stride 1 unpadded (these columns: no bottom padding rows): row k is channel k's pixels q0..,
    // contiguous. Each row is a separate
    // stream through memory (one per channel), too many for the hardware prefetcher: prefetch the
    // row kPrefetchRows ahead ourselves.
    constexpr int64_t kPrefetchRows = 4;
    for (int64_t kk = 0; kk < kcb; ++kk) {
      const Src src = Src::at(g, k0 + kk);
      if (kk + kPrefetchRows < kcb) {
        const Src ahead = Src::at(g, k0 + kk + kPrefetchRows);
        for (int64_t i = 0; i < ncols; i += 16) ahead.prefetch(q0 + i);
      }
      PanelCursor<Src> cur{dst + kk * nr, 0, nr, kcb * nr};
      cur.copy(src, q0, ncols);
      cur.zeros(panels * nr - ncols);
    }
    return;
  }
  const int64_t khw = g.KH * g.KW;
  int64_t c = k0 / khw, kh = (k0 % khw) / g.KW, kw = k0 % g.KW;
  const int64_t oh0 = q0 / g.OW, ow0 = q0 % g.OW;
  for (int64_t kk = 0; kk < kcb; ++kk) {
    PanelCursor<Src> cur{dst + kk * nr, 0, nr, kcb * nr};
    const Src src = Src::at(g, c);
    const int64_t dh = kh * g.dh - g.pt, dw = kw * g.dw - g.pl;
    int64_t q = 0, oh = oh0, ow = ow0;
    while (q < ncols) {
      const int64_t run = imin(g.OW - ow, ncols - q);  // the rest of this output row
      const int64_t ih = oh * g.sh + dh;
      if (ih < 0 || ih >= g.H) {
        cur.zeros(run);
      } else {
        // Output columns ow+t, t in [lo, hi), read inside the row: 0 <= iw0 + t*sw < W.
        const int64_t iw0 = ow * g.sw + dw, sw = g.sw;
        const int64_t lo = iw0 >= 0 ? 0 : imin(run, (-iw0 + sw - 1) / sw);
        const int64_t hi = iw0 >= g.W ? lo : imax(lo, imin(run, (g.W - 1 - iw0) / sw + 1));
        const int64_t off = ih * g.hs + (iw0 + lo * sw) * g.ws;
        cur.zeros(lo);
        if (sw == 1 && g.ws == 1) cur.copy(src, off, hi - lo);
        else cur.gather(src, off, sw * g.ws, hi - lo);
        cur.zeros(run - hi);
      }
      q += run;
      ow = 0;
      ++oh;
    }
    cur.zeros(panels * nr - ncols);
    if (++kw == g.KW) {
      kw = 0;
      if (++kh == g.KH) { kh = 0; ++c; }
    }
  }
}

#endif  // CC_PACK_PANELS_INL
