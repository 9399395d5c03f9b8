// What the algorithm entries share: the serial threshold, and the packed weight panels of the GEMM
// algorithms (implicit_gemm and packed_gemm read the same packed A) and their kernels per precision.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../core/plan.h"
#include "../core/registry.h"
#include "../core/threads.h"
#include "../cpu/kernels.h"
#include "../cpu/ref/ops.h"

namespace cc {
namespace algos {

// Below this many multiply-adds a call runs on the calling thread: an OpenMP team costs more.
inline constexpr double kSerialMacs = 1 << 18;

// Threads worth using for p: 1 below kSerialMacs, else what the plan was given.
inline int team(const ConvProblem& p, int given) {
  if (p.macs() < kSerialMacs) return 1;
  return given > 0 ? given : default_threads();
}

// Algorithm::unsupported of an entry that computes any problem of its direction.
inline const char* runs_any(const ConvProblem&) { return nullptr; }

// The direct algorithms' Algorithm::preferred (every direction): problems too small to pay for
// packing (below kDirectMacs multiply-adds), and depthwise-like ones (few channels per group in and
// out), where a GEMM would be mostly padding.
inline constexpr double kDirectMacs = 1 << 14;
inline bool direct_preferred(const ConvProblem& p, const KernelSet&) {
  return p.macs() < kDirectMacs || (p.Cg <= 4 && p.Kg() <= 4);
}

// The tasks of the direct algorithms that split planes into rows: each of `planes` (image, channel)
// planes of `rows` rows in `blocks` blocks of rows.
struct RowBlocks {
  int64_t planes, rows, blocks;
  // Enough blocks to balance a team of t threads when the planes are few.
  static RowBlocks balanced(int64_t planes, int64_t rows, int t) {
    return {planes, rows, t > 1 ? std::min<int64_t>(rows, std::max<int64_t>(1, (4 * t + planes - 1) / planes)) : 1};
  }
  int64_t tasks() const { return planes * blocks; }
  // Task `task`'s plane and its rows [*r0, *r1).
  int64_t plane(int64_t task, int64_t* r0, int64_t* r1) const {
    const int64_t b = task % blocks;
    *r0 = b * rows / blocks;
    *r1 = (b + 1) * rows / blocks;
    return task / blocks;
  }
};

// The packed GEMM of a problem's precision as the GEMM algorithms see it. fp32 (and tf32, which is fp32
// on the CPU): the kernel set's own, one K value per element of A and B. bf16: its GemmBf16, whose
// elements are Bf16Pairs of two input channels at one tap (kernels.h), so an element channel is a
// pair of channels and the implicit GEMM's row copies stay plain rows (of pairs).
struct GemmShape {
  int mr, nr, kc, nc;  // kc in elements
  int kpack;           // input channels per element: 1 or 2
};
GemmShape gemm_shape(const ConvProblem& p, const KernelSet& k);

// How bf16 pairs K: two input channels (2c, 2c + 1) at one tap; with OddRows, an odd last channel
// pairs its own taps along the kernel rows instead of with zeros (kh_lo, kh_hi of one stride phase, on
// consecutive phase rows: the implicit GEMM reads them as two adjacent rows of its copy). First layers
// have 3 input channels: a 7x7 stride-2 kernel then has 77 pairs instead of 98.
enum class Pairing { Channels, OddRows };

// The K elements of the GEMM of p in order (kpack 1: fp32; 2: bf16 pairs): f(c_lo, kh_lo, c_hi,
// kh_hi, kw), the taps (channel, kernel row) of the element's low and high halves at kernel column kw;
// c_hi < 0: the high half is zero (and fp32 has none).
template <class F>
void for_each_k(const ConvProblem& p, int kpack, Pairing pairing, F&& f) {
  const bool rows = kpack == 2 && pairing == Pairing::OddRows && p.Cg % 2 == 1;
  const int64_t channels = rows ? p.Cg - 1 : p.Cg;
  for (int64_t c = 0; c < channels; c += kpack)
    for (int64_t kh = 0; kh < p.KH; ++kh)
      for (int64_t kw = 0; kw < p.KW; ++kw) f(c, kh, kpack == 2 && c + 1 < p.Cg ? c + 1 : -1, kh, kw);
  if (!rows) return;
  const int64_t c = p.Cg - 1, sh = p.stride_h, dh = p.dil_h;
  for (int64_t a = 0; a < sh; ++a) {  // the kernel rows of stride phase a, by phase row (kh*dh)/sh
    int64_t lo = -1;
    for (int64_t kh = 0; kh <= p.KH; ++kh) {
      const bool in = kh < p.KH && (kh * dh) % sh == a;
      if (kh < p.KH && !in) continue;
      if (lo >= 0 && (!in || (kh * dh) / sh != (lo * dh) / sh + 1)) {  // lo pairs with nothing
        for (int64_t kw = 0; kw < p.KW; ++kw) f(c, lo, int64_t(-1), int64_t(-1), kw);
        lo = -1;
      }
      if (!in) continue;
      if (lo < 0) {
        lo = kh;
      } else {
        for (int64_t kw = 0; kw < p.KW; ++kw) f(c, lo, c, kh, kw);
        lo = -1;
      }
    }
  }
}

// The weights as the GEMM's A, per group [M = Cout/groups] x [Kd] elements (for_each_k's order; Ce
// element channels, ceil(Cg / kpack), each a plane of the implicit GEMM's row copy), packed into
// MR-row panels in K blocks of kc (pack_a): group g's panels at + g*Mp*Kd. An element is 4 bytes in
// both formats.
struct APack {
  int64_t M, Ce, Kd, Mp, kc;
};
APack a_pack(const ConvProblem& p, const KernelSet& k, Pairing pairing);
inline int64_t a_packed_floats(const ConvProblem& p, const APack& a) { return p.groups * a.Mp * a.Kd; }

// How the scalar (direct) algorithms read an operand: as given, or rounded to bfloat16 ('bf16':
// fp32 arithmetic on the rounded values). with_values(p, f) runs f(reader) for p's precision.
struct AsGiven {
  float operator()(float v) const { return v; }
};
struct Bf16Rounded {
  float operator()(float v) const { return from_bf16(to_bf16(v)); }
};
template <class F>
void with_values(const ConvProblem& p, F&& f) {
  if (p.precision == Precision::BF16) f(Bf16Rounded{});
  else f(AsGiven{});
}

// Element (n, c, h, w) of an activation tensor of C channels and H x W pixels in `layout` lies at
// n*s.n + c*s.c + h*s.h + w*s.w (s = act_strides(...)): how the layout-generic kernels index.
struct ActStrides {
  int64_t n, c, h, w;
};
inline ActStrides act_strides(Layout layout, int64_t C, int64_t H, int64_t W) {
  return layout == Layout::NHWC ? ActStrides{H * W * C, 1, W * C, C} : ActStrides{C * H * W, H * W, W, 1};
}

// Algorithm hooks for that packed format (one format per precision and pairing: a prepared layer
// keeps each).
template <Pairing P>
const void* gemm_a_format(const ConvProblem& p);
template <Pairing P>
size_t gemm_a_bytes(const Plan& pl);
template <Pairing P>
void gemm_a_prepack(const Plan& pl, const float* w_oihw, float* dst, int threads);

// The kernels of each element type with their blocking (the GemmShape of the problem and kernel set),
// for the GEMM algorithms' templates (one run written once).
// row(d, lo, hi, inc, n): d[i] = the element at lo[i*inc] (and hi[i*inc], its high half for bf16;
// a null half is zero; fp32 reads lo alone).
struct Fp32Gemm : GemmShape {
  using E = float;
  Ukernel ukernel;
  UkernelRows ukernel_rows;
  PackB pack_b;
  Gather gather;
  void row(E* d, const float* lo, const float*, int64_t inc, int64_t n) const {
    if (inc == 1) std::copy(lo, lo + n, d);
    else gather(d, lo, inc, n);
  }
};

struct Bf16Gemm : GemmShape {
  using E = Bf16Pair;
  UkernelBf16 ukernel;
  UkernelRowsBf16 ukernel_rows;
  PackBBf16 pack_b;
  PackPairs pack_pairs;
  void row(E* d, const float* lo, const float* hi, int64_t inc, int64_t n) const { pack_pairs(d, lo, hi, inc, n); }
};

// How the implicit GEMMs split their work: `units` independent outputs (an image and group, ...) of
// `rows` rows whose grid is wq columns wide, into tiles of rows (and the MR panels of M in msplit
// parts); tasks = units * tiles * msplit.
struct RowTiles {
  int64_t rows, tiles, msplit, tasks;
  // Task i: its unit, its tile, and its rows [m_lo, m_hi) of the M = rows of A (Mp of them packed).
  struct Task {
    int64_t unit, tile, m_lo, m_hi;
  };
  Task task(int64_t i, int64_t M, int64_t Mp, int mr) const {
    const int64_t mc = i % msplit, rest = i / msplit, mpanels = Mp / mr;
    return {rest / tiles, rest % tiles, mc * mpanels / msplit * mr, std::min(M, (mc + 1) * mpanels / msplit * mr)};
  }
};
// Rows per tile: the count up to max_rows that computes the fewest NR-wide panels over all rows
// (each tile's grid, r * wq columns, is rounded up to nr) while bytes(r), its buffers, stays within
// cap (one row always); ties go to more rows (fewer input rows copied twice). Why, with S3's
// numbers: docs/PERF.md, "What was tried". Then, for a team of t threads over `mpanels` MR panels:
// few units of few tiles (S1: N = 1; a late layer) also split M, for at least 4 tasks per thread so a
// thread slowed by another process delays the end by a small task only (thinner row tiles would be
// mostly padding); then a task count that is a multiple of the team, so no thread idles at the end.
template <class Bytes>
RowTiles row_tiles(int64_t rows, int64_t wq, int nr, int64_t max_rows, Bytes&& bytes, int64_t cap, int64_t units,
                   int64_t mpanels, int t) {
  RowTiles p{0, 0, 1, 0};
  int64_t best_panels = 0;
  for (int64_t r = 1; r <= std::max<int64_t>(1, std::min(rows, max_rows)); ++r) {
    if (r > 1 && bytes(r) > cap) break;
    const int64_t full = rows / r, rest = rows % r;
    const int64_t panels = full * ((r * wq + nr - 1) / nr) + (rest ? (rest * wq + nr - 1) / nr : 0);
    if (p.rows == 0 || panels <= best_panels) {
      p.rows = r;
      best_panels = panels;
    }
  }
  p.tiles = (rows + p.rows - 1) / p.rows;
  if (t > 1) {
    if (units * p.tiles < 4 * t && mpanels > 1)
      p.msplit = std::min<int64_t>(mpanels, (4 * t + units * p.tiles - 1) / (units * p.tiles));
    if (units * p.tiles * p.msplit < 16 * t)
      while ((units * p.tiles * p.msplit) % t != 0 && p.tiles < rows) ++p.tiles;
  }
  p.rows = (rows + p.tiles - 1) / p.tiles;  // equal tiles
  p.tiles = (rows + p.rows - 1) / p.rows;
  p.tasks = units * p.tiles * p.msplit;
  return p;
}

// Where a panel of C goes: row 0 at c, rows ld floats apart.
struct OutPanel {
  float* c;
  int64_t ld;
};

// The implicit GEMMs' macro-kernel, B read in place (ukernel_rows): rows [m_lo, m_hi) of C (+ bias,
// relu) for a tile of ncols grid columns = A * B, A packed (MR panel i0 of the K block k0 at
// a + Mp*k0 + i0*kcb, K blocks of kc), B's row k at b + offs[k]; out(jr, ncb) places the columns
// [jr, jr + ncb).
template <class G, class Out>
void gemm_rows(const G& kr, const typename G::E* a, int64_t M, int64_t Mp, int64_t Kd, int64_t kc, int64_t m_lo,
               int64_t m_hi, const float* bias, bool relu, const typename G::E* b, const int64_t* offs, int64_t ncols,
               Out&& out) {
  for (int64_t k0 = 0; k0 < Kd; k0 += kc) {
    const int64_t kcb = std::min(kc, Kd - k0);
    const int flags = (k0 > 0 ? kUkAccumulate : 0) | (relu && k0 + kcb == Kd ? kUkRelu : 0);
    for (int64_t i0 = m_lo; i0 < m_hi; i0 += kr.mr) {
      const typename G::E* ap = a + Mp * k0 + i0 * kcb;
      const int m = int(std::min<int64_t>(kr.mr, M - i0));
      const float* bi = bias ? bias + i0 : nullptr;
      for (int64_t jr = 0; jr < ncols; jr += kr.nr) {
        const int ncb = int(std::min<int64_t>(kr.nr, ncols - jr));
        const OutPanel o = out(jr, ncb);
        kr.ukernel_rows(kcb, ap, b + jr, offs + k0, o.c + i0 * o.ld, o.ld, m, ncb, bi, flags);
      }
    }
  }
}

// Runs f(gemm) with the element kernels of p's precision.
template <class F>
void with_gemm(const ConvProblem& p, const KernelSet& k, F&& f) {
  const GemmShape shape = gemm_shape(p, k);
  if (p.precision == Precision::BF16) {
    const GemmBf16& b = gemm_bf16(k);
    f(Bf16Gemm{shape, b.ukernel, b.ukernel_rows, b.pack_b, b.pack_pairs});
  } else {
    f(Fp32Gemm{shape, k.ukernel, k.ukernel_rows, k.pack_b, k.gather});
  }
}

}  // namespace algos
}  // namespace cc
