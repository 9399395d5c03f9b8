// AArch64 AdvSIMD (NEON) kernel set. Micro-kernel 8 x 12: 24 q-register accumulators; per k, 2 loads
// of A (8 rows) and 3 loads of B (12 columns) feed 24 `fmla v.4s, b.4s, a.s[lane]` (29 of the 32
// vector registers). AdvSIMD is part of the AArch64 baseline: this file needs no extra flags and runs
// after the hwcap check in kernel_table.cpp.
#include <arm_neon.h>

#include "../kernels.h"
#include "../ref/ops.h"
#include "../ref/ref.h"

namespace cc {
namespace {

constexpr int MR = 8, NR = 12, NV = NR / 4;

// relu as the reference writes it (!(v > 0) -> 0): FMAXNM returns the number when the other operand
// is a NaN, so a NaN sum becomes 0 as on the other kernel sets.
inline float32x4_t relu(float32x4_t v) { return vmaxnmq_f32(v, vdupq_n_f32(0.0f)); }

// C[m x n] (op)= A-panel [kc][MR] * B [kc][NR]; kOffsets: B row k at b + offs[k] (read in place).
template <bool kOffsets>
void ukernel_t(int64_t kc, const float* a, const float* b, const int64_t* offs, float* c, int64_t rs, int64_t cs,
                    int m, int n, const float* bias, int flags) {
  // Named accumulators (the x86 files found GCC spilling an indexed array inside the k loop).
  float32x4_t c00 = vdupq_n_f32(0.0f), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
  float32x4_t c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
  float32x4_t c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
  float32x4_t c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = kOffsets ? b + offs[k] : b;
    const float32x4_t b0 = vld1q_f32(bk), b1 = vld1q_f32(bk + 4), b2 = vld1q_f32(bk + 8);
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    c00 = vfmaq_laneq_f32(c00, b0, a0, 0); c01 = vfmaq_laneq_f32(c01, b1, a0, 0); c02 = vfmaq_laneq_f32(c02, b2, a0, 0);
    c10 = vfmaq_laneq_f32(c10, b0, a0, 1); c11 = vfmaq_laneq_f32(c11, b1, a0, 1); c12 = vfmaq_laneq_f32(c12, b2, a0, 1);
    c20 = vfmaq_laneq_f32(c20, b0, a0, 2); c21 = vfmaq_laneq_f32(c21, b1, a0, 2); c22 = vfmaq_laneq_f32(c22, b2, a0, 2);
    c30 = vfmaq_laneq_f32(c30, b0, a0, 3); c31 = vfmaq_laneq_f32(c31, b1, a0, 3); c32 = vfmaq_laneq_f32(c32, b2, a0, 3);
    c40 = vfmaq_laneq_f32(c40, b0, a1, 0); c41 = vfmaq_laneq_f32(c41, b1, a1, 0); c42 = vfmaq_laneq_f32(c42, b2, a1, 0);
    c50 = vfmaq_laneq_f32(c50, b0, a1, 1); c51 = vfmaq_laneq_f32(c51, b1, a1, 1); c52 = vfmaq_laneq_f32(c52, b2, a1, 1);
    c60 = vfmaq_laneq_f32(c60, b0, a1, 2); c61 = vfmaq_laneq_f32(c61, b1, a1, 2); c62 = vfmaq_laneq_f32(c62, b2, a1, 2);
    c70 = vfmaq_laneq_f32(c70, b0, a1, 3); c71 = vfmaq_laneq_f32(c71, b1, a1, 3); c72 = vfmaq_laneq_f32(c72, b2, a1, 3);
    a += MR;
    if (!kOffsets) b += NR;
  }
  const float32x4_t acc[MR][NV] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32},
                                   {c40, c41, c42}, {c50, c51, c52}, {c60, c61, c62}, {c70, c71, c72}};
  if (cs == 1 && m == MR && n == NR) {
    for (int i = 0; i < MR; ++i) {
      float* ci = c + i * rs;
      const float32x4_t init = vdupq_n_f32(bias ? bias[i] : 0.0f);
      for (int v = 0; v < NV; ++v) {
        float32x4_t r = vaddq_f32(acc[i][v], (flags & kUkAccumulate) ? vld1q_f32(ci + 4 * v) : init);
        if (flags & kUkRelu) r = relu(r);
        vst1q_f32(ci + 4 * v, r);
      }
    }
    return;
  }
  float t[MR * NR];  // partial tile or strided (NHWC) output: the reference epilogue
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) vst1q_f32(t + i * NR + 4 * v, acc[i][v]);
  ref::store_tile(t, NR, c, rs, cs, m, n, bias, flags);
}

