// CPU kernel sets: one per ISA (native/cpu/x86/, native/cpu/arm/, native/cpu/ref/generic.cpp), each
// compiled with its own flags, all listed in one table (kernel_table.cpp) that gives their names to
// CHANNELCONV_ISA, backendInfo(), the tests and the benchmarks. The algorithms (native/algos) call
// only these function pointers. Shapes below: a packed A panel is [kc][MR] (MR rows of the weight
// matrix), a packed B panel [kc][NR] (NR columns of the im2col matrix), C is MR x NR.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>  // ref/winograd.inl: std::true_type

namespace cc {

// Micro-kernel epilogue flags.
inline constexpr int kUkAccumulate = 1;  // C += A*B (C is read); otherwise C = A*B + bias
inline constexpr int kUkRelu = 2;        // max(., 0) after the sum (set on the last K block only)

// C[m x n] (op)= A[MR x kc] * B[kc x NR], stored at c + i*rs_c + j*cs_c for i < m <= MR, j < n <= NR.
// a: packed panel, a[k*MR + i]; b: packed panel, b[k*NR + j] (both zero-padded to full MR / NR).
// bias: MR-aligned bias of this panel's rows, or null (read only without kUkAccumulate).
using Ukernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t rs_c, int64_t cs_c, int m,
                         int n, const float* bias, int flags);

// The micro-kernel reading B in place: row k of the B panel is the NR floats at b + offs[k] (an
// implicit-GEMM convolution reads them straight from a zero-padded input). C row-contiguous (cs = 1).
using UkernelRows = void (*)(int64_t kc, const float* a, const float* b, const int64_t* offs, float* c,
                             int64_t rs_c, int m, int n, const float* bias, int flags);

// Input rows' taps into one output row, the direct (depthwise / tiny) convolution's inner loop:
// y[ow] (+)= sum over r < nrows, kw < KW of w[r][kw] * x[r][ow*sw + kw*dw - pl] for ow < OW, each row
// read as 0 outside [0, W). Without kUkAccumulate y starts at `bias`; kUkRelu clamps the result at 0.
// All rows in one call so y stays in registers (a masked store then reload of y stalls forwarding).
inline constexpr int kDirectMaxRows = 32;
using DirectRow = void (*)(const float* const* x, const float* const* w, int64_t nrows, int64_t W, int64_t KW,
                           int64_t pl, int64_t dw, int64_t sw, float* y, int64_t OW, float bias, int flags);

// Two output rows in one pass over the union of their input rows (a row read once feeds both):
// row r contributes to y0 with taps wa[r] and to y1 with taps wb[r]; a null tap pointer skips it.
using DirectRow2 = void (*)(const float* const* x, const float* const* wa, const float* const* wb, int64_t nrows,
                            int64_t W, int64_t KW, int64_t pl, int64_t dw, int64_t sw, float* y0, float* y1,
                            int64_t OW, float bias, int flags);

// The input of one (image, group) seen as the im2col matrix, for B packing: element (c, ih, iw) at
// x[c*cs + ih*hs + iw*ws]. Plain data (no member functions: it is used in ISA-flagged files).
struct PackGeom {
  const float* x;
  int64_t cs, hs, ws;
  int64_t H, W, OW, KH, KW, sh, sw, dh, dw, pt, pl;
  int64_t C;  // channels (bf16 packing: an odd last channel is paired with zeros)
};

// Rows k0 .. k0+kcb-1 of the im2col matrix [Cg*KH*KW, OH*OW], columns q0 .. q0+ncols-1, packed as
// NR-wide panels [kcb][nr] (panel j at dst + j*kcb*nr), zero-padded: im2col fused into packing.
using PackB = void (*)(const PackGeom& g, int64_t k0, int64_t kcb, int64_t q0, int64_t ncols, int nr, float* dst);

// d[i] = s[i * inc] for i < n (stride-phase copies of the implicit GEMM's input rows).
using Gather = void (*)(float* d, const float* s, int64_t inc, int64_t n);

