// Winograd F(m x m, r x r) input and output transforms (KernelSet::wino_in / wino_out), written once
// and included by each kernel file inside its anonymous namespace, so they are compiled with that
// file's ISA flags: every inner loop runs over the tiles of a run (consecutive along W), which is
// what the compiler vectorises. The includer includes ops.h (imin / imax).
// Matrices (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks"): alpha = 4 uses the
// points 0, 1, -1 and infinity; alpha = 6 the points 0, 1, -1, 2, -2 and infinity, for F(4, 3) and
// F(2, 5) alike (they differ in A and G only; G is in native/algos/winograd.cpp).

constexpr float kWinoBT4[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
constexpr float kWinoBT6[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                  {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
constexpr float kWinoAT23[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
constexpr float kWinoAT43[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
constexpr float kWinoAT25[2][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 1}};

// The transforms work on chunks of kWinoLanes tiles with compile-time trip counts (fully vectorised,
// no remainder loops); a chunk past the run's end computes lanes that are never stored.
constexpr int kWinoLanes = 16;

// V[xi][c][j0 + i] = (BT d B)[xi] for the patch d of tile i, channel c.
template <int M, int A, const float (&BT)[A][A]>
void wino_in_t(const WinoRun& t, int64_t C, float* V, int64_t vs, int nr, int64_t j0, float* scratch) {
  constexpr int64_t PL = kWinoMaxRun + 2 * kWinoLanes;  // a phase row, with room for a chunk's overrun
  const int64_t n = t.count;
  float* seg = scratch;          // [M * PL]: one input row as the run reads it, zero outside [0, W)
  float* ph = seg + M * PL;      // [A][M][PL]: each patch row's M column phases: column q of tile i
                                 // at ph[r][q % M][i + q / M]
  // Columns read: every chunk's lanes (n rounded up to kWinoLanes) and their taps.
  const int64_t len = M * ((n + kWinoLanes - 1) / kWinoLanes * kWinoLanes + (A - 1) / M + 1);
  const int64_t q0 = imin(len, imax(0, -t.iw0)), q1 = imax(q0, imin(len, t.W - t.iw0));
  for (int64_t c = 0; c < C; ++c) {
    // A later channel's rows, one cache line in 16 floats: each channel is a separate stream
    // through memory that the hardware prefetcher does not follow (docs/PERF.md, "Winograd").
    constexpr int64_t kAhead = 4;  // channels: covers a memory latency at a channel's transform time
    if (c + kAhead < C && t.ws == 1)
      for (int r = 0; r < A; ++r) {
        const int64_t ih = t.ih0 + r;
        if (ih < 0 || ih >= t.H) continue;
        const float* next = t.x + (c + kAhead) * t.cs + ih * t.hs + t.iw0 + q0;
        for (int64_t q = 0; q < q1 - q0; q += 16) __builtin_prefetch(next + q, 0, 3);
      }
    for (int r = 0; r < A; ++r) {
      float* pr = ph + r * M * PL;
      const int64_t ih = t.ih0 + r;
      if (ih < 0 || ih >= t.H) {
        for (int64_t i = 0; i < M * PL; ++i) pr[i] = 0.0f;
        continue;
      }
      const float* row = t.x + c * t.cs + ih * t.hs + t.iw0 * t.ws;
      if (t.ws == 1 && q0 == 0 && q1 == len) {  // inside the row: the phases straight from the input
        for (int p = 0; p < M; ++p)
          for (int64_t i = 0; i < len / M; ++i) pr[p * PL + i] = row[i * M + p];
        continue;
      }
      for (int64_t q = 0; q < q0; ++q) seg[q] = 0.0f;
      if (t.ws == 1)
        for (int64_t q = q0; q < q1; ++q) seg[q] = row[q];
      else
        for (int64_t q = q0; q < q1; ++q) seg[q] = row[q * t.ws];
      for (int64_t q = q1; q < len; ++q) seg[q] = 0.0f;
      for (int p = 0; p < M; ++p)
        for (int64_t i = 0; i < len / M; ++i) pr[p * PL + i] = seg[i * M + p];
    }
    // Per chunk and column xw: the patch rows transformed along W (t[r]), then along H into V, all
    // in registers (A + 1 vectors of kWinoLanes).
    for (int64_t i0 = 0; i0 < n; i0 += kWinoLanes) {
      const int64_t cnt = imin(kWinoLanes, n - i0);
#pragma GCC unroll 6
      for (int xw = 0; xw < A; ++xw) {
        float tr[A][kWinoLanes];
#pragma GCC unroll 6
        for (int r = 0; r < A; ++r) {
          for (int i = 0; i < kWinoLanes; ++i) tr[r][i] = 0.0f;
#pragma GCC unroll 6
          for (int q = 0; q < A; ++q) {
            if (BT[xw][q] == 0.0f) continue;
            const float* src = ph + (r * M + q % M) * PL + i0 + q / M;
            for (int i = 0; i < kWinoLanes; ++i) tr[r][i] += BT[xw][q] * src[i];
          }
        }
#pragma GCC unroll 6
        for (int xh = 0; xh < A; ++xh) {
          float acc[kWinoLanes] = {};
#pragma GCC unroll 6
          for (int r = 0; r < A; ++r) {
            if (BT[xh][r] == 0.0f) continue;
            for (int i = 0; i < kWinoLanes; ++i) acc[i] += BT[xh][r] * tr[r][i];
          }
          float* v = V + (xh * A + xw) * vs + c * nr + j0 + i0;
          if (cnt == kWinoLanes)
            for (int i = 0; i < kWinoLanes; ++i) v[i] = acc[i];
          else
            for (int64_t i = 0; i < cnt; ++i) v[i] = acc[i];
        }
      }
    }
  }
}

// y tile i of channel k = act(AT M_{k,i} A + bias[k]), clipped to OH x OW. Reads M up to a chunk
// past the run (finite or not: those lanes are dropped).
template <int M, int A, const float (&AT)[M][A]>
void wino_out_t(const float* Mx, int64_t ms, int nr, int64_t j0, const WinoRun& t, int64_t K, const float* bias,
                bool relu, float* scratch) {
  const int64_t n = t.count;
  alignas(64) float out[M][M][kWinoLanes];
  alignas(64) float line[M * kWinoLanes];  // one output row of a chunk, interleaved
  (void)scratch;
  for (int64_t k = 0; k < K; ++k) {
    const float* mk = Mx + k * nr + j0;
    const float b = bias ? bias[k] : 0.0f;
    float* yk = t.y + k * t.ks;
    for (int64_t i0 = 0; i0 < n; i0 += kWinoLanes) {
      // out[oy][ox] = b + sum_xh AT[oy][xh] * (sum_xw AT[ox][xw] * M[xh][xw]), in registers.
      for (int oy = 0; oy < M; ++oy)
        for (int ox = 0; ox < M; ++ox)
          for (int i = 0; i < kWinoLanes; ++i) out[oy][ox][i] = b;
#pragma GCC unroll 6
      for (int xh = 0; xh < A; ++xh) {
        float tt[M][kWinoLanes];
#pragma GCC unroll 4
        for (int ox = 0; ox < M; ++ox) {
          for (int i = 0; i < kWinoLanes; ++i) tt[ox][i] = 0.0f;
#pragma GCC unroll 6
          for (int xw = 0; xw < A; ++xw) {
            if (AT[ox][xw] == 0.0f) continue;
            const float* src = mk + (xh * A + xw) * ms + i0;
            for (int i = 0; i < kWinoLanes; ++i) tt[ox][i] += AT[ox][xw] * src[i];
          }
        }
#pragma GCC unroll 4
        for (int oy = 0; oy < M; ++oy) {
          if (AT[oy][xh] == 0.0f) continue;
#pragma GCC unroll 4
          for (int ox = 0; ox < M; ++ox)
            for (int i = 0; i < kWinoLanes; ++i) out[oy][ox][i] += AT[oy][xh] * tt[ox][i];
        }
      }
      if (relu)
        for (int oy = 0; oy < M; ++oy)
          for (int ox = 0; ox < M; ++ox)
            for (int i = 0; i < kWinoLanes; ++i) out[oy][ox][i] = out[oy][ox][i] > 0.0f ? out[oy][ox][i] : 0.0f;
      const int64_t ow = t.ow0 + i0 * M, cols = imin(imin(kWinoLanes, n - i0) * M, t.OW - ow);
      for (int oy = 0; oy < M; ++oy) {
        const int64_t oh = t.oh0 + oy;
        if (oh >= t.OH) break;
        for (int i = 0; i < kWinoLanes; ++i)
#pragma GCC unroll 4
          for (int ox = 0; ox < M; ++ox) line[i * M + ox] = out[oy][ox][i];
        float* yr = yk + oh * t.ys + ow * t.yws;
        if (t.yws == 1)
          for (int64_t q = 0; q < cols; ++q) yr[q] = line[q];
        else
          for (int64_t q = 0; q < cols; ++q) yr[q * t.yws] = line[q];
      }
    }
  }
}

void wino_in(int m, int r, const WinoRun& t, int64_t C, float* V, int64_t vs, int nr, int64_t j0, float* scratch) {
  if (m == 2 && r == 3) wino_in_t<2, 4, kWinoBT4>(t, C, V, vs, nr, j0, scratch);
  else if (m == 4 && r == 3) wino_in_t<4, 6, kWinoBT6>(t, C, V, vs, nr, j0, scratch);
  else wino_in_t<2, 6, kWinoBT6>(t, C, V, vs, nr, j0, scratch);  // (2, 5)
}

void wino_out(int m, int r, const float* Mx, int64_t ms, int nr, int64_t j0, const WinoRun& t, int64_t K,
              const float* bias, bool relu, float* scratch) {
  if (m == 2 && r == 3) wino_out_t<2, 4, kWinoAT23>(Mx, ms, nr, j0, t, K, bias, relu, scratch);
  else if (m == 4 && r == 3) wino_out_t<4, 6, kWinoAT43>(Mx, ms, nr, j0, t, K, bias, relu, scratch);
  else wino_out_t<2, 6, kWinoAT25>(Mx, ms, nr, j0, t, K, bias, relu, scratch);  // (2, 5)
}
