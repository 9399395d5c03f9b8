// direct (forward): y[n, k, oh, :] = bias[k] + sum over (c, kh) of input row (c, ih) * w[k, c, kh, :],
// two output rows at a time accumulated in registers over the union of their input rows. For
// depthwise-like problems (few channels per group in and out), where a GEMM would be mostly padding,
// and for problems too small to pay for packing. NCHW only. bf16: fp32 arithmetic on values rounded
// to bfloat16 (the weights once per call, each input row as a batch takes it, into per-thread rows).
#include <algorithm>

#include "../cpu/ref/ops.h"
#include "common.h"

namespace cc {
namespace algos {
namespace {

// Below this many multiply-adds the direct kernel wins whatever the shape: nothing to pack.
constexpr double kDirectMacs = 1 << 14;

struct DirectPlan {
  int64_t row_blocks, tasks;
  int64_t w_floats;  // bf16: the rounded weights at the start of the scratch, then per thread
                     // kDirectMaxRows rounded input rows of W floats
};

// bf16's rounded input rows stay below this many bytes per thread; wider rows take a GEMM.
constexpr int64_t kRoundedRowsCap = int64_t(4) << 20;

// d[i] = s[i] rounded to bfloat16, i < n.
void round_bf16(const float* s, float* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = from_bf16(to_bf16(s[i]));
}

const char* unsupported(const ConvProblem& p) {
  return p.layout == Layout::NCHW ? nullptr : "the direct kernel reads NCHW only";
}

bool preferred(const ConvProblem& p, const KernelSet&) {
  return p.macs() < kDirectMacs || (p.Cg <= 4 && p.Kg() <= 4);
}

bool plan(Plan& pl) {
  const ConvProblem& p = pl.problem;
  DirectPlan& d = pl.get<DirectPlan>();
  const int64_t planes = p.N * p.Cout;
  const int t = team(p, pl.threads);
  // Enough tasks to balance the team: split planes into blocks of output rows when they are few.
  d.row_blocks = t > 1 ? std::min<int64_t>(p.OH, std::max<int64_t>(1, (4 * t + planes - 1) / planes)) : 1;
  d.tasks = planes * d.row_blocks;
  pl.threads = int(std::min<int64_t>(t, d.tasks));
  pl.scratch_bytes = 0;
  d.w_floats = 0;
  if (p.precision == Precision::BF16) {
    if (double(kDirectMaxRows) * double(p.W) * 4 > double(kRoundedRowsCap)) return false;
    d.w_floats = (p.w_elems() + 15) / 16 * 16;
    pl.scratch_bytes = size_t(d.w_floats + kDirectMaxRows * p.W * pl.threads) * 4;
  }
  return true;
}

// x [N, Cin, H, W], w [Cout, Cg, KH, KW] -> y [N, Cout, OH, OW]
void run(const Plan& pl, const RunArgs& a, float* scratch, int threads) {
  const ConvProblem& s = pl.problem;
  const DirectPlan& d = pl.get<DirectPlan>();
  const KernelSet& kr = *pl.kernels;
  const bool bf16 = s.precision == Precision::BF16;
  const float* x = a.src;
  const float* w = a.w;
  if (bf16) {
    round_bf16(a.w, scratch, s.w_elems());
    w = scratch;
  }
  const float* bias = a.bias;
  float* y = a.dst;
  const bool relu = s.epilogue.act == Activation::Relu;
  const int64_t Kg = s.Kg();
  // Output rows in pairs when one channel's rows for both fit a batch: the rows they share are read
  // once (3x3 stride 1: 4 input rows feed 2 output rows instead of 3 + 3).
  const bool pairs = 2 * s.KH <= kDirectMaxRows;
  parallel_for(threads, d.tasks, [&](int64_t task, int thread) {
    float* rounded = bf16 ? scratch + d.w_floats + kDirectMaxRows * s.W * thread : nullptr;
    const int64_t rb = task % d.row_blocks, plane = task / d.row_blocks;
    const int64_t k = plane % s.Cout, n = plane / s.Cout, g = k / Kg;
    const int64_t oh0 = rb * s.OH / d.row_blocks, oh1 = (rb + 1) * s.OH / d.row_blocks;
    const float* xg = x + (n * s.Cin + g * s.Cg) * s.H * s.W;
    const float* wk = w + k * s.Cg * s.KH * s.KW;
    const float b = bias ? bias[k] : 0.0f;
    const float* xs[kDirectMaxRows];
    const float* src[kDirectMaxRows];  // the input row behind xs (xs: its rounded copy for bf16)
    const float* ws[kDirectMaxRows];
    const float* ws2[kDirectMaxRows];
    for (int64_t oh = oh0; oh < oh1;) {
      const bool two = pairs && oh + 1 < oh1;
      float* yr = y + (plane * s.OH + oh) * s.OW;
      float* yr2 = two ? yr + s.OW : nullptr;
      int flags = 0;  // the first batch of rows initialises y with the bias
      int64_t nrows = 0;
      auto flush = [&](bool last) {
        const int f = flags | (last && relu ? kUkRelu : 0);
        if (nrows > 0 || flags == 0) {
          if (two) kr.direct_row2(xs, ws, ws2, nrows, s.W, s.KW, s.pad_l, s.dil_w, s.stride_w, yr, yr2, s.OW, b, f);
          else kr.direct_row(xs, ws, nrows, s.W, s.KW, s.pad_l, s.dil_w, s.stride_w, yr, s.OW, b, f);
          flags = kUkAccumulate;
          nrows = 0;
        } else if (last && relu) {  // the last batch was already flushed full
          for (int64_t j = 0; j < (two ? 2 : 1) * s.OW; ++j) yr[j] = yr[j] > 0.0f ? yr[j] : 0.0f;
        }
      };
      // Fetch the input rows the next output rows will need first touched (S7 streams its input).
      const int64_t ahead = (oh + 2 + two) * s.stride_h - s.pad_t + (s.KH - 1) * s.dil_h;
      if (ahead >= 0 && ahead < s.H && s.Cg <= 4)
        for (int64_t c = 0; c < s.Cg; ++c)
          for (int64_t i = 0; i < s.W; i += 16) __builtin_prefetch(xg + (c * s.H + ahead) * s.W + i, 0, 3);
      // Row r of the batch: input row xr (rounded into the thread's row r for bf16).
      auto add_row = [&](const float* xr) {
        src[nrows] = xr;
        xs[nrows] = xr;
        if (bf16) {
          float* dst = rounded + nrows * s.W;
          round_bf16(xr, dst, s.W);
          xs[nrows] = dst;
        }
      };
      for (int64_t c = 0; c < s.Cg; ++c) {
        if (two && nrows + 2 * s.KH > kDirectMaxRows) flush(false);
        const int64_t first = nrows;
        for (int64_t kh = 0; kh < s.KH; ++kh) {
          const int64_t ih = oh * s.stride_h - s.pad_t + kh * s.dil_h;
          if (ih < 0 || ih >= s.H) continue;
          add_row(xg + (c * s.H + ih) * s.W);
          ws[nrows] = wk + (c * s.KH + kh) * s.KW;
          ws2[nrows] = nullptr;
          if (++nrows == kDirectMaxRows) flush(false);
        }
        if (!two) continue;
        for (int64_t kh = 0; kh < s.KH; ++kh) {  // the second row's taps: join a row already listed
          const int64_t ih = (oh + 1) * s.stride_h - s.pad_t + kh * s.dil_h;
          if (ih < 0 || ih >= s.H) continue;
          const float* xr = xg + (c * s.H + ih) * s.W;
          const float* wr = wk + (c * s.KH + kh) * s.KW;
          int64_t r = first;
          while (r < nrows && src[r] != xr) ++r;
          if (r == nrows) { add_row(xr); ws[r] = nullptr; ++nrows; }
          ws2[r] = wr;
        }
      }
      flush(true);  // also when every row is padding: y = bias (relu'd)
      oh += two ? 2 : 1;
    }
  });
}

}  // namespace

extern const Algorithm kDirectForward = {"direct", Direction::Forward, unsupported, preferred, plan, run,
                                         nullptr, nullptr, nullptr};

}  // namespace algos
}  // namespace cc
