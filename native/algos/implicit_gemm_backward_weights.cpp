// implicit_gemm (backward-weights): per group, the weight gradient as one GEMM
//     dw[k][(kh, kw, c)] = sum over output pixels q of dy[k][q] * x[c][ih(q, kh)][iw(q, kw)]
// with M = Cout/groups (dy's channels, packed per tile as the A panels, K = pixels) and
// N = KH*KW*Cg. Each task copies its tile's input channel-innermost into a window where, for each
// pixel, long runs of the N values are contiguous: [row][column][c] gives the KW*Cg values (kw, c) of
// one kernel row; with few channels ([row][column][kh][c], the kernel rows interleaved per output row)
// the whole KW*KH*Cg. A B panel (NR of a run, for kc pixels) is then one contiguous copy per pixel.
// (Read in place instead, the runs of consecutive pixels lie Cg floats apart: with 64 or 256 channels
// they fall into a few L1 sets.)
// Threads: the pixels are split into chunks, fixed by the plan, each summed into its own partial dw
// in one fixed order (and the N panels into chunks when the pixels are few); a second pass adds the
// partials in chunk order while writing OIHW. So dw has the same bits for the same thread count, and
// the work has no barrier but that one (barriers stall when another process holds a core).
// bf16: K (the pixels) in pairs of consecutive pixels: dy's rows packed as pairs, and a B panel row
// the two pixels' runs interleaved, both converted while packing; the window stays fp32.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "common.h"

