// direct (forward): y[n, k, oh, :] = bias[k] + sum over (c, kh) of input row (c, ih) * w[k, c, kh, :],
// two output rows at a time accumulated in registers over the union of their input rows. For
// depthwise-like problems (few channels per group in and out), where a GEMM would be mostly padding,
// and for problems too small to pay for packing. NCHW only. bf16: fp32 arithmetic on values rounded
// to bfloat16: the weights once per call, and each task's input rows once, into its thread's buffer.
#include <algorithm>

#include "common.h"

namespace cc {
namespace algos {
namespace {

struct DirectPlan {
  RowBlocks tasks;  // planes (image, output channel) in blocks of output rows
  // bf16: the rounded weights at the start of the scratch (w_floats), then per thread a task's
  // rounded input rows (in_floats: Cg channels of at most in_rows rows)
  int64_t w_floats, in_rows, in_floats;
};

// bf16's rounded input rows stay below this many bytes per thread (more row blocks otherwise).
constexpr int64_t kRoundedCap = int64_t(4) << 20;

// Input rows that output rows [oh0, oh1) read: [lo, hi) within [0, H).
void input_rows(const ConvProblem& p, int64_t oh0, int64_t oh1, int64_t* lo, int64_t* hi) {
  *lo = std::max<int64_t>(0, oh0 * p.stride_h - p.pad_t);
  *hi = std::min(p.H, (oh1 - 1) * p.stride_h - p.pad_t + (p.KH - 1) * p.dil_h + 1);
}

// The most input rows a block of output rows reads, row_blocks blocks.
int64_t max_input_rows(const ConvProblem& p, int64_t row_blocks) {
  int64_t most = 0;
  for (int64_t rb = 0; rb < row_blocks; ++rb) {
    int64_t lo, hi;
    input_rows(p, rb * p.OH / row_blocks, (rb + 1) * p.OH / row_blocks, &lo, &hi);
    most = std::max(most, hi - lo);
  }
  return most;
}

const char* unsupported(const ConvProblem& p) {
  return p.layout == Layout::NCHW ? nullptr : "the direct kernel reads NCHW only";
}

bool plan(Plan& pl) {
  const ConvProblem& p = pl.problem;
  DirectPlan& d = pl.get<DirectPlan>();
  const int t = team(p, pl.threads);
  d.tasks = RowBlocks::balanced(p.N * p.Cout, p.OH, t);
  d.w_floats = d.in_rows = d.in_floats = 0;
  if (p.precision == Precision::BF16) {
    // Even one output row's input rows must fit the cap (checked in floating point: no overflow).
    const double one = double(p.Cg) * double(std::min(p.H, (p.KH - 1) * p.dil_h + 1)) * double(p.W);
    if (one * 4 > double(kRoundedCap)) return false;
    while (double(p.Cg) * double(max_input_rows(p, d.tasks.blocks)) * double(p.W) * 4 > double(kRoundedCap))
      d.tasks.blocks = std::min(p.OH, 2 * d.tasks.blocks);
    d.w_floats = (p.w_elems() + 15) / 16 * 16;
    d.in_rows = max_input_rows(p, d.tasks.blocks);
    d.in_floats = (p.Cg * d.in_rows * p.W + 15) / 16 * 16;
  }
  pl.threads = int(std::min<int64_t>(t, d.tasks.tasks()));
  pl.scratch_bytes = size_t(d.w_floats + d.in_floats * pl.threads) * 4;
  return true;
}

// x [N, Cin, H, W], w [Cout, Cg, KH, KW] -> y [N, Cout, OH, OW]
void run(const Plan& pl, const RunArgs& a, float* scratch, int threads) {
  const ConvProblem& s = pl.problem;
  const DirectPlan& d = pl.get<DirectPlan>();
  const KernelSet& kr = *pl.kernels;
  const bool bf16 = s.precision == Precision::BF16;
  const RoundBf16 round = gemm_bf16(kr).round;
  const float* x = a.src;
  const float* w = a.w;
  if (bf16) {
    round(scratch, a.w, s.w_elems());
    w = scratch;
  }
  const float* bias = a.bias;
  float* y = a.dst;
  const bool relu = s.epilogue.act == Activation::Relu;
  const int64_t Kg = s.Kg();
  // Output rows in pairs when one channel's rows for both fit a batch: the rows they share are read
  // once (3x3 stride 1: 4 input rows feed 2 output rows instead of 3 + 3).
  const bool pairs = 2 * s.KH <= kDirectMaxRows;
  parallel_for(threads, d.tasks.tasks(), [&](int64_t task, int thread) {
    int64_t oh0, oh1;
    const int64_t plane = d.tasks.plane(task, &oh0, &oh1);
    const int64_t k = plane % s.Cout, n = plane / s.Cout, g = k / Kg;
    const float* xg = x + (n * s.Cin + g * s.Cg) * s.H * s.W;
    // Input row ih of channel c: in x, or (bf16) in the thread's rounded copy of rows [ih_lo, ih_hi).
    const float* xr0 = xg;
    int64_t xcs = s.H * s.W;
    if (bf16) {
      float* buf = scratch + d.w_floats + d.in_floats * thread;
      int64_t ih_lo = 0, ih_hi = 0;
      input_rows(s, oh0, oh1, &ih_lo, &ih_hi);
      for (int64_t c = 0; c < s.Cg && ih_hi > ih_lo; ++c)
        round(buf + c * (ih_hi - ih_lo) * s.W, xg + (c * s.H + ih_lo) * s.W, (ih_hi - ih_lo) * s.W);
      xr0 = buf - ih_lo * s.W;
      xcs = (ih_hi - ih_lo) * s.W;
    }
    auto in_row = [&](int64_t c, int64_t ih) { return xr0 + c * xcs + ih * s.W; };
    const float* wk = w + k * s.Cg * s.KH * s.KW;
    const float b = bias ? bias[k] : 0.0f;
    const float* xs[kDirectMaxRows];
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
      if (ahead >= 0 && ahead < s.H && s.Cg <= 4 && !bf16)
        for (int64_t c = 0; c < s.Cg; ++c)
          for (int64_t i = 0; i < s.W; i += 16) __builtin_prefetch(xg + (c * s.H + ahead) * s.W + i, 0, 3);
      for (int64_t c = 0; c < s.Cg; ++c) {
        if (two && nrows + 2 * s.KH > kDirectMaxRows) flush(false);
        const int64_t first = nrows;
        for (int64_t kh = 0; kh < s.KH; ++kh) {
          const int64_t ih = oh * s.stride_h - s.pad_t + kh * s.dil_h;
          if (ih < 0 || ih >= s.H) continue;
          xs[nrows] = in_row(c, ih);
          ws[nrows] = wk + (c * s.KH + kh) * s.KW;
          ws2[nrows] = nullptr;
          if (++nrows == kDirectMaxRows) flush(false);
        }
        if (!two) continue;
        for (int64_t kh = 0; kh < s.KH; ++kh) {  // the second row's taps: join a row already listed
          const int64_t ih = (oh + 1) * s.stride_h - s.pad_t + kh * s.dil_h;
          if (ih < 0 || ih >= s.H) continue;
          const float* xr = in_row(c, ih);
          const float* wr = wk + (c * s.KH + kh) * s.KW;
          int64_t r = first;
          while (r < nrows && xs[r] != xr) ++r;
          if (r == nrows) { xs[r] = xr; ws[r] = nullptr; ++nrows; }
          ws2[r] = wr;
        }
      }
      flush(true);  // also when every row is padding: y = bias (relu'd)
      oh += two ? 2 : 1;
    }
  });
}

}  // namespace

extern const Algorithm kDirectForward = {"direct", Direction::Forward, unsupported, direct_preferred, plan, run,
                                         nullptr, nullptr, nullptr};

}  // namespace algos
}  // namespace cc
