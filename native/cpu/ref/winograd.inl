// Winograd F(m x m, r x r) input and output transforms (KernelSet::wino_in / wino_out), written once
// and included by each kernel file inside its anonymous namespace, so they are compiled with that
// file's ISA flags: every inner loop runs over the tiles of a run (consecutive along W), which is
// what the compiler vectorises. Where the file is compiled for AVX-512 (__AVX512F__), the row split
// into column phases, partial stores and the output rows' interleave use its masked loads and stores
// and permutes instead (the includer then includes immintrin.h). The includer includes ops.h (imin /
// imax) and kernels.h.
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
// no remainder loops); a chunk past the run's end computes lanes that no output keeps (wino_in_t
// says where its extra lanes land).
constexpr int kWinoLanes = 16;

// d[i] = s[i] for i < n (n <= 64): AVX-512 masked stores where available; a plain loop, which the
// compiler may turn into a call to memcpy, elsewhere.
inline void wino_store(float* d, const float* s, int64_t n) {
#ifdef __AVX512F__
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t k = imin(16, n - i);
    _mm512_mask_storeu_ps(d + i, __mmask16((1u << k) - 1), _mm512_loadu_ps(s + i));
  }
#else
  for (int64_t i = 0; i < n; ++i) d[i] = s[i];
#endif
}

#ifdef __AVX512F__
// The lanes of each 16 columns [16 k, 16 k + 16) of a run's row inside [q0, q1), for k < len / 16 (len:
// the staged columns, whole blocks of 16 M; at most M kWinoMaxRun + 2 rounded up to 64, so 20 masks).
constexpr int kWinoMasks = (4 * kWinoMaxRun + 64) / 16;
inline void wino_masks(int64_t q0, int64_t q1, int64_t len, __mmask16* mk) {
  for (int64_t k = 0; k < len / 16; ++k) {
    const int64_t lo = imin(16, imax(0, q0 - 16 * k)), hi = imin(16, imax(0, q1 - 16 * k));
    mk[k] = __mmask16(hi > lo ? ((1u << hi) - 1) & ~((1u << lo) - 1) : 0u);
  }
}

// One row's M column phases with AVX-512: d[p * PL + i] = row[i * M + p] where that column q is in
// [q0, q1), else 0, for i < len / M (len: whole blocks of 16 M columns). Masked loads (masks from
// wino_masks) read only the columns in [q0, q1); every store is a whole vector.
template <int M>
inline void wino_split_row_avx512(const float* row, const __mmask16* mk, int64_t len, float* d, int64_t PL) {
  static_assert(M == 2 || M == 4, "phases of 2 or 4 columns");
  for (int64_t b = 0; b < len; b += 16 * M) {
    __m512 v[M];
    for (int k = 0; k < M; ++k) v[k] = _mm512_maskz_loadu_ps(mk[b / 16 + k], row + b + 16 * k);
    for (int p = 0; p < M; ++p) {
      __m512 ph;
      if constexpr (M == 2) {
        ph = _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(p, p + 2, p + 4, p + 6, p + 8, p + 10, p + 12, p + 14,
                                                             p + 16, p + 18, p + 20, p + 22, p + 24, p + 26, p + 28,
                                                             p + 30),
                                    v[1]);
      } else {
        const __m512i idx = _mm512_setr_epi32(p, p + 4, p + 8, p + 12, p + 16, p + 20, p + 24, p + 28, 0, 0, 0, 0, 0,
                                              0, 0, 0);
        const __m512 lo = _mm512_permutex2var_ps(v[0], idx, v[1]), hi = _mm512_permutex2var_ps(v[2], idx, v[3]);
        ph = _mm512_shuffle_f32x4(lo, hi, _MM_SHUFFLE(1, 0, 1, 0));
      }
      _mm512_storeu_ps(d + p * PL + b / M, ph);
    }
  }
}

