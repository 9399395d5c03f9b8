// direct (backward-weights): dw[k, c, kh, kw] = sum over n, oh, ow of dy[n, k, oh, ow] *
// x[n, g*Cg + c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw]. One task owns the taps of one (output
// channel, input channel) pair: it multiplies whole rows element-wise into per-column partial sums
// (vectorisable without reassociating anything), then adds the columns up in order, so the result is
// the same bits for any thread count. For depthwise-like and tiny problems, as the forward direct
// kernel; any layout and geometry: also the fallback when the GEMM's buffers would pass their cap.
// bf16: fp32 arithmetic on x and dy rounded as they are read.
#include <algorithm>

#include "common.h"

namespace cc {
namespace algos {
namespace {

constexpr int64_t kTapBlock = 64, kColumns = 256;  // per-thread partial sums: kTapBlock x kColumns floats

struct DirectPlan {
  int64_t columns, taps;  // columns of partial sums (<= kColumns), taps per block
};

bool plan(Plan& pl) {
  const ConvProblem& p = pl.problem;
  DirectPlan& d = pl.get<DirectPlan>();
  d.columns = std::min(p.OW, kColumns);
  d.taps = std::min(p.KH * p.KW, kTapBlock);
  const int64_t tasks = p.Cout * p.Cg;
  pl.threads = int(std::min<int64_t>(team(p, pl.threads), tasks));
  pl.scratch_bytes = size_t(d.columns * d.taps) * 4 * size_t(pl.threads);
  return true;
}

// x [N, Cin, H, W], dy [N, Cout, OH, OW] (or both NHWC) -> dw [Cout, Cg, KH, KW]; rd reads an operand
template <class V>
void run_t(const Plan& pl, const RunArgs& a, float* scratch, int threads, V rd) {
  const ConvProblem& s = pl.problem;
  const DirectPlan& d = pl.get<DirectPlan>();
  const ActStrides xs = act_strides(s.layout, s.Cin, s.H, s.W), ys = act_strides(s.layout, s.Cout, s.OH, s.OW);
  const int64_t Kg = s.Kg(), taps = s.KH * s.KW, sh = s.stride_h, sw = s.stride_w;
  const bool unit = xs.w == 1 && ys.w == 1 && sw == 1;
  parallel_for(threads, s.Cout * s.Cg, [&](int64_t task, int thread) {
    float* acc = scratch + d.columns * d.taps * thread;
    const int64_t k = task / s.Cg, cg = task % s.Cg, c = k / Kg * s.Cg + cg;
    float* dw = a.dst + (k * s.Cg + cg) * taps;
    for (int64_t t0 = 0; t0 < taps; t0 += d.taps) {
      const int64_t nt = std::min(d.taps, taps - t0);
      double sum[kTapBlock] = {};
      for (int64_t ow0 = 0; ow0 < s.OW; ow0 += d.columns) {
        const int64_t ow1 = std::min(s.OW, ow0 + d.columns);
        std::fill(acc, acc + nt * d.columns, 0.0f);
        for (int64_t n = 0; n < s.N; ++n)
          for (int64_t oh = 0; oh < s.OH; ++oh) {
            const float* __restrict__ dy = a.src2 + n * ys.n + k * ys.c + oh * ys.h;
            for (int64_t t = 0; t < nt; ++t) {
              const int64_t kh = (t0 + t) / s.KW, kw = (t0 + t) % s.KW;
              const int64_t ih = oh * sh - s.pad_t + kh * s.dil_h;
              if (ih < 0 || ih >= s.H) continue;
              const float* __restrict__ x = a.src + n * xs.n + c * xs.c + ih * xs.h;
              // Columns ow in [ow0, ow1) with 0 <= iw = ow*sw + off < W.
              const int64_t off = kw * s.dil_w - s.pad_l;
              const int64_t lo = std::max(ow0, off >= 0 ? 0 : (-off + sw - 1) / sw);
              const int64_t hi = std::min(ow1, off >= s.W ? 0 : (s.W - 1 - off) / sw + 1);
              if (hi <= lo) continue;
              float* __restrict__ p = acc + t * d.columns + (lo - ow0);
              const float* __restrict__ dyl = dy + lo * ys.w;
              const float* __restrict__ xl = x + (lo * sw + off) * xs.w;
              if (unit) {
                for (int64_t j = 0; j < hi - lo; ++j) p[j] += rd(dyl[j]) * rd(xl[j]);
              } else {
                for (int64_t j = 0; j < hi - lo; ++j) p[j] += rd(dyl[j * ys.w]) * rd(xl[j * sw * xs.w]);
              }
            }
          }
        for (int64_t t = 0; t < nt; ++t)
          for (int64_t j = 0; j < ow1 - ow0; ++j) sum[t] += double(acc[t * d.columns + j]);
      }
      for (int64_t t = 0; t < nt; ++t) dw[t0 + t] = float(sum[t]);
    }
  });
}

void run(const Plan& pl, const RunArgs& a, float* scratch, int threads) {
  with_values(pl.problem, [&](auto rd) { run_t(pl, a, scratch, threads, rd); });
}

}  // namespace

extern const Algorithm kDirectBackwardWeights = {"direct", Direction::BackwardWeights, runs_any, direct_preferred, plan,
                                                 run, nullptr, nullptr, nullptr};

}  // namespace algos
}  // namespace cc