// Winograd F(m x m, r x r) transforms (native/algos/winograd.cpp runs them; written once in
// ref/winograd.inl, compiled per ISA). Supported (m, r): (2, 3), (4, 3), (2, 5); alpha = m + r - 1.
// A run: `count` (<= 64) tiles of one tile row, consecutive along W.
struct WinoRun {
  const float* x;           // input: element (c, ih, iw) at x[c*cs + ih*hs + iw*ws]
  int64_t cs, hs, ws, H, W;
  int64_t ih0, iw0;         // the first tile's patch corner (tile i's at iw0 + i*m); may be outside
  float* y;                 // output: element (k, oh, ow) at y[k*ks + oh*ys + ow*yws]
  int64_t ks, ys, yws, OH, OW;
  int64_t oh0, ow0;         // the first tile's output corner
  int64_t count;
};
// V[xi*vs + c*nr + j0 + i] = (BT d_{c,i} B)[xi] for xi < alpha^2, c < C, tile i < count.
// scratch: wino_scratch_floats(alpha) floats.
using WinoIn = void (*)(int m, int r, const WinoRun& t, int64_t C, float* V, int64_t vs, int nr, int64_t j0,
                        float* scratch);
// For k < K: tile i of output channel k (= y's channel k) from M[xi*ms + k*nr + j0 + i]:
// act(AT M_{k,i} A + bias[k]) (bias may be null), clipped to OH x OW.
using WinoOut = void (*)(int m, int r, const float* M, int64_t ms, int nr, int64_t j0, const WinoRun& t, int64_t K,
                         const float* bias, bool relu, float* scratch);
inline constexpr int64_t kWinoMaxRun = 64;
// Scratch of the input transform: a ring of kWinoStages channels' alpha rows of M <= 4 column
// phases, (kWinoMaxRun + 32) each.
inline constexpr int64_t kWinoStages = 3;
inline constexpr int64_t wino_scratch_floats(int64_t alpha) { return kWinoStages * alpha * 4 * (kWinoMaxRun + 32); }

// ----- bfloat16 GEMM (precision 'bf16') ------------------------------------------------------------
// Inputs and weights rounded to bfloat16 (round to nearest even; fp32 subnormals become zero, as the
// AVX512_BF16 conversion makes them), products summed in fp32, C, bias and relu as above. A and B
// hold K in pairs: a Bf16Pair is two bfloat16 values adjacent in K, the lower k in the low 16 bits:
// the operand layout of vdpbf16ps (and of AMX's B tiles, VNNI-packed). The GEMM algorithms pair two
// input channels at one tap (native/algos/common.h): pair kp = (c2*KH + kh)*KW + kw holds channels
// 2*c2 and 2*c2 + 1, so both halves of a pair come from the same input position.
using Bf16Pair = uint32_t;

// Ukernel over kp pairs: a[k*MR + i], b[k*NR + j] pairs (zero-padded to full MR / NR).
using UkernelBf16 = void (*)(int64_t kp, const Bf16Pair* a, const Bf16Pair* b, float* c, int64_t rs_c,
                             int64_t cs_c, int m, int n, const float* bias, int flags);
// UkernelRows over kp pairs: row k of the B panel is the NR pairs at b + offs[k].
using UkernelRowsBf16 = void (*)(int64_t kp, const Bf16Pair* a, const Bf16Pair* b, const int64_t* offs, float* c,
                                 int64_t rs_c, int m, int n, const float* bias, int flags);
// PackB for pairs: rows kp0 .. kp0+kpb-1 of the paired im2col matrix [ceil(C/2)*KH*KW, OH*OW] (C =
// g.C; channel C reads as zero), columns q0 .. q0+ncols-1, as NR-wide panels [kpb][nr] of pairs.
using PackBBf16 = void (*)(const PackGeom& g, int64_t kp0, int64_t kpb, int64_t q0, int64_t ncols, int nr,
                           Bf16Pair* dst);
// d[i] = (bf16(s0[i*inc]), bf16(s1[i*inc])) for i < n; a null source: zero halves. The implicit
// GEMM's row copies convert through it.
using PackPairs = void (*)(Bf16Pair* d, const float* s0, const float* s1, int64_t inc, int64_t n);
// d[i] = s[i] rounded to bfloat16, as a float, for i < n (the direct algorithm's operands).
using RoundBf16 = void (*)(float* d, const float* s, int64_t n);

