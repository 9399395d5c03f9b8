// What the algorithm entries share: the serial threshold, and the packed weight panels of the GEMM
// algorithms (implicit_gemm and packed_gemm read the same packed A) and their kernels per precision.
#pragma once
#include <algorithm>
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

// The packed GEMM of a problem's precision as the GEMM algorithms see it. fp32 (and tf32, which is fp32
// on the CPU): the kernel set's own, one K value per element of A and B. bf16: its GemmBf16, whose
// elements are Bf16Pairs of two input channels at one tap (kernels.h), so an element channel is a
// pair of channels and the implicit GEMM's row copies stay plain rows (of pairs).
struct GemmShape {
  int mr, nr, kc, nc;  // kc in elements
  int kpack;           // input channels per element: 1 or 2
};
GemmShape gemm_shape(const ConvProblem& p, const KernelSet& k);

// The weights as the GEMM's A, per group [M = Cout/groups] x [Kd = Ce*KH*KW] elements (Ce = element
// channels, ceil(Cg / kpack)), packed into MR-row panels in K blocks of kc (pack_a): group g's panels
// at + g*Mp*Kd. An element is 4 bytes in both formats.
struct APack {
  int64_t M, Ce, Kd, Mp, kc;
};
APack a_pack(const ConvProblem& p, const KernelSet& k);
inline int64_t a_packed_floats(const ConvProblem& p, const APack& a) { return p.groups * a.Mp * a.Kd; }

// The backward directions' entries compute in fp32 (tf32 on the CPU is fp32 too); bf16 is a forward
// precision. Their unsupported() starts with this.
inline const char* backward_unsupported(const ConvProblem& p) {
  return p.precision == Precision::BF16 ? "the backward directions compute in fp32 only (bf16 is a forward precision)"
                                        : nullptr;
}

// Element (n, c, h, w) of an activation tensor of C channels and H x W pixels in `layout` lies at
// n*s.n + c*s.c + h*s.h + w*s.w (s = act_strides(...)): how the layout-generic kernels index.
struct ActStrides {
  int64_t n, c, h, w;
};
inline ActStrides act_strides(Layout layout, int64_t C, int64_t H, int64_t W) {
  return layout == Layout::NHWC ? ActStrides{H * W * C, 1, W * C, C} : ActStrides{C * H * W, H * W, W, 1};
}

// Algorithm hooks for that packed format (one format per precision: a prepared layer keeps each).
const void* gemm_a_format(const ConvProblem& p);
size_t gemm_a_bytes(const Plan& pl);
void gemm_a_prepack(const Plan& pl, const float* w_oihw, float* dst, int threads);

// The kernels of each element type, for the GEMM algorithms' templates (one run written once).
// row(d, s, c, cs, C, inc, n): d[i] = element channel c's value at s + i*inc, i < n (s: the first
// channel of element c, cs: the channel stride, C: the channels of the group).
struct Fp32Gemm {
  using E = float;
  Ukernel ukernel;
  UkernelRows ukernel_rows;
  PackB pack_b;
  Gather gather;
  void row(E* d, const float* s, int64_t, int64_t, int64_t, int64_t inc, int64_t n) const {
    if (inc == 1) std::copy(s, s + n, d);
    else gather(d, s, inc, n);
  }
};

// bf16: element c is the pair of channels (2c, 2c + 1); the odd last channel pairs with zeros.
struct Bf16Gemm {
  using E = Bf16Pair;
  UkernelBf16 ukernel;
  UkernelRowsBf16 ukernel_rows;
  PackBBf16 pack_b;
  PackPairs pack_pairs;
  void row(E* d, const float* s, int64_t c, int64_t cs, int64_t C, int64_t inc, int64_t n) const {
    pack_pairs(d, s, 2 * c + 1 < C ? s + cs : nullptr, inc, n);
  }
};

// Runs f(gemm) with the element kernels of p's precision.
template <class F>
void with_gemm(const ConvProblem& p, const KernelSet& k, F&& f) {
  if (p.precision == Precision::BF16) {
    const GemmBf16& b = gemm_bf16(k);
    f(Bf16Gemm{b.ukernel, b.ukernel_rows, b.pack_b, b.pack_pairs});
  } else {
    f(Fp32Gemm{k.ukernel, k.ukernel_rows, k.pack_b, k.gather});
  }
}

}  // namespace algos
}  // namespace cc
