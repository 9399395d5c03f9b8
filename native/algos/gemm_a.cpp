// The GEMM algorithms' packed weights: A = the OIHW weights of one group, [Cout/groups] x
// [Cg*KH*KW], in MR-row panels per K block. bf16: elements are pairs of input channels at one tap,
// rounded here (the conversion fused into packing).
#include <algorithm>

#include "../cpu/ref/ops.h"
#include "common.h"

namespace cc {
namespace algos {
namespace {

const char kGemmAFormat = 0, kGemmABf16Format = 0;

// Group weights w [M][C][KHW] -> MR-row panels of pairs [kpb][MR] per K block of kc pairs: pair kp =
// c2*KHW + t holds (w[m][2*c2][t], w[m][2*c2 + 1][t]); rows past M and the channel past C are zero.
// Only panels [panel_begin, panel_end).
void pack_a_bf16(const GemmBf16& k, const APack& a, int64_t C, int64_t khw, const float* w, Bf16Pair* dst,
                 int64_t panel_begin, int64_t panel_end) {
  const int mr = k.mr;
  for (int64_t k0 = 0; k0 < a.Kd; k0 += a.kc) {
    const int64_t kpb = std::min(a.kc, a.Kd - k0);
    for (int64_t i0 = panel_begin * mr; i0 < panel_end * mr; i0 += mr) {
      Bf16Pair* p = dst + a.Mp * k0 + i0 * kpb;
      for (int64_t kk = 0; kk < kpb; ++kk) {
        const int64_t c2 = (k0 + kk) / khw, t = (k0 + kk) % khw;
        for (int i = 0; i < mr; ++i) {
          const int64_t m = i0 + i;
          const float* wm = w + (m * C + 2 * c2) * khw + t;
          const Bf16Pair lo = m < a.M ? to_bf16(wm[0]) : 0;
          const Bf16Pair hi = m < a.M && 2 * c2 + 1 < C ? to_bf16(wm[khw]) : 0;
          p[kk * mr + i] = lo | hi << 16;
        }
      }
    }
  }
}

}  // namespace

GemmShape gemm_shape(const ConvProblem& p, const KernelSet& k) {
  if (p.precision == Precision::BF16) {
    const GemmBf16& b = gemm_bf16(k);
    return {b.mr, b.nr, b.kc, b.nc, 2};
  }
  return {k.mr, k.nr, k.kc, k.nc, 1};
}

APack a_pack(const ConvProblem& p, const KernelSet& k) {
  const GemmShape s = gemm_shape(p, k);
  APack a;
  a.M = p.Kg();
  a.Ce = (p.Cg + s.kpack - 1) / s.kpack;
  a.Kd = a.Ce * p.KH * p.KW;
  a.Mp = (a.M + s.mr - 1) / s.mr * s.mr;
  // Equal K blocks of at most s.kc: a short last block would pay the micro-kernel's C load/store
  // for little work (S3: K = 576 -> 2 x 288 rather than 256 + 256 + 64).
  const int64_t kblocks = (a.Kd + s.kc - 1) / s.kc;
  a.kc = (a.Kd + kblocks - 1) / kblocks;
  return a;
}

const void* gemm_a_format(const ConvProblem& p) {
  return p.precision == Precision::BF16 ? &kGemmABf16Format : &kGemmAFormat;
}

size_t gemm_a_bytes(const Plan& pl) { return size_t(a_packed_floats(pl.problem, a_pack(pl.problem, *pl.kernels))) * 4; }

// Large weights are packed by the whole team, each thread a disjoint set of MR-row panels.
void gemm_a_prepack(const Plan& pl, const float* w, float* dst, int threads) {
  const ConvProblem& p = pl.problem;
  const KernelSet& k = *pl.kernels;
  const APack a = a_pack(p, k);
  const int mr = gemm_shape(p, k).mr;
  const int64_t panels = a.Mp / mr, units = p.groups * panels;
  if (a_packed_floats(p, a) < (int64_t(1) << 16)) threads = 1;
  const bool bf16 = p.precision == Precision::BF16;
  const int64_t wg = a.M * p.Cg * p.KH * p.KW;  // floats of one group's weights
  Bf16Pair* pairs = reinterpret_cast<Bf16Pair*>(dst);
  parallel_for(threads, units, [&](int64_t u, int) {
    const int64_t g = u / panels, i = u % panels;
    if (bf16) pack_a_bf16(gemm_bf16(k), a, p.Cg, p.KH * p.KW, w + g * wg, pairs + g * a.Mp * a.Kd, i, i + 1);
    else pack_a(k, a.kc, a.M, a.Kd, w + g * wg, a.Kd, dst + g * a.Mp * a.Kd, i, i + 1);
  });
}

}  // namespace algos
}  // namespace cc
