// direct (backward-data): dx[n, c, ih, :] = bias[c] + sum over the group's output channels k and the
// taps kh that reach row ih of w[k, c, kh, kw] * dy[n, k, oh, ow] scattered to column
// ow*sw + kw*dw - pl. One task owns a block of rows of one (image, channel) plane of dx, so tasks never
// write the same element and the sum order is fixed. For depthwise-like problems (few channels per
// group in and out) and tiny ones, as the forward direct kernel; any layout, any geometry, no scratch:
// also the fallback when the GEMM's buffers would pass their cap.
#include <algorithm>

#include "common.h"

namespace cc {
namespace algos {
namespace {

constexpr double kDirectMacs = 1 << 14;

struct DirectPlan {
  int64_t row_blocks, tasks;
};

const char* unsupported(const ConvProblem& p) { return backward_unsupported(p); }

bool preferred(const ConvProblem& p, const KernelSet&) {
  return p.macs() < kDirectMacs || (p.Cg <= 4 && p.Kg() <= 4);
}

bool plan(Plan& pl) {
  const ConvProblem& p = pl.problem;
  DirectPlan& d = pl.get<DirectPlan>();
  const int64_t planes = p.N * p.Cin;
  const int t = team(p, pl.threads);
  d.row_blocks = t > 1 ? std::min<int64_t>(p.H, std::max<int64_t>(1, (4 * t + planes - 1) / planes)) : 1;
  d.tasks = planes * d.row_blocks;
  pl.threads = int(std::min<int64_t>(t, d.tasks));
  pl.scratch_bytes = 0;
  return true;
}

// dy [N, Cout, OH, OW], w [Cout, Cg, KH, KW] -> dx [N, Cin, H, W] (or both NHWC)
void run(const Plan& pl, const RunArgs& a, float*, int threads) {
  const ConvProblem& s = pl.problem;
  const DirectPlan& d = pl.get<DirectPlan>();
  const ActStrides xs = act_strides(s.layout, s.Cin, s.H, s.W), ys = act_strides(s.layout, s.Cout, s.OH, s.OW);
  const int64_t Kg = s.Kg(), sh = s.stride_h, sw = s.stride_w;
  const bool relu = s.epilogue.act == Activation::Relu;
  parallel_for(threads, d.tasks, [&](int64_t task, int) {
    const int64_t rb = task % d.row_blocks, plane = task / d.row_blocks;
    const int64_t c = plane % s.Cin, n = plane / s.Cin, g = c / s.Cg, cg = c % s.Cg;
    const int64_t ih0 = rb * s.H / d.row_blocks, ih1 = (rb + 1) * s.H / d.row_blocks;
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
            const float wv = wr[kw];
            float* __restrict__ o = dx + (ow0 * sw + off) * xs.w;
            const float* __restrict__ dyl = dy + ow0 * ys.w;
            if (xs.w == 1 && ys.w == 1 && sw == 1) {
              for (int64_t j = 0; j < ow1 - ow0; ++j) o[j] += wv * dyl[j];
            } else {
              for (int64_t j = 0; j < ow1 - ow0; ++j) o[j * sw * xs.w] += wv * dyl[j * ys.w];
            }
          }
        }
      }
      if (relu)
        for (int64_t iw = 0; iw < s.W; ++iw) dx[iw * xs.w] = dx[iw * xs.w] > 0.0f ? dx[iw * xs.w] : 0.0f;
    }
  });
}

}  // namespace

extern const Algorithm kDirectBackwardData = {"direct", Direction::BackwardData, unsupported, preferred, plan, run,
                                              nullptr, nullptr, nullptr};

}  // namespace algos
}  // namespace cc