// d[i * M + x] = a[x][i] for i < kWinoLanes, x < M, the first n of them (one output row of a chunk:
// tile i's M columns side by side), by two rounds of permutes into M whole vectors.
template <int M>
inline void wino_interleave_store_avx512(const float (&a)[M][kWinoLanes], float* d, int64_t n) {
  static_assert(M == 2 || M == 4, "rows of 2 or 4 columns per tile");
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  __m512 r[M];
  const __m512 a0 = _mm512_loadu_ps(a[0]), a1 = _mm512_loadu_ps(a[1]);
  if constexpr (M == 2) {
    r[0] = _mm512_permutex2var_ps(a0, lo, a1);
    r[1] = _mm512_permutex2var_ps(a0, hi, a1);
  } else {
    const __m512 a2 = _mm512_loadu_ps(a[2]), a3 = _mm512_loadu_ps(a[3]);
    const __m512 p01l = _mm512_permutex2var_ps(a0, lo, a1), p01h = _mm512_permutex2var_ps(a0, hi, a1);
    const __m512 p23l = _mm512_permutex2var_ps(a2, lo, a3), p23h = _mm512_permutex2var_ps(a2, hi, a3);
    const __m512i pl = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i ph = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    r[0] = _mm512_permutex2var_ps(p01l, pl, p23l);
    r[1] = _mm512_permutex2var_ps(p01l, ph, p23l);
    r[2] = _mm512_permutex2var_ps(p01h, pl, p23h);
    r[3] = _mm512_permutex2var_ps(p01h, ph, p23h);
  }
  for (int j = 0; j < M; ++j) {
    const int64_t k = imin(16, n - 16 * j);
    if (k <= 0) break;
    _mm512_mask_storeu_ps(d + 16 * j, __mmask16(k >= 16 ? 0xFFFFu : (1u << k) - 1), r[j]);
  }
}
#endif

