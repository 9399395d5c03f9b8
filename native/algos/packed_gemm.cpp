// packed_gemm (forward): per (image, group, pixel tile) task, the thread packs B (the im2col matrix's
// tile, fused into packing: PackB) into NR-wide panels and multiplies it by the packed weights. Any
// forward problem; 'auto' takes it for 1x1 stride-1 NCHW (B is then a plain copy of the input rows,
// prefetched: S4) and where the implicit GEMM's row buffers would pass their cap. bf16: B packed as
// pairs of channels, converted while packing.
#include <algorithm>

#include "common.h"

namespace cc {
namespace algos {
namespace {

struct PackedPlan {
  APack a;
  int64_t P, panels, tiles, tasks, nc;  // pixels OH*OW; NR panels per image; tiles per image; all tasks; tile width
};

bool preferred(const ConvProblem&, const KernelSet&) { return true; }

bool plan(Plan& pl) {
  const ConvProblem& s = pl.problem;
  const GemmShape kr = gemm_shape(s, *pl.kernels);
  PackedPlan& p = pl.get<PackedPlan>();
  const int nr = kr.nr;
  p.a = a_pack(s, *pl.kernels, Pairing::Channels);
  p.P = s.OH * s.OW;
  p.panels = (p.P + nr - 1) / nr;
  const int64_t images = s.N * s.groups;
  const int t = team(s, pl.threads);
  p.tiles = (p.panels + kr.nc / nr - 1) / (kr.nc / nr);
  // Few tasks: make their count a multiple of the team so no thread idles at the end.
  if (t > 1 && images * p.tiles < 16 * t)
    while ((images * p.tiles) % t != 0 && p.tiles < p.panels) ++p.tiles;
  p.tasks = images * p.tiles;
  p.nc = (p.panels + p.tiles - 1) / p.tiles * nr;
  pl.threads = int(std::min<int64_t>(t, p.tasks));
  pl.scratch_bytes = size_t(p.a.kc * p.nc) * 4 * size_t(pl.threads);
  return true;
}

// x [N, Cin, H, W] or NHWC, packed A -> y [N, Cout, OH, OW] or NHWC; G: the element kernels (common.h)
template <class G>
void run_t(const ConvProblem& s, const PackedPlan& p, const RunArgs& args, float* scratch, int threads, const G& kr) {
  using E = typename G::E;
  const int mr = kr.mr, nr = kr.nr;
  const int64_t M = p.a.M, Kd = p.a.Kd, Mp = p.a.Mp, kc = p.a.kc, per_thread = kc * p.nc;
  const bool nhwc = s.layout == Layout::NHWC, relu = s.epilogue.act == Activation::Relu;
  const float* x = args.src;
  const float* bias = args.bias;
  float* y = args.dst;
  parallel_for(threads, p.tasks, [&](int64_t task, int thread) {
    E* buf = reinterpret_cast<E*>(scratch + per_thread * thread);
    const int64_t t = task % p.tiles, img = task / p.tiles, g = img % s.groups, n = img / s.groups;
    const int64_t q0 = t * p.panels / p.tiles * nr;
    const int64_t ncols = std::min(p.P, (t + 1) * p.panels / p.tiles * nr) - q0;
    PackGeom geo{nullptr, 0, 0, 0, s.H, s.W, s.OW, s.KH, s.KW, s.stride_h, s.stride_w, s.dil_h, s.dil_w,
                 s.pad_t, s.pad_l, s.Cg};
    if (nhwc) { geo.x = x + n * s.H * s.W * s.Cin + g * s.Cg; geo.cs = 1; geo.hs = s.W * s.Cin; geo.ws = s.Cin; }
    else { geo.x = x + (n * s.Cin + g * s.Cg) * s.H * s.W; geo.cs = s.H * s.W; geo.hs = s.W; geo.ws = 1; }
    const E* ag = reinterpret_cast<const E*>(args.packed) + g * Mp * Kd;
    for (int64_t k0 = 0; k0 < Kd; k0 += kc) {
      const int64_t kcb = std::min(kc, Kd - k0);
      kr.pack_b(geo, k0, kcb, q0, ncols, nr, buf);
      const int flags = (k0 > 0 ? kUkAccumulate : 0) | (relu && k0 + kcb == Kd ? kUkRelu : 0);
      for (int64_t i0 = 0; i0 < M; i0 += mr) {
        const E* a = ag + Mp * k0 + i0 * kcb;
        const int m = int(std::min<int64_t>(mr, M - i0));
        const float* bi = bias ? bias + g * M + i0 : nullptr;
        for (int64_t jr = 0; jr < ncols; jr += nr) {
          const int ncb = int(std::min<int64_t>(nr, ncols - jr));
          const int64_t q = q0 + jr, row = g * M + i0;
          if (nhwc) kr.ukernel(kcb, a, buf + jr * kcb, y + (n * p.P + q) * s.Cout + row, 1, s.Cout, m, ncb, bi, flags);
          else kr.ukernel(kcb, a, buf + jr * kcb, y + (n * s.Cout + row) * p.P + q, p.P, 1, m, ncb, bi, flags);
        }
      }
    }
  });
}

void run(const Plan& pl, const RunArgs& args, float* scratch, int threads) {
  with_gemm(pl.problem, *pl.kernels,
            [&](const auto& g) { run_t(pl.problem, pl.get<PackedPlan>(), args, scratch, threads, g); });
}

}  // namespace

extern const Algorithm kPackedGemmForward = {"packed_gemm", Direction::Forward, runs_any, preferred, plan, run,
                                             gemm_a_format<Pairing::Channels>, gemm_a_bytes<Pairing::Channels>,
                                             gemm_a_prepack<Pairing::Channels>};

}  // namespace algos
}  // namespace cc
