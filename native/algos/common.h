// What the algorithm entries share: the serial threshold, and the packed weight panels of the GEMM
// algorithms (implicit_gemm and packed_gemm read the same packed A).
#pragma once
#include <cstdint>

#include "../core/plan.h"
#include "../core/registry.h"
#include "../core/threads.h"
#include "../cpu/kernels.h"

namespace cc {
namespace algos {

// Below this many multiply-adds a call runs on the calling thread: an OpenMP team costs more.
inline constexpr double kSerialMacs = 1 << 18;

// Threads worth using for p: 1 below kSerialMacs, else what the plan was given.
inline int team(const ConvProblem& p, int given) {
  if (p.macs() < kSerialMacs) return 1;
  return given > 0 ? given : default_threads();
}

// The weights as the GEMM's A, per group [M = Cout/groups] x [Kd = Cg*KH*KW], packed into MR-row
// panels in K blocks of kc (pack_a): group g's panels at + g*Mp*Kd.
struct APack {
  int64_t M, Kd, Mp, kc;
};
APack a_pack(const ConvProblem& p, const KernelSet& k);
inline int64_t a_packed_floats(const ConvProblem& p, const APack& a) { return p.groups * a.Mp * a.Kd; }

// Element (n, c, h, w) of an activation tensor of C channels and H x W pixels in `layout` lies at
// n*s.n + c*s.c + h*s.h + w*s.w (s = act_strides(...)): how the layout-generic kernels index.
struct ActStrides {
  int64_t n, c, h, w;
};
inline ActStrides act_strides(Layout layout, int64_t C, int64_t H, int64_t W) {
  return layout == Layout::NHWC ? ActStrides{H * W * C, 1, W * C, C} : ActStrides{C * H * W, H * W, W, 1};
}

// Algorithm hooks for that packed format.
extern const char kGemmAFormat;
size_t gemm_a_bytes(const Plan& pl);
void gemm_a_prepack(const Plan& pl, const float* w_oihw, float* dst, int threads);

}  // namespace algos
}  // namespace cc
