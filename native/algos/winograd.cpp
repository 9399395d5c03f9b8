// winograd_2x2, winograd_4x4 (forward): Winograd's minimal filtering F(m x m, r x r) for stride-1,
// undilated r x r kernels (r = 3; winograd_2x2 also r = 5), m = 2 or 4 outputs per tile side,
// alpha = m + r - 1. With U = G w G^T (the weights, prepacked) and V = BT d B (an input patch d):
//   y_tile = AT [ sum_c U[k][c] (.) V[c] ] A,
// i.e. for each of the alpha^2 positions xi a GEMM M[xi] (Kg x tiles) = U[xi] (Kg x Cg) * V[xi]
// (Cg x tiles), run on the packed micro-kernel (U in MR-row panels, V written by the input transform
// straight into NR-wide panels: a panel is NR tiles). A task is (group, panel of NR tiles, chunk of
// output channels): it transforms its tiles' inputs (V: alpha^2 x Cg x NR floats), then per chunk of
// output channels runs the alpha^2 GEMMs into M (alpha^2 x chunk x NR) and the output transform,
// which adds the bias and applies relu. Everything is in per-thread buffers bounded by the tile.
// Error against the float64 reference, per tile size and K: docs/PERF.md, "Winograd".
#include <algorithm>
#include <cstring>

#include "common.h"

