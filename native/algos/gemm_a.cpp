// The GEMM algorithms' packed weights: A = the OIHW weights of one group, [Cout/groups] x
// [Cg*KH*KW], in MR-row panels per K block. bf16: elements are pairs of taps in for_each_k's order
// (common.h), rounded here (the conversion fused into packing).
#include <algorithm>

#include "common.h"

namespace cc {
namespace algos {
namespace {

// One format per precision and pairing (fp32 has one pairing: both names are its format).
const char kFp32Format = 0, kBf16ChannelsFormat = 0, kBf16OddRowsFormat = 0;

// Group weights w [M][Cg][KH][KW] -> MR-row panels of pairs [kpb][MR] per K block of a.kc pairs, K
// element kk the pair for_each_k gives; rows past M and zero halves are 0. Only panels
// [panel_begin, panel_end).
void pack_a_bf16(const ConvProblem& p, Pairing pairing, int mr, const APack& a, const float* w, Bf16Pair* dst,
                 int64_t panel_begin, int64_t panel_end) {
  const int64_t khw = p.KH * p.KW, wm = p.Cg * khw;
  int64_t kk = 0;
  for_each_k(p, 2, pairing, [&](int64_t c_lo, int64_t kh_lo, int64_t c_hi, int64_t kh_hi, int64_t kw) {
    const int64_t k0 = kk / a.kc * a.kc, kpb = std::min(a.kc, a.Kd - k0);
    const int64_t lo = c_lo * khw + kh_lo * p.KW + kw, hi = c_hi * khw + kh_hi * p.KW + kw;
    for (int64_t i0 = panel_begin * mr; i0 < panel_end * mr; i0 += mr) {
      Bf16Pair* d = dst + a.Mp * k0 + i0 * kpb + (kk - k0) * mr;
      for (int i = 0; i < mr; ++i) {
        const int64_t m = i0 + i;
        d[i] = m < a.M ? to_bf16(w[m * wm + lo]) | (c_hi >= 0 ? to_bf16(w[m * wm + hi]) << 16 : 0) : 0;
      }
    }
    ++kk;
  });
}

}  // namespace

GemmShape gemm_shape(const ConvProblem& p, const KernelSet& k) {
  if (p.precision == Precision::BF16) {
    const GemmBf16& b = gemm_bf16(k);
    return {b.mr, b.nr, b.kc, b.nc, 2};
  }
  return {k.mr, k.nr, k.kc, k.nc, 1};
}

APack a_pack(const ConvProblem& p, const KernelSet& k, Pairing pairing) {
  const GemmShape s = gemm_shape(p, k);
  APack a;
  a.M = p.Kg();
  a.Ce = (p.Cg + s.kpack - 1) / s.kpack;
  a.Kd = 0;
  if (s.kpack == 1) a.Kd = p.Cg * p.KH * p.KW;
  else for_each_k(p, s.kpack, pairing, [&](int64_t, int64_t, int64_t, int64_t, int64_t) { ++a.Kd; });
  a.Mp = (a.M + s.mr - 1) / s.mr * s.mr;
  // Equal K blocks of at most s.kc: a short last block would pay the micro-kernel's C load/store
  // for little work (S3: K = 576 -> 2 x 288 rather than 256 + 256 + 64).
  const int64_t kblocks = (a.Kd + s.kc - 1) / s.kc;
  a.kc = (a.Kd + kblocks - 1) / kblocks;
  return a;
}

template <Pairing P>
const void* gemm_a_format(const ConvProblem& p) {
  if (p.precision != Precision::BF16) return &kFp32Format;
  return P == Pairing::OddRows && p.Cg % 2 == 1 ? &kBf16OddRowsFormat : &kBf16ChannelsFormat;
}

template <Pairing P>
size_t gemm_a_bytes(const Plan& pl) {
  return size_t(a_packed_floats(pl.problem, a_pack(pl.problem, *pl.kernels, P))) * 4;
}

// Large weights are packed by the whole team, each thread a disjoint set of MR-row panels.
template <Pairing P>
void gemm_a_prepack(const Plan& pl, const float* w, float* dst, int threads) {
  const ConvProblem& p = pl.problem;
  const KernelSet& k = *pl.kernels;
  const APack a = a_pack(p, k, P);
  const int mr = gemm_shape(p, k).mr;
  const int64_t panels = a.Mp / mr, units = p.groups * panels;
  if (a_packed_floats(p, a) < (int64_t(1) << 16)) threads = 1;
  const bool bf16 = p.precision == Precision::BF16;
  const int64_t wg = a.M * p.Cg * p.KH * p.KW;  // floats of one group's weights
  Bf16Pair* pairs = reinterpret_cast<Bf16Pair*>(dst);
  parallel_for(threads, units, [&](int64_t u, int) {
    const int64_t g = u / panels, i = u % panels;
    if (bf16) pack_a_bf16(p, P, mr, a, w + g * wg, pairs + g * a.Mp * a.Kd, i, i + 1);
    else pack_a(k, a.kc, a.M, a.Kd, w + g * wg, a.Kd, dst + g * a.Mp * a.Kd, i, i + 1);
  });
}

template const void* gemm_a_format<Pairing::Channels>(const ConvProblem&);
template const void* gemm_a_format<Pairing::OddRows>(const ConvProblem&);
template size_t gemm_a_bytes<Pairing::Channels>(const Plan&);
template size_t gemm_a_bytes<Pairing::OddRows>(const Plan&);
template void gemm_a_prepack<Pairing::Channels>(const Plan&, const float*, float*, int);
template void gemm_a_prepack<Pairing::OddRows>(const Plan&, const float*, float*, int);

}  // namespace algos
}  // namespace cc
