// direct (backward-data): dx[n, c, ih, :] = bias[c] + sum over the group's output channels k and the
// taps kh that reach row ih of w[k, c, kh, kw] * dy[n, k, oh, ow] scattered to column
// ow*sw + kw*dw - pl (with stride 1 along the rows, NCHW: the kernel set's direct_row on the flipped
// taps). One task owns a block of rows of one (image, channel) plane of dx, so tasks never write the
// same element and the sum order is fixed. For depthwise-like problems (few channels per
// group in and out) and tiny ones, as the forward direct kernel; any layout, any geometry, no scratch:
// also the fallback when the GEMM's buffers would pass their cap. bf16: fp32 arithmetic on dy and w
// rounded as they are read.
#include <algorithm>

#include "common.h"

namespace cc {
namespace algos {
namespace {

struct DirectPlan {
  RowBlocks tasks;  // planes (image, input channel) in blocks of rows of dx
  bool rows;  // the kernel set's direct_row (stride 1 along the rows, NCHW), else the scatter loops
};

bool plan(Plan& pl) {
  const ConvProblem& p = pl.problem;
  DirectPlan& d = pl.get<DirectPlan>();
  const int t = team(p, pl.threads);
  d.tasks = RowBlocks::balanced(p.N * p.Cin, p.H, t);
  pl.threads = int(std::min<int64_t>(t, d.tasks.tasks()));
  // Stride 1 along the rows, NCHW: a gradient row is a correlation of gradOutput rows with the taps
  // flipped (kept per thread: kDirectMaxRows rows of KW), which the kernel set's direct_row computes.
  d.rows = p.layout == Layout::NCHW && p.stride_w == 1 && p.precision != Precision::BF16 &&
           double(p.KW) * kDirectMaxRows * 4 <= double(int64_t(1) << 20);
  pl.scratch_bytes = d.rows ? size_t(p.KW * kDirectMaxRows) * 4 * size_t(pl.threads) : 0;
  return true;
}

// dy [N, Cout, OH, OW], w [Cout, Cg, KH, KW] -> dx [N, Cin, H, W], NCHW, stride 1 along the rows:
// dx[ih][iw] = bias + sum over (k, kh) reaching row ih, kw of w[k][kh][KW-1-kw] (flipped) *
// dy[oh][iw + kw*dw - (dw*(KW-1) - pl)]: direct_row's correlation, every row batch in registers.
void run_rows(const Plan& pl, const RunArgs& a, float* scratch, int threads) {
  const ConvProblem& s = pl.problem;
  const DirectPlan& d = pl.get<DirectPlan>();
  const KernelSet& kr = *pl.kernels;
  const int64_t Kg = s.Kg(), pl_flip = s.dil_w * (s.KW - 1) - s.pad_l;
  const bool relu = s.epilogue.act == Activation::Relu;
  parallel_for(threads, d.tasks.tasks(), [&](int64_t task, int thread) {
    float* flipped = scratch + s.KW * kDirectMaxRows * thread;
    int64_t ih0, ih1;
    const int64_t plane = d.tasks.plane(task, &ih0, &ih1);
    const int64_t c = plane % s.Cin, n = plane / s.Cin, g = c / s.Cg, cg = c % s.Cg;
    const float b = a.bias ? a.bias[c] : 0.0f;
    const float* xs[kDirectMaxRows];
    const float* ws[kDirectMaxRows];
    for (int64_t ih = ih0; ih < ih1; ++ih) {
      float* dx = a.dst + ((n * s.Cin + c) * s.H + ih) * s.W;
      int flags = 0;  // the first batch starts from the bias
      int64_t nrows = 0;
      auto flush = [&](bool last) {
        if (nrows == 0 && flags != 0) {
          if (last && relu)
            for (int64_t iw = 0; iw < s.W; ++iw) dx[iw] = dx[iw] > 0.0f ? dx[iw] : 0.0f;
          return;
        }
        kr.direct_row(xs, ws, nrows, s.OW, s.KW, pl_flip, s.dil_w, 1, dx, s.W, b, flags | (last && relu ? kUkRelu : 0));
        flags = kUkAccumulate;
        nrows = 0;
      };
      for (int64_t kh = 0; kh < s.KH; ++kh) {
        const int64_t t = ih + s.pad_t - kh * s.dil_h;  // = oh * sh
        if (t < 0 || t % s.stride_h != 0 || t / s.stride_h >= s.OH) continue;
        const int64_t oh = t / s.stride_h;
        for (int64_t kk = 0; kk < Kg; ++kk) {
          const int64_t k = g * Kg + kk;
          const float* wr = a.w + ((k * s.Cg + cg) * s.KH + kh) * s.KW;
          float* f = flipped + nrows * s.KW;
          for (int64_t kw = 0; kw < s.KW; ++kw) f[kw] = wr[s.KW - 1 - kw];
          xs[nrows] = a.src + ((n * s.Cout + k) * s.OH + oh) * s.OW;
          ws[nrows] = f;
          if (++nrows == kDirectMaxRows) flush(false);
        }
      }
      flush(true);  // also when no row reaches ih: dx = bias (relu'd)
    }
  });
}

// dy [N, Cout, OH, OW], w [Cout, Cg, KH, KW] -> dx [N, Cin, H, W] (or both NHWC); rd reads an operand
template <class V>
void run_t(const Plan& pl, const RunArgs& a, int threads, V rd) {
  const ConvProblem& s = pl.problem;
  const DirectPlan& d = pl.get<DirectPlan>();
  const ActStrides xs = act_strides(s.layout, s.Cin, s.H, s.W), ys = act_strides(s.layout, s.Cout, s.OH, s.OW);
  const int64_t Kg = s.Kg(), sh = s.stride_h, sw = s.stride_w;
  const bool relu = s.epilogue.act == Activation::Relu;
  parallel_for(threads, d.tasks.tasks(), [&](int64_t task, int) {
    int64_t ih0, ih1;
    const int64_t plane = d.tasks.plane(task, &ih0, &ih1);
    const int64_t c = plane % s.Cin, n = plane / s.Cin, g = c / s.Cg, cg = c % s.Cg;
    const float b = a.bias ? a.bias[c] : 0.0f;
    const float* dyn = a.src + n * ys.n;
    for (int64_t ih = ih0; ih < ih1; ++ih) {
      float* __restrict__ dx = a.dst + n * xs.n + c * xs.c + ih * xs.h;
      for (int64_t iw = 0; iw < s.W; ++iw) dx[iw * xs.w] = b;
      for (int64_t kh = 0; kh < s.KH; ++kh) {
        const int64_t t = ih + s.pad_t - kh * s.dil_h;  // = oh * sh
        if (t < 0 || t % sh != 0 || t / sh >= s.OH) continue;
        const int64_t oh = t / sh;
        for (int64_t kk = 0; kk < Kg; ++kk) {
          const int64_t k = g * Kg + kk;
          const float* __restrict__ dy = dyn + k * ys.c + oh * ys.h;
          const float* wr = a.w + ((k * s.Cg + cg) * s.KH + kh) * s.KW;
          for (int64_t kw = 0; kw < s.KW; ++kw) {
            // Columns ow with 0 <= iw = ow*sw + kw*dw - pl < W.
            const int64_t off = kw * s.dil_w - s.pad_l;
            const int64_t ow0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
            const int64_t ow1 = std::min(s.OW, off >= s.W ? 0 : (s.W - 1 - off) / sw + 1);
            if (ow1 <= ow0) continue;
            const float wv = rd(wr[kw]);
            float* __restrict__ o = dx + (ow0 * sw + off) * xs.w;
            const float* __restrict__ dyl = dy + ow0 * ys.w;
            if (xs.w == 1 && ys.w == 1 && sw == 1) {
              for (int64_t j = 0; j < ow1 - ow0; ++j) o[j] += wv * rd(dyl[j]);
            } else {
              for (int64_t j = 0; j < ow1 - ow0; ++j) o[j * sw * xs.w] += wv * rd(dyl[j * ys.w]);
            }
          }
        }
      }
      if (relu)
        for (int64_t iw = 0; iw < s.W; ++iw) dx[iw * xs.w] = dx[iw * xs.w] > 0.0f ? dx[iw * xs.w] : 0.0f;
    }
  });
}

void run(const Plan& pl, const RunArgs& a, float* scratch, int threads) {
  if (pl.get<DirectPlan>().rows) return run_rows(pl, a, scratch, threads);
  with_values(pl.problem, [&](auto rd) { run_t(pl, a, threads, rd); });
}

}  // namespace

extern const Algorithm kDirectBackwardData = {"direct", Direction::BackwardData, runs_any, direct_preferred, plan, run,
                                              nullptr, nullptr, nullptr};

}  // namespace algos
}  // namespace cc