namespace cc {
namespace algos {
namespace {

// Per-thread buffers stay below this many bytes (otherwise the entry declines the problem).
constexpr int64_t kBufferCap = int64_t(4) << 20;

// V's and M's positions xi are this many floats (a cache line) further apart than their contents:
// alpha^2 rows exactly 12 KiB apart (S3: 64 channels x 48 tiles) share their L1 set, and the
// input transform writes all of them per channel.
constexpr int64_t kSkew = 16;

// 'auto' takes Winograd only where the accuracy contract holds: relative L2 error <= 1e-5 against
// the float64 reference with inputs in [-1, 1] (measured per tile size and K = Cg * r * r,
// docs/PERF.md "Winograd"). The largest K measured within it per entry; 0: never (forced only).
struct Contract {
  int m, r;
  int64_t max_k;
};
constexpr Contract kContract[] = {
    {2, 3, 4608},  // F(2x2, 3x3): rel L2 <= 5.1e-7 up to K = 4608 (Cg = 512), the largest measured
    {4, 3, 4608},  // F(4x4, 3x3): <= 2.9e-6 up to K = 4608
    {2, 5, 3200},  // F(2x2, 5x5): <= 2.7e-6 up to K = 3200 (Cg = 128)
};

bool within_contract(int m, int r, int64_t K) {
  for (const Contract& c : kContract)
    if (c.m == m && c.r == r) return K <= c.max_k;
  return false;
}

struct WinoPlan {
  int m, r, alpha;
  int64_t TH, TW, tiles;  // tile grid of one image; all images' tiles: N * tiles
  int64_t Mp, kc;         // U packing: Kg rounded up to MR; K blocks over Cg
  int64_t panels, ksplit, kchunk, tasks;
  int64_t vs, ms;                        // V's and M's stride between positions xi (floats)
  int64_t v_floats, m_floats, s_floats;  // per thread: V, M, transform scratch
};

// G (alpha x r) for (m, r), in double: rows for the points 0, 1, -1, 2, -2 scaled to match BT
// (ref/winograd.inl), and the point at infinity.
void g_matrix(int m, int r, double G[6][5]) {
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 5; ++j) G[i][j] = 0;
  const int alpha = m + r - 1;
  if (alpha == 4) {  // F(2, 3): points 0, 1, -1
    const double g[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 3; ++j) G[i][j] = g[i][j];
    return;
  }
  // alpha = 6: points 0, 1, -1, 2, -2 with the scale 1/f of BT's rows (1/4, -1/6, -1/6, 1/24, 1/24).
  const double pts[5] = {0, 1, -1, 2, -2}, scale[5] = {0.25, -1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 24};
  for (int i = 0; i < 5; ++i) {
    double p = 1;
    for (int j = 0; j < r; ++j, p *= pts[i]) G[i][j] = scale[i] * p;
  }
  G[5][r - 1] = 1;
}

template <int kM, int kR>
const char* unsupported(const ConvProblem& p) {
  if (p.precision != Precision::FP32) return "Winograd computes in fp32 only";
  if (p.stride_h != 1 || p.stride_w != 1 || p.dil_h != 1 || p.dil_w != 1)
    return "Winograd needs stride 1 and dilation 1";
  if (p.KH != kR || p.KW != kR) return kR == 3 ? "this Winograd tile needs a 3x3 kernel" : "needs a 3x3 or 5x5 kernel";
  return nullptr;
}

// Below this many multiply-adds 'auto' keeps the GEMMs: a small layer pays the weight transform and
// the per-task buffers for little work (16 x 16 images, 16 channels: 3-5 G multiply-adds/s here
// against 12-30 for implicit_gemm, docs/PERF.md "Winograd").
constexpr double kMinMacs = double(1 << 22);

// Whether 'auto' should take F(m x m) for p: within the accuracy contract, NCHW, enough channels and
// work that the GEMMs outweigh the transforms, panels of NR tiles at least 3/4 full (a small image at
// N = 1 would compute mostly padding), and the transformed inputs of a task (V) within the L2.
bool fits(int m, const ConvProblem& p, const KernelSet& k) {
  if (p.layout != Layout::NCHW || p.Cg < 16 || p.Kg() < 16 || !k.wino_in) return false;
  if (p.macs() < kMinMacs) return false;
  if (!within_contract(m, int(p.KH), p.Cg * p.KH * p.KW)) return false;
  const int64_t alpha = m + p.KH - 1, tiles = p.N * ((p.OH + m - 1) / m) * ((p.OW + m - 1) / m);
  const int64_t panels = (tiles + k.nr - 1) / k.nr;
  if (4 * tiles < 3 * panels * k.nr) return false;
  return alpha * alpha * p.Cg * k.nr * 4 <= 2 * k.tile_bytes;
}

// The configuration's preferred tile first (winograd_4x4 precedes winograd_2x2 in the registry).
template <int kM>
bool preferred(const ConvProblem& p, const KernelSet& k) {
  return fits(kM, p, k) && (kM == 2 || k.winograd_m == 4);
}

template <int kM>
bool plan(Plan& pl) {
  const ConvProblem& s = pl.problem;
  const KernelSet& kr = *pl.kernels;
  if (!kr.wino_in || kr.mr > 32) return false;  // prepack's buffer holds MR <= 32 rows
  WinoPlan& w = pl.get<WinoPlan>();
  w.m = kM;
  w.r = int(s.KH);
  w.alpha = w.m + w.r - 1;
  const int64_t a2 = w.alpha * w.alpha, nr = kr.nr, mr = kr.mr, Kg = s.Kg();
  w.TH = (s.OH + kM - 1) / kM;
  w.TW = (s.OW + kM - 1) / kM;
  w.tiles = w.TH * w.TW;
  w.Mp = (Kg + mr - 1) / mr * mr;
  const int64_t kblocks = (s.Cg + kr.kc - 1) / kr.kc;
  w.kc = (s.Cg + kblocks - 1) / kblocks;
  w.panels = (s.N * w.tiles + nr - 1) / nr;
  // Output channels per chunk: M (alpha^2 x chunk x NR) within a quarter of the tile bytes.
  w.kchunk = std::max<int64_t>(mr, kr.tile_bytes / 4 / (a2 * nr * 4) / mr * mr);
  w.kchunk = std::min(w.kchunk, w.Mp);
  const int t = team(s, pl.threads);
  // Few panels (one small image): the team also splits the output channels (each task then
  // transforms its tiles' inputs again), for at least 4 tasks per thread.
  const int64_t units = s.groups * w.panels;
  w.ksplit = t > 1 && units < 4 * t ? std::min<int64_t>(w.Mp / mr, (4 * t + units - 1) / units) : 1;
  w.tasks = units * w.ksplit;
  w.vs = s.Cg * nr + kSkew;
  w.ms = w.kchunk * nr + kSkew;
  w.v_floats = a2 * w.vs;
  w.m_floats = a2 * w.ms;
  w.s_floats = wino_scratch_floats(w.alpha);
  const int64_t per_thread = w.v_floats + w.m_floats + w.s_floats;
  if (per_thread * 4 > kBufferCap) return false;
  pl.threads = int(std::min<int64_t>(t, w.tasks));
  pl.scratch_bytes = size_t(per_thread) * 4 * size_t(pl.threads);
  return true;
}

// Where U[xi][k][c] lives in the packed weights of one (group, xi): pack_a's layout (kernels.h).
inline int64_t packed_index(int64_t k, int64_t c, int64_t Mp, int64_t kc, int64_t Cg, int64_t mr) {
  const int64_t c0 = c / kc * kc, kcb = std::min(kc, Cg - c0), i0 = k / mr * mr;
  return Mp * c0 + i0 * kcb + (c - c0) * mr + (k - i0);
}

template <int kM>
size_t packed_bytes(const Plan& pl) {
  const WinoPlan& w = pl.get<WinoPlan>();
  return size_t(pl.problem.groups * w.alpha * w.alpha * w.Mp * pl.problem.Cg) * 4;
}

// U = G w G^T for every (group, output channel, input channel), in double, written into the MR-row
// panels of each (group, xi) GEMM; rows past Kg are zero. A task is one (group, MR panel): it writes
// whole runs of MR floats, so no two threads share a cache line.
template <int kM>
void prepack(const Plan& pl, const float* wt, float* dst, int threads) {
  const ConvProblem& s = pl.problem;
  const WinoPlan& w = pl.get<WinoPlan>();
  const int64_t a = w.alpha, a2 = a * a, r = w.r, Kg = s.Kg(), Cg = s.Cg, mr = pl.kernels->mr;
  const int64_t per_xi = w.Mp * Cg, mpanels = w.Mp / mr;
  double G[6][5];
  g_matrix(w.m, w.r, G);
  if (s.w_elems() * a2 < (int64_t(1) << 16)) threads = 1;
  parallel_for(threads, s.groups * mpanels, [&](int64_t u, int) {
    const int64_t g = u / mpanels, i0 = u % mpanels * mr;
    float* base = dst + g * a2 * per_xi;
    // One input channel of the panel's output channels at a time, 8 rows at once with the rows
    // innermost (independent lanes the compiler vectorises, rather than one chain of additions per
    // element); rows past Kg (or past the panel) compute zeros.
    constexpr int L = 8;
    float u_c[36][32];  // U[xi][k - i0] (alpha^2 <= 36, MR <= 32)
    for (int64_t c = 0; c < Cg; ++c) {
      for (int64_t ib = 0; ib < mr; ib += L) {
        double f[5][5][L], t[6][5][L];  // f[q][j][k]: the weights; t = G f (alpha x r per row)
        for (int64_t q = 0; q < r; ++q)
          for (int64_t j = 0; j < r; ++j)
            for (int i = 0; i < L; ++i) {
              const int64_t k = i0 + ib + i;
              f[q][j][i] = ib + i < mr && k < Kg ? double(wt[((g * Kg + k) * Cg + c) * r * r + q * r + j]) : 0.0;
            }
        for (int64_t y = 0; y < a; ++y)
          for (int64_t j = 0; j < r; ++j) {
            double acc[L] = {};
            for (int64_t q = 0; q < r; ++q)
              for (int i = 0; i < L; ++i) acc[i] += G[y][q] * f[q][j][i];
            for (int i = 0; i < L; ++i) t[y][j][i] = acc[i];
          }
        const int64_t rows = std::min<int64_t>(L, mr - ib);
        for (int64_t y = 0; y < a; ++y)
          for (int64_t x = 0; x < a; ++x) {
            double acc[L] = {};
            for (int64_t q = 0; q < r; ++q)
              for (int i = 0; i < L; ++i) acc[i] += t[y][q][i] * G[x][q];
            for (int64_t i = 0; i < rows; ++i) u_c[y * a + x][ib + i] = float(acc[i]);
          }
      }
      const int64_t at = packed_index(i0, c, w.Mp, w.kc, Cg, mr);
      for (int64_t xi = 0; xi < a2; ++xi)
        for (int64_t i = 0; i < mr; ++i) base[xi * per_xi + at + i] = u_c[xi][i];
    }
  });
}

// x [N, Cin, H, W] or NHWC, packed U -> y [N, Cout, OH, OW] or NHWC
template <int kM>
void run(const Plan& pl, const RunArgs& args, float* scratch, int threads) {
  const ConvProblem& s = pl.problem;
  const WinoPlan& w = pl.get<WinoPlan>();
  const KernelSet& kr = *pl.kernels;
  const int nr = kr.nr, mr = kr.mr;
  const int64_t a2 = w.alpha * w.alpha, Kg = s.Kg(), Cg = s.Cg, per_xi = w.Mp * Cg;
  const int64_t vs = w.vs, ms = w.ms, per_thread = w.v_floats + w.m_floats + w.s_floats;
  const int64_t all_tiles = s.N * w.tiles;
  const bool nhwc = s.layout == Layout::NHWC, relu = s.epilogue.act == Activation::Relu;
  parallel_for(threads, w.tasks, [&](int64_t task, int thread) {
    float* V = scratch + per_thread * thread;
    float* Mx = V + w.v_floats;
    float* S = Mx + w.m_floats;
    const int64_t ks = task % w.ksplit, unit = task / w.ksplit, g = unit / w.panels, pn = unit % w.panels;
    const int64_t t0 = pn * nr, t1 = std::min(all_tiles, t0 + nr);
    // This task's output channels: MR panels split evenly over ksplit.
    const int64_t mpanels = w.Mp / mr;
    const int64_t k_lo = ks * mpanels / w.ksplit * mr, k_hi = std::min(Kg, (ks + 1) * mpanels / w.ksplit * mr);
    if (k_lo >= k_hi) return;
    // The runs of this panel's tiles: consecutive along W within one tile row of one image.
    auto for_runs = [&](auto&& f) {
      for (int64_t t = t0; t < t1;) {
        const int64_t n = t / w.tiles, rem = t % w.tiles, th = rem / w.TW, tw = rem % w.TW;
        const int64_t cnt = std::min({t1 - t, w.TW - tw, kWinoMaxRun});
        WinoRun run;
        if (nhwc) {
          run.x = args.src + n * s.H * s.W * s.Cin + g * Cg;
          run.cs = 1, run.hs = s.W * s.Cin, run.ws = s.Cin;
          run.y = args.dst + n * s.OH * s.OW * s.Cout + g * Kg;
          run.ks = 1, run.ys = s.OW * s.Cout, run.yws = s.Cout;
        } else {
          run.x = args.src + (n * s.Cin + g * Cg) * s.H * s.W;
          run.cs = s.H * s.W, run.hs = s.W, run.ws = 1;
          run.y = args.dst + (n * s.Cout + g * Kg) * s.OH * s.OW;
          run.ks = s.OH * s.OW, run.ys = s.OW, run.yws = 1;
        }
        run.H = s.H, run.W = s.W, run.OH = s.OH, run.OW = s.OW;
        run.ih0 = th * kM - s.pad_t, run.iw0 = tw * kM - s.pad_l;
        run.oh0 = th * kM, run.ow0 = tw * kM;
        run.count = cnt;
        f(run, t - t0);
        t += cnt;
      }
    };
    for_runs([&](const WinoRun& run, int64_t j0) { kr.wino_in(w.m, w.r, run, Cg, V, vs, nr, j0, S); });
    if (t1 - t0 < nr)  // the last panel: its unused columns must be finite (they are computed, not stored)
      for (int64_t xi = 0; xi < a2; ++xi)
        for (int64_t c = 0; c < Cg; ++c)
          std::fill(V + xi * vs + c * nr + (t1 - t0), V + xi * vs + c * nr + nr, 0.0f);
    const float* U = args.packed + g * a2 * per_xi;
    for (int64_t k0 = k_lo; k0 < k_hi; k0 += w.kchunk) {
      const int64_t kn = std::min(w.kchunk, k_hi - k0);
      for (int64_t xi = 0; xi < a2; ++xi) {
        const float* Ux = U + xi * per_xi;
        float* Mxi = Mx + xi * ms;
        for (int64_t i0 = k0; i0 < k0 + kn; i0 += mr)
          for (int64_t c0 = 0; c0 < Cg; c0 += w.kc) {
            const int64_t kcb = std::min(w.kc, Cg - c0);
            kr.ukernel(kcb, Ux + w.Mp * c0 + i0 * kcb, V + xi * vs + c0 * nr, Mxi + (i0 - k0) * nr, nr, 1,
                       int(std::min<int64_t>(mr, k0 + kn - i0)), nr, nullptr, c0 > 0 ? kUkAccumulate : 0);
          }
      }
      const float* bias = args.bias ? args.bias + g * Kg + k0 : nullptr;
      for_runs([&](WinoRun run, int64_t j0) {
        run.y += k0 * run.ks;
        kr.wino_out(w.m, w.r, Mx, ms, nr, j0, run, kn, bias, relu, S);
      });
    }
  });
}

// F(2x2, 3x3) and F(2x2, 5x5): one entry, the kernel size picks r.
const char* unsupported_2x2(const ConvProblem& p) {
  return p.KH == 5 && p.KW == 5 ? unsupported<2, 5>(p) : unsupported<2, 3>(p);
}

// Distinct packed formats: the transformed weights of each tile size.
const char kWino2Format = 0, kWino4Format = 0;
const void* wino2_format(const ConvProblem&) { return &kWino2Format; }
const void* wino4_format(const ConvProblem&) { return &kWino4Format; }

}  // namespace

extern const Algorithm kWinograd4x4Forward = {"winograd_4x4", Direction::Forward, unsupported<4, 3>, preferred<4>,
                                              plan<4>, run<4>, wino4_format, packed_bytes<4>, prepack<4>};
extern const Algorithm kWinograd2x2Forward = {"winograd_2x2", Direction::Forward, unsupported_2x2, preferred<2>,
                                              plan<2>, run<2>, wino2_format, packed_bytes<2>, prepack<2>};

}  // namespace algos
}  // namespace cc
