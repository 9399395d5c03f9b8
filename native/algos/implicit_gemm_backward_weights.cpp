// implicit_gemm (backward-weights): per group, the weight gradient as one GEMM
//     dw'[k][(kh, kw, c)] = sum over output pixels q of dy[k][q] * x[c][ih(q, kh)][iw(q, kw)]
// with M = Cout/groups (dy's channels, packed once per tile as the A panels, K = pixels) and
// N = KH*KW*Cg. The tile's input rows are copied channel-innermost into a window [row][column][c],
// where for each pixel and kernel row kh the KW*Cg values (kw, c) are contiguous (Cg per tap with a
// column dilation): a B panel row (NR of them) is one contiguous copy, so packing B costs a plain copy
// per pixel. (Read in place instead, the rows of consecutive pixels lie Cg floats apart: with 64 or
// 256 channels they fall into a few L1 sets, measured 2-3x slower.) The window and the packed dy are shared
// by the team: each tile is copied once, then the threads split the N panels (and M, when the panels
// are few) and accumulate over the pixels in one fixed order, so every element of dw has the same
// bits for any thread count. dw' ([Cout][KH][KW][Cg]) is transposed to OIHW at the end.
#include <algorithm>
#include <cstring>

#include "common.h"

namespace cc {
namespace algos {
namespace {

// The tile's shared buffers (window, packed dy, pixel offsets) stay below this many bytes.
constexpr int64_t kTileCap = int64_t(8) << 20;

struct BwPlan {
  int64_t M, Mp, Kd;       // dy channels per group, rounded up to MR; KH*KW*Cg
  int64_t nseg, L, pps;    // contiguous segments per pixel, their length, NR panels per segment
  int64_t Wp;              // window columns (every input column an output row reads)
  int64_t rows, tiles;     // output rows per tile, tiles per image
  int64_t win_floats, a_floats;
  int64_t pchunks, msplit;  // compute tasks per tile: panel chunks x M chunks
  int64_t bpanel_floats;    // per thread: one packed B panel [kc][NR]
};

const char* unsupported(const ConvProblem&) { return nullptr; }
bool preferred(const ConvProblem&, const KernelSet&) { return true; }

int64_t window_rows(const ConvProblem& s, int64_t rows) { return (rows - 1) * s.stride_h + (s.KH - 1) * s.dil_h + 1; }
size_t aligned_floats(int64_t n) { return size_t((n + 15) / 16 * 16); }

bool plan(Plan& pl) {
  const ConvProblem& s = pl.problem;
  const KernelSet& kr = *pl.kernels;
  BwPlan& b = pl.get<BwPlan>();
  b.M = s.Kg();
  b.Mp = (b.M + kr.mr - 1) / kr.mr * kr.mr;
  b.Kd = s.KH * s.KW * s.Cg;
  b.nseg = s.dil_w == 1 ? s.KH : s.KH * s.KW;
  b.L = s.dil_w == 1 ? s.KW * s.Cg : s.Cg;
  b.pps = (b.L + kr.nr - 1) / kr.nr;
  // One output row's buffers must fit; checked in floating point first (every factor < 2^31).
  const double wp = double(s.OW - 1) * double(s.stride_w) + double(s.KW - 1) * double(s.dil_w) + 1.0;
  auto tile_bytes = [&](double rows) {
    const double rw = (rows - 1.0) * double(s.stride_h) + double(s.KH - 1) * double(s.dil_h) + 1.0;
    return 4.0 * (rw * wp * double(s.Cg) + double(kr.nr) + double(b.Mp) * rows * double(s.OW) + 2.0 * rows * double(s.OW));
  };
  if (tile_bytes(1) > double(kTileCap)) return false;
  b.Wp = int64_t(wp);
  b.rows = 1;
  while (b.rows < s.OH && tile_bytes(double(b.rows + 1)) <= double(kTileCap)) ++b.rows;
  b.tiles = (s.OH + b.rows - 1) / b.rows;
  b.rows = (s.OH + b.tiles - 1) / b.tiles;  // equal tiles
  b.win_floats = window_rows(s, b.rows) * b.Wp * s.Cg + kr.nr;
  b.a_floats = b.Mp * b.rows * s.OW;
  const int t = team(s, pl.threads);
  const int64_t np = b.nseg * b.pps, mpanels = b.Mp / kr.mr;
  b.pchunks = std::min<int64_t>(np, t > 1 ? 4 * t : 1);
  b.msplit = t > 1 && np < 4 * t ? std::min<int64_t>(mpanels, (4 * t + np - 1) / np) : 1;
  pl.threads = int(std::max<int64_t>(1, std::min<int64_t>(t, std::max(b.pchunks * b.msplit, window_rows(s, b.rows)))));
  b.bpanel_floats = int64_t(aligned_floats(int64_t(kr.kc) * kr.nr));
  pl.scratch_bytes = 4 * (aligned_floats(s.w_elems()) + aligned_floats(b.win_floats) + aligned_floats(b.a_floats) +
                          aligned_floats(2 * b.rows * s.OW) + size_t(b.bpanel_floats) * size_t(pl.threads));
  return true;
}

// x [N, Cin, H, W], dy [N, Cout, OH, OW] (or both NHWC) -> dw [Cout, Cg, KH, KW]
void run(const Plan& pl, const RunArgs& args, float* scratch, int threads) {
  const ConvProblem& s = pl.problem;
  const BwPlan& b = pl.get<BwPlan>();
  const KernelSet& kr = *pl.kernels;
  const int mr = kr.mr, nr = kr.nr;
  const ActStrides xs = act_strides(s.layout, s.Cin, s.H, s.W), ys = act_strides(s.layout, s.Cout, s.OH, s.OW);
  const bool nhwc = s.layout == Layout::NHWC;
  float* dwp = scratch;  // [Cout][KH][KW][Cg]
  float* win = dwp + aligned_floats(s.w_elems());
  float* apk = win + aligned_floats(b.win_floats);
  int64_t* offs = reinterpret_cast<int64_t*>(apk + aligned_floats(b.a_floats));
  float* bpanels = reinterpret_cast<float*>(offs) + aligned_floats(2 * b.rows * s.OW);
  const int64_t mpanels = b.Mp / mr, np = b.nseg * b.pps;
  auto seg_off = [&](int64_t seg) {
    return s.dil_w == 1 ? seg * s.dil_h * b.Wp * s.Cg : ((seg / s.KW) * s.dil_h * b.Wp + (seg % s.KW) * s.dil_w) * s.Cg;
  };
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t g = 0; g < s.groups; ++g)
      for (int64_t t = 0; t < b.tiles; ++t) {
        const int64_t oh0 = t * b.rows, rows = std::min(b.rows, s.OH - oh0), P = rows * s.OW;
        const int64_t rw = window_rows(s, rows), ih0 = oh0 * s.stride_h - s.pad_t;
        // Equal K blocks of at most kc pixels.
        const int64_t kblocks = (P + kr.kc - 1) / kr.kc, kc = (P + kblocks - 1) / kblocks;
        const float* dyt = args.src2 + n * ys.n + g * b.M * ys.c + oh0 * ys.h;
        const float* xg = args.src + n * xs.n + g * s.Cg * xs.c;
        // The shared part: window rows, then dy's MR panels, then the pixel offsets (the last task).
        parallel_for(threads, rw + mpanels + 1, [&](int64_t task, int) {
          if (task < rw) {  // window row `task`: input row ih0 + task, columns -pl .. Wp - 1 - pl
            float* d = win + task * b.Wp * s.Cg;
            const int64_t ih = ih0 + task;
            if (ih < 0 || ih >= s.H) {
              std::fill(d, d + b.Wp * s.Cg, 0.0f);
              return;
            }
            const int64_t j0 = std::min(b.Wp, s.pad_l), j1 = std::max(j0, std::min(b.Wp, s.W + s.pad_l));
            std::fill(d, d + j0 * s.Cg, 0.0f);
            std::fill(d + j1 * s.Cg, d + b.Wp * s.Cg, 0.0f);
            const float* xr = xg + ih * xs.h + (j0 - s.pad_l) * xs.w;
            if (nhwc) {
              for (int64_t j = j0; j < j1; ++j) std::memcpy(d + j * s.Cg, xr + (j - j0) * xs.w, size_t(s.Cg) * 4);
            } else {  // channel rows to pixels: contiguous writes; the Cg rows' lines stay in L1 for 16 pixels
              for (int64_t j = j0; j < j1; ++j)
                for (int64_t c = 0; c < s.Cg; ++c) d[j * s.Cg + c] = xr[c * xs.c + (j - j0)];
            }
          } else if (task < rw + mpanels) {  // MR rows of dy, every K block: [kcb][MR] at apk + Mp*k0 + i0*kcb
            const int64_t i0 = (task - rw) * mr;
            const int rowsm = int(std::min<int64_t>(mr, b.M - i0));
            for (int64_t k0 = 0; k0 < P; k0 += kc) {
              const int64_t kcb = std::min(kc, P - k0);
              float* d = apk + b.Mp * k0 + i0 * kcb;
              for (int64_t kk = 0; kk < kcb; ++kk) {
                const float* src = dyt + (i0 * ys.c) + (k0 + kk) * ys.w;
                for (int i = 0; i < rowsm; ++i) d[kk * mr + i] = src[i * ys.c];
                for (int i = rowsm; i < mr; ++i) d[kk * mr + i] = 0.0f;
              }
            }
          } else {
            std::fill(win + rw * b.Wp * s.Cg, win + rw * b.Wp * s.Cg + nr, 0.0f);  // slack the last panel reads
            for (int64_t q = 0; q < P; ++q) offs[q] = ((q / s.OW) * s.stride_h * b.Wp + (q % s.OW) * s.stride_w) * s.Cg;
          }
        });
        const bool first = n == 0 && t == 0;  // this group's first pixels: C = A*B, no accumulation
        parallel_for(threads, b.pchunks * b.msplit, [&](int64_t task, int thread) {
          float* bp = bpanels + b.bpanel_floats * thread;
          const int64_t pc = task / b.msplit, mc = task % b.msplit;
          const int64_t p0 = pc * np / b.pchunks, p1 = (pc + 1) * np / b.pchunks;
          const int64_t m_lo = mc * mpanels / b.msplit * mr, m_hi = std::min(b.M, (mc + 1) * mpanels / b.msplit * mr);
          for (int64_t k0 = 0; k0 < P; k0 += kc) {
            const int64_t kcb = std::min(kc, P - k0);
            const int flags = first && k0 == 0 ? 0 : kUkAccumulate;
            for (int64_t pi = p0; pi < p1; ++pi) {
              const int64_t seg = pi / b.pps, l0 = (pi % b.pps) * nr;
              const int ncb = int(std::min<int64_t>(nr, b.L - l0));
              const float* src = win + seg_off(seg) + l0;
              for (int64_t kk = 0; kk < kcb; ++kk) std::copy(src + offs[k0 + kk], src + offs[k0 + kk] + nr, bp + kk * nr);
              float* c = dwp + (g * b.M) * b.Kd + seg * b.L + l0;
              for (int64_t i0 = m_lo; i0 < m_hi; i0 += mr)
                kr.ukernel(kcb, apk + b.Mp * k0 + i0 * kcb, bp, c + i0 * b.Kd, b.Kd, 1,
                           int(std::min<int64_t>(mr, b.M - i0)), ncb, nullptr, flags);
            }
          }
        });
      }
  // dw' [Cout][KH*KW][Cg] -> OIHW [Cout][Cg][KH*KW]
  const int64_t taps = s.KH * s.KW;
  parallel_for(s.w_elems() < (int64_t(1) << 16) ? 1 : threads, s.Cout, [&](int64_t k, int) {
    const float* src = dwp + k * b.Kd;
    float* dst = args.dst + k * b.Kd;
    for (int64_t c = 0; c < s.Cg; ++c)
      for (int64_t tp = 0; tp < taps; ++tp) dst[c * taps + tp] = src[tp * s.Cg + c];
  });
}

}  // namespace

extern const Algorithm kImplicitGemmBackwardWeights = {"implicit_gemm", Direction::BackwardWeights, unsupported,
                                                       preferred, plan, run, nullptr, nullptr, nullptr};

}  // namespace algos
}  // namespace cc