// One ISA's bf16 GEMM. `native`: bfloat16 dot-product instructions (AVX512_BF16's vdpbf16ps); else
// the same rounding emulated with fp32 FMAs (the same sums up to fp32 rounding, no speed-up). The
// place for more: an AMX or AVX512-FP16 kernel is another GemmBf16 (or, for fp16, a sibling struct)
// in its own ISA file and kernel-set row; none is written, since no CPU here has them to test on.
struct GemmBf16 {
  bool native;
  int mr, nr;  // register block
  int kc;      // K block, in pairs
  int nc;      // widest B block, a multiple of nr
  UkernelBf16 ukernel;
  UkernelRowsBf16 ukernel_rows;
  PackBBf16 pack_b;
  PackPairs pack_pairs;
  RoundBf16 round;
  // The bf16 dot-product peak probe (benchmarks), as KernelSet::peak; null when emulated (the fp32
  // FMA peak is its ceiling).
  float (*peak)(int64_t iters, float seed);
  int64_t peak_flops;
};

struct KernelSet {
  const char* name;  // what CHANNELCONV_ISA and backendInfo().cpu.isa call it
  int mr, nr;        // register block
  int kc;            // K block: an A micro-panel (kc x MR) stays in L1
  int nc;            // widest B block (kc x nc floats stays in L2), a multiple of nr
  Ukernel ukernel;
  UkernelRows ukernel_rows;
  PackB pack_b;
  DirectRow direct_row;
  DirectRow2 direct_row2;
  Gather gather;
  // The ISA's fp32 FMA peak probe (benchmarks: ref/peak.inl): `iters` iterations of peak_flops
  // FLOPs each (a multiply-add counts 2); the result only defeats dead-code elimination.
  float (*peak)(int64_t iters, float seed);
  int64_t peak_flops;
  const GemmBf16* bf16;  // the 'bf16' precision's GEMM; null: the generic set's emulation
  WinoIn wino_in = nullptr;  // null: this set has no Winograd transforms (the algorithm declines)
  WinoOut wino_out = nullptr;
  // Set by the CPU configuration (cpu_info.h; defaults for a set used as is): a task's working set
  // in bytes (the implicit GEMM's input rows + C tile), and Winograd's preferred output tile.
  int64_t tile_bytes = int64_t(512) << 10;
  int winograd_m = 4;
};

// The bf16 GEMM of k (its own, else the generic emulation).
const GemmBf16& gemm_bf16(const KernelSet& k);

// Every kernel set compiled into this build, best first (the table in kernel_table.cpp), and whether
// this CPU runs it.
struct KernelEntry {
  const KernelSet* set;
  bool (*supported)();
};
const KernelEntry* kernel_table(size_t* count);

// The kernel set in use: CHANNELCONV_ISA when set, else the first of the table this CPU runs, with
// the blocking of the CPU configuration in use (cpu_config(), cpu_info.h). Chosen once; throws cc::Error (code ERR_CHANNELCONV_INVALID_ISA) on every call when CHANNELCONV_ISA names
// an unknown kernel set or one this CPU lacks (the message lists the valid names).
const KernelSet& kernels();

// The kernel set called `name` if this build has it and this CPU runs it, else null.
const KernelSet* kernels_named(const char* name);

// Replaces the kernel set in use, as given: a table set (its own blocking) or configured(set, config)
// (tests only: not thread-safe against running convolutions).
void force_kernels(const KernelSet& k);

// Packs A[M x K] (row-major, lda) into ceil(M/MR) panels per K block of kc: block p (rows
// k0..k0+kcb) starts at dst + Mp*k0 (Mp = M rounded up to MR); its panel i at + i*MR*kcb, [kcb][MR].
// Only panels [panel_begin, panel_end) when given (threads pack disjoint panels; -1: to the last).
void pack_a(const KernelSet& k, int64_t kc, int64_t M, int64_t K, const float* A, int64_t lda, float* dst,
            int64_t panel_begin = 0, int64_t panel_end = -1);

// C[M x N] = A[M x K] * B[K x N] (+ bias[m] on row m when non-null), row-major, single thread, with
// kernel set k. Packs both operands (allocates); for tests and small callers.
void sgemm(const KernelSet& k, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
           int64_t ldb, float* C, int64_t ldc, const float* bias);

}  // namespace cc
