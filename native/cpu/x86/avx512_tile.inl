// The AVX-512 micro-kernels' epilogue (fp32 and bf16 share it), included inside the anonymous
// namespace of avx512.cpp and avx512bf16.cpp after they define MR and NV: C (op)= the MR x 16*NV
// accumulators, with the bias (or C itself under kUkAccumulate) added and relu applied.
__attribute__((always_inline)) inline void store_acc(const __m512 (&acc)[MR][NV], float* c, int64_t rs, int64_t cs,
                                                     int m, int n, const float* bias, int flags) {
  if (cs == 1) {  // NCHW output: rows contiguous; masked for a partial tile
    const __m512 zero = _mm512_setzero_ps();
    __mmask16 mask[NV];
    for (int v = 0; v < NV; ++v) {
      const int left = n - 16 * v;
      mask[v] = left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
    }
    for (int i = 0; i < MR; ++i) {
      if (i >= m) break;
      float* ci = c + i * rs;
      const __m512 init = _mm512_set1_ps(bias ? bias[i] : 0.0f);
      for (int v = 0; v < NV; ++v) {
        __m512 r = acc[i][v];
        // Plain loads and stores for full vectors: masked ones to memory not in cache are slower
        // (docs/PERF.md, "What was tried": AVX-512 masked stores).
        const bool full = mask[v] == 0xFFFF;
        if (flags & kUkAccumulate)
          r = _mm512_add_ps(r, full ? _mm512_loadu_ps(ci + 16 * v) : _mm512_maskz_loadu_ps(mask[v], ci + 16 * v));
        else
          r = _mm512_add_ps(r, init);
        if (flags & kUkRelu) r = _mm512_max_ps(r, zero);
        if (full) _mm512_storeu_ps(ci + 16 * v, r);
        else _mm512_mask_storeu_ps(ci + 16 * v, mask[v], r);
      }
    }
    return;
  }
  alignas(64) float t[MR * 16 * NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) _mm512_store_ps(t + i * 16 * NV + 16 * v, acc[i][v]);
  ref::store_tile(t, 16 * NV, c, rs, cs, m, n, bias, flags);
}
