// The bf16 GEMM's packing and its emulated micro-kernel, written once and included by each kernel
// file inside its anonymous namespace (so compiled with that file's ISA flags), after ops.h and ref.h.
// The includer defines pb_pairs(d, s0, s1, inc, n): PackPairs for one panel segment of n <= NR pairs,
// and pb_round(d, s, n): RoundBf16 for n <= 1024 floats (bf16_portable.inl: ops.h's portable loops,
// where it has nothing faster).

#include "pack_panels.inl"

// bf16: an element of B is the pair (channel 2c, channel 2c + 1) at one position; an odd last channel
// is paired with zeros.
struct TwoChannels {
  using E = Bf16Pair;
  const float* x0;
  const float* x1;  // null: zeros
  static TwoChannels at(const PackGeom& g, int64_t c) {
    return {g.x + 2 * c * g.cs, 2 * c + 1 < g.C ? g.x + (2 * c + 1) * g.cs : nullptr};
  }
  static void zero(Bf16Pair* d, int n) { std::memset(d, 0, sizeof(Bf16Pair) * size_t(n)); }
  void copy(Bf16Pair* d, int64_t off, int n) const { pb_pairs(d, x0 + off, x1 ? x1 + off : nullptr, 1, n); }
  void gather(Bf16Pair* d, int64_t off, int64_t inc, int n) const {
    pb_pairs(d, x0 + off, x1 ? x1 + off : nullptr, inc, n);
  }
  void prefetch(int64_t off) const {
    __builtin_prefetch(x0 + off, 0, 3);
    if (x1) __builtin_prefetch(x1 + off, 0, 3);
  }
};

void pack_b_bf16(const PackGeom& g, int64_t kp0, int64_t kpb, int64_t q0, int64_t ncols, int nr, Bf16Pair* dst) {
  pack_b_t<TwoChannels>(g, kp0, kpb, q0, ncols, nr, dst);
}

void pack_pairs(Bf16Pair* d, const float* s0, const float* s1, int64_t inc, int64_t n) {
  for (int64_t i = 0; i < n; i += 1024) {
    const int64_t len = imin(1024, n - i);
    pb_pairs(d + i, s0 ? s0 + i * inc : nullptr, s1 ? s1 + i * inc : nullptr, inc, int(len));
  }
}

void round_bf16(float* d, const float* s, int64_t n) {
  for (int64_t i = 0; i < n; i += 1024) pb_round(d + i, s + i, int(imin(1024, n - i)));
}

// The emulated micro-kernel, MR x (NV * lanes of VF): each pair is widened to two fp32 values
// (a bfloat16 is the top half of its float) and multiplied in with two FMAs, the odd k first as
// vdpbf16ps orders them. VF / VU: GCC vector types of floats / uint32 of the same width; fma(a, b, c)
// = a * b + c, fused where the ISA has it. kOffsets: B row k at b + offs[k]; else packed.
template <int MR, int NV, class VF, class VU, bool kOffsets, class Fma>
void ukernel_bf16_emulated(int64_t kp, const Bf16Pair* a, const Bf16Pair* b, const int64_t* offs, float* c,
                           int64_t rs, int64_t cs, int m, int n, const float* bias, int flags, Fma fma) {
  constexpr int L = int(sizeof(VF) / sizeof(float)), NR = NV * L;
  static_assert(sizeof(VF) == sizeof(VU), "VF and VU must have the same width");
  VF acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = VF{} + 0.0f;
  for (int64_t k = 0; k < kp; ++k) {
    const Bf16Pair* bk = kOffsets ? b + offs[k] : b;
    VF blo[NV], bhi[NV];
    for (int v = 0; v < NV; ++v) {
      VU u;
      std::memcpy(&u, bk + v * L, sizeof u);
      blo[v] = (VF)(u << 16);
      bhi[v] = (VF)(u & 0xFFFF0000u);
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const VF alo = VF{} + from_bf16(a[i] & 0xFFFFu), ahi = VF{} + from_bf16(a[i] >> 16);
      for (int v = 0; v < NV; ++v) acc[i][v] = fma(alo, blo[v], fma(ahi, bhi[v], acc[i][v]));
    }
    a += MR;
    if (!kOffsets) b += NR;
  }
  alignas(64) float t[MR * NR];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) std::memcpy(t + i * NR + v * L, &acc[i][v], sizeof(VF));
  ref::store_tile(t, NR, c, rs, cs, m, n, bias, flags);
}

// The emulated GemmBf16 of an ISA file: MR x NV vectors of VF (a GCC vector of floats), fma(a, b, c)
// = a * b + c (fused where the ISA has it).
template <int MR, int NV, class VF, VF (*Fma)(VF, VF, VF)>
struct EmulatedBf16 {
  typedef uint32_t VU __attribute__((vector_size(sizeof(VF))));
  struct F {
    VF operator()(VF a, VF b, VF c) const { return Fma(a, b, c); }
  };
  static void ukernel(int64_t kp, const Bf16Pair* a, const Bf16Pair* b, float* c, int64_t rs, int64_t cs, int m,
                      int n, const float* bias, int flags) {
    ukernel_bf16_emulated<MR, NV, VF, VU, false>(kp, a, b, nullptr, c, rs, cs, m, n, bias, flags, F{});
  }
  static void ukernel_rows(int64_t kp, const Bf16Pair* a, const Bf16Pair* b, const int64_t* offs, float* c,
                           int64_t rs, int m, int n, const float* bias, int flags) {
    ukernel_bf16_emulated<MR, NV, VF, VU, true>(kp, a, b, offs, c, rs, 1, m, n, bias, flags, F{});
  }
  static constexpr GemmBf16 gemm = {false, MR, NV * int(sizeof(VF) / sizeof(float)), 128, 480, ukernel, ukernel_rows,
                                    pack_b_bf16, pack_pairs, round_bf16, nullptr, 0};
};