#include "../ref/ukernel.inl"

// The 4 floats x[off .. off+3] of a row of W floats, 0 outside [0, W): no load outside the row.
inline float32x4_t load_row4(const float* x, int64_t off, int64_t W) {
  if (off >= 0 && off + 4 <= W) return vld1q_f32(x + off);
  float t[4];
  for (int l = 0; l < 4; ++l) t[l] = off + l >= 0 && off + l < W ? x[off + l] : 0.0f;
  return vld1q_f32(t);
}

// Stride-1 direct rows, 16 outputs (4 vectors) per pass. kTwo: y0 with taps wa[r], y1 with wb[r] (a
// null tap skips the row), each input vector loaded once for both. One output row: even and odd rows
// feed separate accumulators, so both forms keep 8 FMA chains in flight.
template <bool kTwo>
void direct_rows_s1(const float* const* x, const float* const* wa, const float* const* wb, int64_t nrows, int64_t W,
                    int64_t KW, int64_t pl, int64_t dw, float* y0, float* y1, int64_t OW, float bias, int flags) {
  constexpr int V = 4;
  for (int64_t ow0 = 0; ow0 < OW; ow0 += 4 * V) {
    const int64_t nout = imin(4 * V, OW - ow0);
    float32x4_t acc0[V], acc1[V];
    float t[4 * V];
    for (int y = 0; y < (kTwo ? 2 : 1); ++y) {
      float32x4_t* acc = y ? acc1 : acc0;
      const float* src = y ? y1 : y0;
      if (flags & kUkAccumulate) {
        for (int64_t j = 0; j < 4 * V; ++j) t[j] = j < nout ? src[ow0 + j] : 0.0f;
        for (int v = 0; v < V; ++v) acc[v] = vld1q_f32(t + 4 * v);
      } else {
        for (int v = 0; v < V; ++v) acc[v] = vdupq_n_f32(bias);
      }
    }
    if (!kTwo)
      for (int v = 0; v < V; ++v) acc1[v] = vdupq_n_f32(0.0f);
    for (int64_t kw = 0; kw < KW; ++kw) {
      const int64_t off0 = ow0 + kw * dw - pl;  // input column of the first output of this pass
      if (off0 >= W || off0 + 4 * V <= 0) continue;
      const bool inside = off0 >= 0 && off0 + 4 * V <= W;
      auto load = [&](const float* xr, int v) {
        return inside ? vld1q_f32(xr + off0 + 4 * v) : load_row4(xr, off0 + 4 * v, W);
      };
      if constexpr (kTwo) {
        for (int64_t r = 0; r < nrows; ++r) {
          const float* xr = x[r];
          if (wa[r] && wb[r]) {
            const float s0 = wa[r][kw], s1 = wb[r][kw];
            for (int v = 0; v < V; ++v) {
              const float32x4_t xv = load(xr, v);
              acc0[v] = vfmaq_n_f32(acc0[v], xv, s0);
              acc1[v] = vfmaq_n_f32(acc1[v], xv, s1);
            }
          } else if (wa[r]) {
            const float s0 = wa[r][kw];
            for (int v = 0; v < V; ++v) acc0[v] = vfmaq_n_f32(acc0[v], load(xr, v), s0);
          } else if (wb[r]) {
            const float s1 = wb[r][kw];
            for (int v = 0; v < V; ++v) acc1[v] = vfmaq_n_f32(acc1[v], load(xr, v), s1);
          }
        }
      } else {
        int64_t r = 0;
        for (; r + 2 <= nrows; r += 2) {
          const float s0 = wa[r][kw], s1 = wa[r + 1][kw];
          for (int v = 0; v < V; ++v) {
            acc0[v] = vfmaq_n_f32(acc0[v], load(x[r], v), s0);
            acc1[v] = vfmaq_n_f32(acc1[v], load(x[r + 1], v), s1);
          }
        }
        if (r < nrows)
          for (int v = 0; v < V; ++v) acc0[v] = vfmaq_n_f32(acc0[v], load(x[r], v), wa[r][kw]);
      }
    }
    if (!kTwo)
      for (int v = 0; v < V; ++v) acc0[v] = vaddq_f32(acc0[v], acc1[v]);
    for (int y = 0; y < (kTwo ? 2 : 1); ++y) {
      float32x4_t* acc = y ? acc1 : acc0;
      float* dst = (y ? y1 : y0) + ow0;
      for (int v = 0; v < V; ++v) {
        const float32x4_t r = (flags & kUkRelu) ? relu(acc[v]) : acc[v];
        if (4 * v + 4 <= nout) vst1q_f32(dst + 4 * v, r);
        else vst1q_f32(t + 4 * v, r);
      }
      for (int64_t j = nout / 4 * 4; j < nout; ++j) dst[j] = t[j];
    }
  }
}

