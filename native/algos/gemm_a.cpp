// The GEMM algorithms' packed weights: A = the OIHW weights of one group, [Cout/groups] x
// [Cg*KH*KW], in MR-row panels per K block.
#include <algorithm>

#include "common.h"

namespace cc {
namespace algos {

const char kGemmAFormat = 0;

APack a_pack(const ConvProblem& p, const KernelSet& k) {
  APack a;
  a.M = p.Kg();
  a.Kd = p.Cg * p.KH * p.KW;
  a.Mp = (a.M + k.mr - 1) / k.mr * k.mr;
  // Equal K blocks of at most k.kc: a short last block would pay the micro-kernel's C load/store
  // for little work (S3: K = 576 -> 2 x 288 rather than 256 + 256 + 64).
  const int64_t kblocks = (a.Kd + k.kc - 1) / k.kc;
  a.kc = (a.Kd + kblocks - 1) / kblocks;
  return a;
}

size_t gemm_a_bytes(const Plan& pl) { return size_t(a_packed_floats(pl.problem, a_pack(pl.problem, *pl.kernels))) * 4; }

// Large weights are packed by the whole team, each thread a disjoint set of MR-row panels.
void gemm_a_prepack(const Plan& pl, const float* w, float* dst, int threads) {
  const ConvProblem& p = pl.problem;
  const KernelSet& k = *pl.kernels;
  const APack a = a_pack(p, k);
  const int64_t panels = a.Mp / k.mr, units = p.groups * panels;
  if (a_packed_floats(p, a) < (int64_t(1) << 16)) threads = 1;
  parallel_for(threads, units, [&](int64_t u, int) {
    const int64_t g = u / panels, i = u % panels;
    pack_a(k, a.kc, a.M, a.Kd, w + g * a.M * a.Kd, a.Kd, dst + g * a.Mp * a.Kd, i, i + 1);
  });
}

}  // namespace algos
}  // namespace cc
