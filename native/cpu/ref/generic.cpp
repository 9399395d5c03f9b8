// The generic kernel set: a portable 4 x 8 micro-kernel in plain C++ (the compiler vectorises it for
// the baseline target, SSE2 on x86-64, AdvSIMD on AArch64) and the reference helpers. The fallback on
// any CPU, and the only set of a build for an architecture without its own kernels.
#include "../kernels.h"
#include "ops.h"
#include "ref.h"

namespace cc {
namespace {

constexpr int MR = 4, NR = 8;

// kOffsets: B row k at b + offs[k] (rows read in place, see KernelSet::ukernel_rows); else packed.
template <bool kOffsets>
void ukernel_t(int64_t kc, const float* a, const float* b, const int64_t* offs, float* c, int64_t rs,
                   int64_t cs, int m, int n, const float* bias, int flags) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = kOffsets ? b + offs[k] : b;
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += a[i] * bk[j];
    a += MR;
    if (!kOffsets) b += NR;
  }
  ref::store_tile(&acc[0][0], NR, c, rs, cs, m, n, bias, flags);
}

#include "ukernel.inl"

void direct_row2(const float* const* x, const float* const* wa, const float* const* wb, int64_t nrows, int64_t W,
                 int64_t KW, int64_t pl, int64_t dw, int64_t sw, float* y0, float* y1, int64_t OW, float bias,
                 int flags) {
  ref::direct_row2(ref::direct_row, x, wa, wb, nrows, W, KW, pl, dw, sw, y0, y1, OW, bias, flags);
}

// B packing primitives (pack_b.inl): plain loops.
void pb_zero(float* d, int n) {
  for (int i = 0; i < n; ++i) d[i] = 0.0f;
}
void pb_copy(float* d, const float* s, int n) {
  for (int i = 0; i < n; ++i) d[i] = s[i];
}
void pb_gather(float* d, const float* s, int64_t inc, int n) {
  for (int i = 0; i < n; ++i) d[i] = s[i * inc];
}

#include "pack_b.inl"

#include "bf16_portable.inl"
#include "gemm_bf16.inl"
#include "peak.inl"
#include "winograd.inl"

// Baseline vectors of 4 floats (SSE2 on x86-64, AdvSIMD on AArch64); a multiply and an add where
// the baseline has no FMA: the ceiling of this set's kernels.
typedef float V4 __attribute__((vector_size(16)));
float peak(int64_t iters, float seed) {
  return peak_chains<V4>(
      iters, seed, [](float v) { return V4{v, v, v, v}; }, [](V4 x, V4 a, V4 b) { return x * a + b; },
      [](V4 v) { return v[0] + v[1] + v[2] + v[3]; });
}

// bf16 emulated in 4 x 8 tiles of the same vectors; a multiply and an add (fused where the baseline
// has FMA, as on AArch64).
V4 mul_add(V4 a, V4 b, V4 c) { return a * b + c; }
using Bf16 = EmulatedBf16<4, 2, V4, mul_add>;

}  // namespace

// Also the bf16 GEMM of every kernel set that names none (gemm_bf16()).
extern const GemmBf16 kGenericBf16 = Bf16::gemm;

extern const KernelSet kGeneric = {"generic", MR, NR, 256, 480, ukernel, ukernel_rows, pack_b, ref::direct_row,
                                   direct_row2, ref::gather, peak, kPeakChains * 4 * 2, &kGenericBf16, wino_in,
                                   wino_out};

}  // namespace cc