void direct_row(const float* const* x, const float* const* w, int64_t nrows, int64_t W, int64_t KW, int64_t pl,
                int64_t dw, int64_t sw, float* y, int64_t OW, float bias, int flags) {
  if (sw != 1) return ref::direct_row(x, w, nrows, W, KW, pl, dw, sw, y, OW, bias, flags);
  direct_rows_s1<false>(x, w, nullptr, nrows, W, KW, pl, dw, y, nullptr, OW, bias, flags);
}

void direct_row2(const float* const* x, const float* const* wa, const float* const* wb, int64_t nrows, int64_t W,
                 int64_t KW, int64_t pl, int64_t dw, int64_t sw, float* y0, float* y1, int64_t OW, float bias,
                 int flags) {
  if (sw != 1) return ref::direct_row2(ref::direct_row, x, wa, wb, nrows, W, KW, pl, dw, sw, y0, y1, OW, bias, flags);
  direct_rows_s1<true>(x, wa, wb, nrows, W, KW, pl, dw, y0, y1, OW, bias, flags);
}

// B packing primitives (pack_b.inl): 4 lanes, scalar tails.
typedef float PackVec __attribute__((vector_size(16), aligned(1), may_alias));
#include "../ref/lane_pack.inl"
// Stride 2 (stride-2 convolutions in NCHW): LD2 de-interleaves 8 floats into even and odd lanes; a
// vector is loaded only when all 8 floats lie before the last element used.
void pb_gather(float* d, const float* s, int64_t inc, int n) {
  int i = 0;
  if (inc == 2)
    for (; i + 5 <= n; i += 4) vst1q_f32(d + i, vld2q_f32(s + 2 * i).val[0]);
  for (; i < n; ++i) d[i] = s[i * inc];
}

#include "../ref/pack_b.inl"

#include "../ref/bf16_portable.inl"
#include "../ref/gemm_bf16.inl"
#include "../ref/peak.inl"
#include "../ref/winograd.inl"

float peak(int64_t iters, float seed) {
  return peak_chains<float32x4_t>(
      iters, seed, [](float v) { return vdupq_n_f32(v); },
      [](float32x4_t x, float32x4_t a, float32x4_t b) { return vfmaq_f32(b, x, a); },
      [](float32x4_t v) { return vaddvq_f32(v); });
}

void gather(float* d, const float* s, int64_t inc, int64_t n) {
  for (int64_t i = 0; i < n; i += 1024) pb_gather(d + i, s + i * inc, inc, int(imin(1024, n - i)));
}

// bf16, emulated with fp32 FMAs (ARMv8.6's BFDOT/BFMMLA would be a native GemmBf16: not written,
// no such CPU here to test on): 8 x 8 tiles, 16 accumulators.
typedef float F4 __attribute__((vector_size(16)));
F4 fma4(F4 a, F4 b, F4 c) { return F4(vfmaq_f32(float32x4_t(c), float32x4_t(a), float32x4_t(b))); }
using Bf16 = EmulatedBf16<8, 2, F4, fma4>;

}  // namespace

extern const KernelSet kNeon = {"neon",     MR, NR, 256, 480, ukernel, ukernel_rows, pack_b, direct_row,
                                direct_row2, gather, peak, kPeakChains * 4 * 2, &Bf16::gemm, wino_in, wino_out};

}  // namespace cc