// V[xi][c][j0 + i] = (BT d B)[xi] for the patch d of tile i, channel c.
// Each channel's A patch rows are first split into their M column phases (column q of tile i at
// phase q % M, index i + q / M; zero outside the image), kWinoStages - 1 channels ahead of the
// transform that reads them, in a ring of buffers: the transform reads the phases at shifted
// offsets, and a load that spans stores still in flight waits for them (store-to-load forwarding
// fails); written a few channels earlier they are in the cache by then.
template <int M, int A, const float (&BT)[A][A]>
void wino_in_t(const WinoRun& t, int64_t C, float* V, int64_t vs, int nr, int64_t j0, float* scratch) {
  constexpr int64_t PL = kWinoMaxRun + 2 * kWinoLanes;  // a phase row, with room for a chunk's overrun
  constexpr int64_t SL = A * M * PL;                      // one ring slot: [A][M][PL]
  const int64_t n = t.count;
  // Columns staged: the run's tiles read [0, M n + A - M) (tile i: [M i, M i + A)), rounded up to
  // whole blocks of 16 M columns (the AVX-512 split's unit). The chunks' lanes past n read phase
  // indices up to `reach`: those past the staged ones are zeroed once here in every ring slot (no
  // stage writes them), so every lane computes from initialised, finite values.
  const int64_t len = (M * n + A - M + 16 * M - 1) / (16 * M) * (16 * M);
  const int64_t reach = (n + kWinoLanes - 1) / kWinoLanes * kWinoLanes + (A - 1) / M;
  for (int64_t row = 0; row < kWinoStages * A * M; ++row)
    for (int64_t i = len / M; i <= reach; ++i) scratch[row * PL + i] = 0.0f;
  const int64_t q0 = imin(len, imax(0, -t.iw0)), q1 = imax(q0, imin(len, t.W - t.iw0));
#ifdef __AVX512F__
  __mmask16 mk[kWinoMasks];
  wino_masks(q0, q1, len, mk);
#endif
  auto stage = [&](int64_t c) {
    float* ph = scratch + c % kWinoStages * SL;
    for (int r = 0; r < A; ++r) {
      float* pr = ph + r * M * PL;
      const int64_t ih = t.ih0 + r;
      if (ih < 0 || ih >= t.H) {
        for (int p = 0; p < M; ++p)
          for (int64_t i = 0; i < len / M; ++i) pr[p * PL + i] = 0.0f;
        continue;
      }
      const float* row = t.x + c * t.cs + ih * t.hs + t.iw0 * t.ws;  // row[q]: column q of the run
#ifdef __AVX512F__
      if (t.ws == 1) {
        wino_split_row_avx512<M>(row, mk, len, pr, PL);
        continue;
      }
#endif
      for (int p = 0; p < M; ++p) {
        // Phase p's indices i with q = i * M + p inside [q0, q1): [ia, ib).
        const int64_t ia = imin(len / M, (q0 - p + M - 1) / M), ib = imax(ia, imin(len / M, (q1 - p + M - 1) / M));
        float* d = pr + p * PL;
        for (int64_t i = 0; i < ia; ++i) d[i] = 0.0f;
        if (t.ws == 1)
          for (int64_t i = ia; i < ib; ++i) d[i] = row[i * M + p];
        else
          for (int64_t i = ia; i < ib; ++i) d[i] = row[(i * M + p) * t.ws];
        for (int64_t i = ib; i < len / M; ++i) d[i] = 0.0f;
      }
    }
  };
  for (int64_t c = 0; c < imin(C, kWinoStages - 1); ++c) stage(c);
  for (int64_t c = 0; c < C; ++c) {
    // A later channel's rows, one cache line in 16 floats: each channel is a separate stream
    // through memory that the hardware prefetcher does not follow (docs/PERF.md, "Winograd").
    constexpr int64_t kAhead = 8;  // channels: covers a memory latency at a channel's transform time
    if (c + kAhead < C && t.ws == 1)
      for (int r = 0; r < A; ++r) {
        const int64_t ih = t.ih0 + r;
        if (ih < 0 || ih >= t.H) continue;
        const float* next = t.x + (c + kAhead) * t.cs + ih * t.hs + t.iw0 + q0;
        for (int64_t q = 0; q < q1 - q0; q += 16) __builtin_prefetch(next + q, 0, 3);
      }
    if (c + kWinoStages - 1 < C) stage(c + kWinoStages - 1);
    const float* ph = scratch + c % kWinoStages * SL;
    // Per chunk and column xw: the patch rows transformed along W (t[r]), then along H into V, all
    // in registers (A + 1 vectors of kWinoLanes). Whole chunks and the run's last partial one are
    // separate instances: with one body the compiler stores through a variable-length copy.
    auto transform = [&](int64_t i0, auto whole) {
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
          if constexpr (decltype(whole)::value)
            for (int i = 0; i < kWinoLanes; ++i) v[i] = acc[i];
          else
            wino_store(v, acc, cnt);
        }
      }
    };
    // All lanes while they stay inside the panel row: lanes past the run's end land on the next
    // run's columns, which it writes later (runs go left to right), or on the panel's unused
    // columns, which run() zeroes afterwards.
    for (int64_t i0 = 0; i0 < n; i0 += kWinoLanes) {
      if (j0 + i0 + kWinoLanes <= nr) transform(i0, std::true_type());
      else transform(i0, std::false_type());
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
        float* yr = yk + oh * t.ys + ow * t.yws;
#ifdef __AVX512F__
        if (t.yws == 1) {
          wino_interleave_store_avx512<M>(out[oy], yr, cols);
          continue;
        }
#endif
        for (int i = 0; i < kWinoLanes; ++i)
#pragma GCC unroll 4
          for (int ox = 0; ox < M; ++ox) line[i * M + ox] = out[oy][ox][i];
        if (t.yws == 1)
          wino_store(yr, line, cols);
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