namespace cc {
namespace algos {
namespace {

// Per-thread buffers (window, packed dy, one B panel, offsets) stay below this many bytes.
constexpr int64_t kBufferCap = int64_t(4) << 20;
// The partial weight gradients of the pixel chunks stay below this many bytes.
constexpr int64_t kPartialCap = int64_t(32) << 20;

struct BwPlan {
  int64_t M, Mp, Kd;          // dy channels per group, rounded up to MR; KH*KW*Cg
  bool interleaved;           // window [oh][col][kh][c] (else [row][col][c])
  int64_t nseg, L, pps;       // contiguous runs per pixel, their length, NR panels per run
  int64_t Wp;                 // window columns (every input column an output row reads)
  int64_t rows, tiles;        // output rows per tile, tiles per image
  int64_t chunks, pchunks;    // pixel chunks (each its partial dw) and panel chunks: tasks per group
  int64_t win_floats, a_floats, per_thread;
};


// Packs kcb rows of nr floats, row k at src + offs[k], into the panel [kcb][nr]. The row length is a
// constant for the common register blocks, so each row is a few inlined vector moves instead of a
// memmove call (which cost 10% of a first layer's time).
template <int NR>
void pack_rows_n(const float* src, const int64_t* offs, int64_t kcb, float* dst) {
  for (int64_t k = 0; k < kcb; ++k) std::memcpy(dst + k * NR, src + offs[k], NR * sizeof(float));
}
void pack_rows(const float* src, const int64_t* offs, int64_t kcb, int nr, float* dst) {
  switch (nr) {
    case 8: return pack_rows_n<8>(src, offs, kcb, dst);
    case 12: return pack_rows_n<12>(src, offs, kcb, dst);
    case 16: return pack_rows_n<16>(src, offs, kcb, dst);
    case 48: return pack_rows_n<48>(src, offs, kcb, dst);
    default:
      for (int64_t k = 0; k < kcb; ++k) std::copy(src + offs[k], src + offs[k] + nr, dst + k * nr);
  }
}

bool preferred(const ConvProblem&, const KernelSet&) { return true; }

size_t aligned_floats(int64_t n) { return size_t((n + 15) / 16 * 16); }

// Window floats for `rows` output rows (without the slack).
double window_floats(const ConvProblem& s, bool interleaved, double wp, double rows) {
  if (interleaved) return rows * wp * double(s.KH) * double(s.Cg);
  return ((rows - 1.0) * double(s.stride_h) + double(s.KH - 1) * double(s.dil_h) + 1.0) * wp * double(s.Cg);
}

bool plan(Plan& pl) {
  const ConvProblem& s = pl.problem;
  const GemmShape kr = gemm_shape(s, *pl.kernels);
  BwPlan& b = pl.get<BwPlan>();
  const int nr = kr.nr;
  if (kr.mr > 16) return false;  // run() reads the MR rows of dy through 16 pointers
  b.M = s.Kg();
  b.Mp = (b.M + kr.mr - 1) / kr.mr * kr.mr;
  b.Kd = s.KH * s.KW * s.Cg;
  // Runs of the row layout: KW*Cg (Cg with a column dilation). Too short for NR (a first layer's 3
  // channels): interleave the kernel rows, KH times longer runs for KH times the copy.
  const int64_t row_run = s.dil_w == 1 ? s.KW * s.Cg : s.Cg;
  b.interleaved = s.KH > 1 && row_run < 2 * nr;
  if (b.interleaved) {
    b.nseg = s.dil_w == 1 ? 1 : s.KW;
    b.L = s.dil_w == 1 ? s.KW * s.KH * s.Cg : s.KH * s.Cg;
  } else {
    b.nseg = s.dil_w == 1 ? s.KH : s.KH * s.KW;
    b.L = row_run;
  }
  b.pps = (b.L + nr - 1) / nr;
  // One output row's buffers must fit; checked in floating point first (every factor < 2^31).
  const double wp = double(s.OW - 1) * double(s.stride_w) + double(s.KW - 1) * double(s.dil_w) + 1.0;
  auto thread_floats = [&](double rows) {
    return window_floats(s, b.interleaved, wp, rows) + double(nr) + double(b.Mp) * rows * double(s.OW) +
           2.0 * rows * double(s.OW) + double(kr.kc) * double(nr) + 64.0;
  };
  if (4 * thread_floats(1) > double(kBufferCap)) return false;
  b.Wp = int64_t(wp);
  // Rows per tile: the window and the packed dy of a tile within half of L2.
  b.rows = 1;
  while (b.rows < s.OH && 4 * thread_floats(double(b.rows + 1)) <= double(int64_t(512) << 10)) ++b.rows;
  b.tiles = (s.OH + b.rows - 1) / b.rows;
  b.rows = (s.OH + b.tiles - 1) / b.tiles;  // equal tiles
  const int t = team(s, pl.threads);
  const int64_t items = s.N * b.tiles, np = b.nseg * b.pps;
  // Tasks per group: pixel chunks first (no work repeated), panel chunks when the pixels are few
  // (each repeats its chunk's copies), about 4 per thread so a slowed thread delays the end little.
  const int64_t want = t > 1 ? std::max<int64_t>(1, (4 * t + s.groups - 1) / s.groups) : 1;
  const int64_t by_memory = std::max<int64_t>(1, kPartialCap / std::max<int64_t>(1, 4 * s.w_elems()));
  b.chunks = std::min({items, want, by_memory});
  b.pchunks = std::min<int64_t>(np, (want + b.chunks - 1) / b.chunks);
  pl.threads = int(std::min<int64_t>(t, s.groups * b.chunks * b.pchunks));
  b.win_floats = int64_t(window_floats(s, b.interleaved, wp, double(b.rows))) + nr;
  b.a_floats = b.Mp * b.rows * s.OW;
  b.per_thread = int64_t(aligned_floats(b.win_floats) + aligned_floats(b.a_floats) + aligned_floats(2 * b.rows * s.OW) +
                         aligned_floats(int64_t(kr.kc) * nr));
  pl.scratch_bytes = 4 * (aligned_floats(s.w_elems()) * size_t(b.chunks) + size_t(b.per_thread) * size_t(pl.threads));
  return true;
}

// x [N, Cin, H, W], dy [N, Cout, OH, OW] (or both NHWC) -> dw [Cout, Cg, KH, KW]; G: the element
// kernels (common.h)
template <class G>
void run_t(const ConvProblem& s, const BwPlan& b, const RunArgs& args, float* scratch, int threads, const G& kr) {
  using E = typename G::E;
  const int mr = kr.mr, nr = kr.nr, kpack = kr.kpack;
  const ActStrides xs = act_strides(s.layout, s.Cin, s.H, s.W), ys = act_strides(s.layout, s.Cout, s.OH, s.OW);
  const bool nhwc = s.layout == Layout::NHWC;
  const int64_t np = b.nseg * b.pps, taps = s.KH * s.KW;
  const int64_t partial_floats = int64_t(aligned_floats(s.w_elems()));
  float* partials = scratch;  // [chunks][Cout][nseg][L]
  float* per_thread = partials + partial_floats * b.chunks;
  // A run's offset from the pixel's place in the window.
  auto seg_off = [&](int64_t seg) -> int64_t {
    if (b.interleaved) return seg * s.dil_w * s.KH * s.Cg;  // seg = kw (column dilation), else 0
    return s.dil_w == 1 ? seg * s.dil_h * b.Wp * s.Cg : ((seg / s.KW) * s.dil_h * b.Wp + (seg % s.KW) * s.dil_w) * s.Cg;
  };
  const int64_t items = s.N * b.tiles;
  parallel_for(threads, s.groups * b.chunks * b.pchunks, [&](int64_t task, int thread) {
    float* win = per_thread + b.per_thread * thread;
    E* apk = reinterpret_cast<E*>(win + aligned_floats(b.win_floats));
    int64_t* offs = reinterpret_cast<int64_t*>(win + aligned_floats(b.win_floats) + aligned_floats(b.a_floats));
    E* bp = reinterpret_cast<E*>(reinterpret_cast<float*>(offs) + aligned_floats(2 * b.rows * s.OW));
    const int64_t pc = task % b.pchunks, ch = task / b.pchunks % b.chunks, g = task / (b.pchunks * b.chunks);
    const int64_t p0 = pc * np / b.pchunks, p1 = (pc + 1) * np / b.pchunks;
    float* part = partials + partial_floats * ch + g * b.M * b.Kd;
    const int64_t i0 = ch * items / b.chunks, i1 = (ch + 1) * items / b.chunks;
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t n = item / b.tiles, oh0 = item % b.tiles * b.rows, rows = std::min(b.rows, s.OH - oh0);
      const int64_t P = rows * s.OW, ih0 = oh0 * s.stride_h - s.pad_t;
      const float* xg = args.src + n * xs.n + g * s.Cg * xs.c;
      const float* dyt = args.src2 + n * ys.n + g * b.M * ys.c + oh0 * ys.h;
      // Window: input row ih, columns j (input column j - pl), zero outside x, at `d` with pixel
      // stride `ps` (Cg, or KH*Cg interleaved).
      auto copy_row = [&](int64_t ih, float* d, int64_t ps) {
        const int64_t j0 = std::min(b.Wp, s.pad_l), j1 = std::max(j0, std::min(b.Wp, s.W + s.pad_l));
        if (ih < 0 || ih >= s.H) {
          for (int64_t j = 0; j < b.Wp; ++j) std::fill_n(d + j * ps, s.Cg, 0.0f);
          return;
        }
        for (int64_t j = 0; j < j0; ++j) std::fill_n(d + j * ps, s.Cg, 0.0f);
        for (int64_t j = j1; j < b.Wp; ++j) std::fill_n(d + j * ps, s.Cg, 0.0f);
        const float* xr = xg + ih * xs.h + (j0 - s.pad_l) * xs.w;
        if (nhwc) {
          for (int64_t j = j0; j < j1; ++j) std::memcpy(d + j * ps, xr + (j - j0) * xs.w, size_t(s.Cg) * 4);
        } else {  // channel rows to pixels in 16 x 16 blocks: a block's source lines (and pages: 100
                  // channel rows at once passed the TLB) and its destination stay in L1
          for (int64_t jb = j0; jb < j1; jb += 16)
            for (int64_t c0 = 0; c0 < s.Cg; c0 += 16) {
              const int64_t c1 = std::min(s.Cg, c0 + 16), je = std::min(j1, jb + 16);
              // The next block's lines of these channel rows: too many streams for the hardware
              // prefetcher (measured: the copy's loads missed, 5 cycles an element).
              if (je < j1)
                for (int64_t c = c0; c < c1; ++c) __builtin_prefetch(xr + c * xs.c + (je - j0), 0, 3);
              for (int64_t j = jb; j < je; ++j)
                for (int64_t c = c0; c < c1; ++c) d[j * ps + c] = xr[c * xs.c + (j - j0)];
            }
        }
      };
      int64_t wsize;
      if (b.interleaved) {
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t kh = 0; kh < s.KH; ++kh)
            copy_row(ih0 + r * s.stride_h + kh * s.dil_h, win + r * b.Wp * s.KH * s.Cg + kh * s.Cg, s.KH * s.Cg);
        wsize = rows * b.Wp * s.KH * s.Cg;
        for (int64_t q = 0; q < P; ++q) offs[q] = ((q / s.OW) * b.Wp + (q % s.OW) * s.stride_w) * s.KH * s.Cg;
      } else {
        const int64_t rw = (rows - 1) * s.stride_h + (s.KH - 1) * s.dil_h + 1;
        for (int64_t r = 0; r < rw; ++r) copy_row(ih0 + r, win + r * b.Wp * s.Cg, s.Cg);
        wsize = rw * b.Wp * s.Cg;
        for (int64_t q = 0; q < P; ++q) offs[q] = ((q / s.OW) * s.stride_h * b.Wp + (q % s.OW) * s.stride_w) * s.Cg;
      }
      std::fill(win + wsize, win + wsize + nr, 0.0f);  // slack the last panel reads
      // dy's rows as the A panels, every K block of kc elements (pixels, or pairs of pixels): [kcb][MR]
      // at apk + Mp*k0 + i0*kcb.
      const int64_t Pe = (P + kpack - 1) / kpack;  // K elements
      const int64_t kblocks = (Pe + kr.kc - 1) / kr.kc, kc = (Pe + kblocks - 1) / kblocks;
      for (int64_t m0 = 0; m0 < b.Mp; m0 += mr) {
        const int rowsm = int(std::max<int64_t>(0, std::min<int64_t>(mr, b.M - m0)));
        for (int64_t k0 = 0; k0 < Pe; k0 += kc) {
          const int64_t kcb = std::min(kc, Pe - k0);
          E* d = apk + b.Mp * k0 + m0 * kcb;
          for (int i = rowsm; i < mr; ++i)
            for (int64_t kk = 0; kk < kcb; ++kk) d[kk * mr + i] = E(0);
          if constexpr (std::is_same<E, float>::value) {
            if (ys.w == 1) {  // NCHW: MR rows of pixels read side by side, the panel written in order
              const float* src[16];
              for (int i = 0; i < rowsm; ++i) src[i] = dyt + (m0 + i) * ys.c + k0;
              for (int64_t kk = 0; kk < kcb; ++kk)
                for (int i = 0; i < rowsm; ++i) d[kk * mr + i] = src[i][kk];
            } else {  // NHWC: pixels of channels
              for (int64_t kk = 0; kk < kcb; ++kk) {
                const float* src = dyt + (k0 + kk) * ys.w + m0;
                for (int i = 0; i < rowsm; ++i) d[kk * mr + i] = src[i];
              }
            }
          } else {  // pairs of pixels: each row's pairs converted into a run, then spread into the panel
            E run[256];
            for (int i = 0; i < rowsm; ++i)
              for (int64_t e0 = 0; e0 < kcb; e0 += 256) {
                const int64_t ne = std::min<int64_t>(256, kcb - e0), q = 2 * (k0 + e0);
                const float* src = dyt + (m0 + i) * ys.c + q * ys.w;
                // The high half of a last odd pixel is zero: its pair is converted alone.
                const int64_t full = std::min(ne, (P - q) / 2);
                kr.row(run, src, src + ys.w, 2 * ys.w, full);
                if (full < ne) kr.row(run + full, src + 2 * full * ys.w, nullptr, 1, 1);
                for (int64_t kk = 0; kk < ne; ++kk) d[(e0 + kk) * mr + i] = run[kk];
              }
          }
        }
      }
      const bool first = item == i0;  // this chunk's first pixels: C = A*B, no accumulation
      for (int64_t k0 = 0; k0 < Pe; k0 += kc) {
        const int64_t kcb = std::min(kc, Pe - k0);
        const int flags = first && k0 == 0 ? 0 : kUkAccumulate;
        for (int64_t pi = p0; pi < p1; ++pi) {
          const int64_t seg = pi / b.pps, l0 = (pi % b.pps) * nr;
          const int ncb = int(std::min<int64_t>(nr, b.L - l0));
          const float* src = win + seg_off(seg) + l0;
          // Row kk of the B panel: the run of pixel kpack*(k0 + kk) (and of the next pixel, bf16).
          if constexpr (std::is_same<E, float>::value) {
            pack_rows(src, offs + k0, kcb, nr, bp);
          } else {
            for (int64_t kk = 0; kk < kcb; ++kk) {
              const int64_t q = kpack * (k0 + kk);
              kr.row(bp + kk * nr, src + offs[q], kpack == 2 && q + 1 < P ? src + offs[q + 1] : nullptr, 1, nr);
            }
          }
          float* c = part + seg * b.L + l0;
          for (int64_t m0 = 0; m0 < b.M; m0 += mr)
            kr.ukernel(kcb, apk + b.Mp * k0 + m0 * kcb, bp, c + m0 * b.Kd, b.Kd, 1, int(std::min<int64_t>(mr, b.M - m0)),
                       ncb, nullptr, flags);
        }
      }
    }
  });
  // The partials, added in chunk order, into OIHW: run position (seg, l) is tap (kh, kw), channel c.
  auto column = [&](int64_t c, int64_t kh, int64_t kw) -> int64_t {
    if (b.interleaved)
      return s.dil_w == 1 ? kw * s.KH * s.Cg + kh * s.Cg + c : kw * b.L + kh * s.Cg + c;
    return s.dil_w == 1 ? kh * b.L + kw * s.Cg + c : (kh * s.KW + kw) * b.L + c;
  };
  parallel_for(s.w_elems() < (int64_t(1) << 16) ? 1 : threads, s.Cout, [&](int64_t k, int) {
    float* dst = args.dst + k * b.Kd;
    for (int64_t c = 0; c < s.Cg; ++c)
      for (int64_t kh = 0; kh < s.KH; ++kh)
        for (int64_t kw = 0; kw < s.KW; ++kw) {
          const int64_t col = k * b.Kd + column(c, kh, kw);
          float v = partials[col];
          for (int64_t ch = 1; ch < b.chunks; ++ch) v += partials[partial_floats * ch + col];
          dst[c * taps + kh * s.KW + kw] = v;
        }
  });
}

void run(const Plan& pl, const RunArgs& args, float* scratch, int threads) {
  with_gemm(pl.problem, *pl.kernels,
            [&](const auto& g) { run_t(pl.problem, pl.get<BwPlan>(), args, scratch, threads, g); });
}

}  // namespace

extern const Algorithm kImplicitGemmBackwardWeights = {"implicit_gemm", Direction::BackwardWeights, runs_any,
                                                       preferred, plan, run, nullptr, nullptr, nullptr};

}  // namespace algos
}  // namespace cc
