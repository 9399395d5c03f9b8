// im2col fused into B packing, included by each kernel file inside its anonymous namespace so it is
// compiled with that file's ISA flags: the one B packer, written once. The includer includes ops.h
// (imin/imax) and defines three primitives for one panel segment of n <= NR floats:
//   pb_zero(d, n), pb_copy(d, s, n) (contiguous source), pb_gather(d, s, inc, n) (strided source).
// Nothing here may be an inline function with external linkage (the ISA flags must not leak).

// Writes a stream of columns into one row of NR-wide panels: column q lands at panel q / nr,
// offset q % nr; the cursor tracks both without dividing.
struct PanelCursor {
  float* p;         // current panel's row
  int j;            // column within the panel
  int nr;
  int64_t pstride;  // floats between panels (kcb * nr)

  void step(int len) {
    j += len;
    if (j == nr) { j = 0; p += pstride; }
  }
  void zeros(int64_t n) {
    while (n > 0) {
      const int len = int(imin(n, nr - j));
      pb_zero(p + j, len);
      step(len);
      n -= len;
    }
  }
  void copy(const float* s, int64_t n) {
    while (n > 0) {
      const int len = int(imin(n, nr - j));
      pb_copy(p + j, s, len);
      s += len;
      step(len);
      n -= len;
    }
  }
  void gather(const float* s, int64_t inc, int64_t n) {
    while (n > 0) {
      const int len = int(imin(n, nr - j));
      pb_gather(p + j, s, inc, len);
      s += len * inc;
      step(len);
      n -= len;
    }
  }
};

// Rows k0 .. k0+kcb-1 of the im2col matrix [Cg*KH*KW, OH*OW] (k = (c*KH + kh)*KW + kw), columns
// q0 .. q0+ncols-1, as NR-wide panels [kcb][nr] (panel j at dst + j*kcb*nr), padding zero.
void pack_b(const PackGeom& g, int64_t k0, int64_t kcb, int64_t q0, int64_t ncols, int nr, float* dst) {
  const int64_t panels = (ncols + nr - 1) / nr;
  if (g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.ws == 1 && g.pt == 0 && g.pl == 0 && g.OW == g.W &&
      q0 + ncols <= g.H * g.W) {
    // 1x1 stride 1 unpadded (these columns: no bottom padding rows): row k is channel k's pixels q0..,
    // contiguous. Each row is a separate
    // stream through memory (one per channel), too many for the hardware prefetcher: prefetch the
    // row kPrefetchRows ahead ourselves.
    constexpr int64_t kPrefetchRows = 4;
    for (int64_t kk = 0; kk < kcb; ++kk) {
      const float* src = g.x + (k0 + kk) * g.cs + q0;
      if (kk + kPrefetchRows < kcb)
        for (int64_t i = 0; i < ncols; i += 16)
          __builtin_prefetch(src + kPrefetchRows * g.cs + i, 0, 3);
      PanelCursor cur{dst + kk * nr, 0, nr, kcb * nr};
      cur.copy(src, ncols);
      cur.zeros(panels * nr - ncols);
    }
    return;
  }
  const int64_t khw = g.KH * g.KW;
  int64_t c = k0 / khw, kh = (k0 % khw) / g.KW, kw = k0 % g.KW;
  const int64_t oh0 = q0 / g.OW, ow0 = q0 % g.OW;
  for (int64_t kk = 0; kk < kcb; ++kk) {
    PanelCursor cur{dst + kk * nr, 0, nr, kcb * nr};
    const float* xc = g.x + c * g.cs;
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
        const float* xr = xc + ih * g.hs + (iw0 + lo * sw) * g.ws;
        cur.zeros(lo);
        if (sw == 1 && g.ws == 1) cur.copy(xr, hi - lo);
        else cur.gather(xr, sw * g.ws, hi - lo);
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
