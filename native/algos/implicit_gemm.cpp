// implicit_gemm (forward): B read in place from the tile's zero-padded input rows, split into phases.
// With stride (sh, sw), tap kh*dh = sh*qh + rh and kw*dw = sw*qw + rw, so
// x_pad[c][sh*oh + kh*dh][sw*ow + kw*dw] = phase[c][rh][rw][oh + qh][ow + qw], where
// phase[c][a][b][i][j] = x_pad[c][sh*i + a][sw*j + b] (Wq = ceil(Wp / sw) columns). On the grid
// q = r*Wq + ow every B row k = (c, kh, kw) is then contiguous: base(c, rh, rw) + qh*Wq + qw + q. The
// thread copies the phases of the rows its output rows [oh0, oh1) need into its own buffer and the
// micro-kernel reads B there: nothing is packed (packed_gemm writes Cg*KH*KW floats per output
// pixel). Grid columns ow >= OW are computed and dropped. Stride 1 has one phase: the padded rows.
// bf16: the copy converts, and c runs over pairs of channels (a row of Bf16Pairs, common.h); an odd
// last channel's plane pairs each phase row with the next (Pairing::OddRows: it pairs its kernel rows).
// Measurements behind the blocking: docs/PERF.md, "CPU kernels".
#include <algorithm>

#include "common.h"

namespace cc {
namespace algos {
namespace {

// Per-thread buffers (input rows, C tile, B row offsets) stay below this many bytes; wider problems
// take packed_gemm.
constexpr int64_t kBufferCap = int64_t(4) << 20;

struct RowsPlan {
  APack a;
  RowTiles rt;  // tiles of output rows per image and group
  int64_t Wq, qh_max, xl_floats, ct_floats;
};


// 1x1 stride-1 unpadded NCHW: the input already is B, and packed_gemm's prefetching copy wins (S4).
bool preferred(const ConvProblem& p, const KernelSet&) { return !(p.layout == Layout::NCHW && p.is_pointwise()); }

// xl_floats: 4-byte elements (floats or bf16 pairs) of the row copy.
int64_t per_thread_floats(const RowsPlan& p) { return p.xl_floats + p.ct_floats + 2 * p.a.Kd; }

bool plan(Plan& pl) {
  const ConvProblem& s = pl.problem;
  const GemmShape kr = gemm_shape(s, *pl.kernels);
  RowsPlan& p = pl.get<RowsPlan>();
  p.a = a_pack(s, *pl.kernels, Pairing::OddRows);
  const int64_t M = p.a.M, Ce = p.a.Ce;
  const int64_t Wp = s.W + s.pad_l + s.pad_r;
  p.Wq = (Wp + s.stride_w - 1) / s.stride_w;
  p.qh_max = (s.KH - 1) * s.dil_h / s.stride_h;
  const int nr = kr.nr;
  // Even one output row per tile must fit the buffer cap. Checked in floating point first: for huge
  // strides or widths (every factor is < 2^31) the int64 products below would overflow.
  const double min_floats = double(Ce) * double(s.stride_h) * double(s.stride_w) * double(1 + p.qh_max) *
                                double(p.Wq) + double(M) * double(p.Wq + nr) + 2.0 * double(p.a.Kd) +
                                double(s.KW - 1) * double(s.dil_w) / double(s.stride_w);
  if (min_floats * 4 > double(kBufferCap)) return false;
  // Tiles of output rows whose input rows and C tile fit the configuration's tile bytes (half of the
  // L2), over the images and groups (common.h).
  const int t = team(s, pl.threads);
  p.rt = row_tiles(
      s.OH, p.Wq, nr, 2 * kr.nc / p.Wq,
      [&](int64_t r) { return 4 * (Ce * s.stride_h * s.stride_w * (r + p.qh_max) * p.Wq + M * r * p.Wq); },
      pl.kernels->tile_bytes, s.N * s.groups, p.a.Mp / kr.mr, t);
  pl.threads = int(std::min<int64_t>(t, p.rt.tasks));
  const int64_t cols = (p.rt.rows * p.Wq + nr - 1) / nr * nr;
  p.xl_floats = Ce * s.stride_h * s.stride_w * (p.rt.rows + p.qh_max) * p.Wq + (s.KW - 1) * s.dil_w / s.stride_w + nr;
  p.xl_floats += p.xl_floats & 1;
  p.ct_floats = M * cols;
  p.ct_floats += p.ct_floats & 1;  // keep the int64 offsets after it 8-byte aligned
  if (per_thread_floats(p) * 4 > kBufferCap) return false;
  pl.scratch_bytes = size_t(per_thread_floats(p)) * 4 * size_t(pl.threads);
  return true;
}

// x [N, Cin, H, W] or NHWC, packed A -> y [N, Cout, OH, OW] or NHWC; G: the element kernels (common.h)
template <class G>
void run_t(const ConvProblem& s, const RowsPlan& p, const RunArgs& args, float* scratch, int threads, const G& kr) {
  using E = typename G::E;
  const int mr = kr.mr, nr = kr.nr, kpack = kr.kpack;
  const int64_t Ce = p.a.Ce;
  const int64_t M = p.a.M, Kd = p.a.Kd, Mp = p.a.Mp, kc = p.a.kc;
  const int64_t per_thread = per_thread_floats(p);
  const int64_t P = s.OH * s.OW;
  const bool relu = s.epilogue.act == Activation::Relu;
  const float* x = args.src;
  const float* bias = args.bias;
  float* y = args.dst;

  parallel_for(threads, p.rt.tasks, [&](int64_t task, int thread) {
    E* xl = reinterpret_cast<E*>(scratch + per_thread * thread);
    float* ct = scratch + per_thread * thread + p.xl_floats;
    int64_t* offs = reinterpret_cast<int64_t*>(ct + p.ct_floats);  // Kd int64s (2*Kd floats)
    const RowTiles::Task tk = p.rt.task(task, M, Mp, mr);  // its output channels: [m_lo, m_hi)
    const int64_t img = tk.unit, g = img % s.groups, n = img / s.groups, m_lo = tk.m_lo, m_hi = tk.m_hi;
    const int64_t oh0 = tk.tile * p.rt.rows, oh1 = std::min(s.OH, oh0 + p.rt.rows), rows = oh1 - oh0;
    const int64_t sh = s.stride_h, sw = s.stride_w, Rq = rows + p.qh_max, ncols = rows * p.Wq;
    // Input element (c, ih, iw) of this image and group at xg + c*xcs + ih*xhs + iw*xws: NHWC is
    // transposed to channel rows here, on the copy the thread makes anyway; c runs over element
    // channels (pairs for bf16, converted here).
    const bool nhwc = s.layout == Layout::NHWC;
    const float* xg = nhwc ? x + n * s.H * s.W * s.Cin + g * s.Cg : x + (n * s.Cin + g * s.Cg) * s.H * s.W;
    const int64_t xcs = nhwc ? 1 : s.H * s.W, xhs = nhwc ? s.W * s.Cin : s.W, xws = nhwc ? s.Cin : 1;
    for (int64_t c = 0; c < Ce; ++c) {
      // The element's halves: channel kpack*c at phase row i, and (bf16) channel kpack*c + 1 at row i,
      // or, for an odd last channel (OddRows), the same channel at row i + 1.
      const int64_t c_lo = kpack * c;
      const bool rows_pair = kpack == 2 && c_lo + 1 == s.Cg;
      const int64_t c_hi = kpack == 1 ? -1 : rows_pair ? c_lo : c_lo + 1;
      for (int64_t a = 0; a < sh; ++a)
        for (int64_t b = 0; b < sw; ++b)
          for (int64_t i = 0; i < Rq; ++i) {
            E* d = xl + (((c * sh + a) * sw + b) * Rq + i) * p.Wq;
            const int64_t ih = sh * (oh0 + i) + a - s.pad_t, ih_hi = rows_pair ? ih + sh : ih;
            const bool lo_in = ih >= 0 && ih < s.H, hi_in = c_hi >= 0 && ih_hi >= 0 && ih_hi < s.H;
            if (!lo_in && !hi_in) {
              std::fill(d, d + p.Wq, E(0));
              continue;
            }
            // Phase columns j read input column sw*j + b - pad_l when inside [0, W).
            const int64_t j0 = std::min(p.Wq, (s.pad_l - b + sw - 1) / sw);  // first j inside
            const int64_t j1 = std::max(j0, std::min(p.Wq, (s.W + s.pad_l - b + sw - 1) / sw));
            const int64_t col = (sw * j0 + b - s.pad_l) * xws;
            std::fill(d, d + j0, E(0));
            kr.row(d + j0, lo_in ? xg + c_lo * xcs + ih * xhs + col : nullptr,
                   hi_in ? xg + c_hi * xcs + ih_hi * xhs + col : nullptr, sw * xws, j1 - j0);
            std::fill(d + j1, d + p.Wq, E(0));
          }
    }
    std::fill(xl + Ce * sh * sw * Rq * p.Wq, xl + p.xl_floats, E(0));  // slack read by the last panel
    int64_t k = 0;  // B row of K element k: its low half's tap in its element channel's plane
    for_each_k(s, kpack, Pairing::OddRows, [&](int64_t c_lo, int64_t kh, int64_t, int64_t, int64_t kw) {
      const int64_t c = c_lo / kpack, th = kh * s.dil_h, tw = kw * s.dil_w;
      offs[k++] = (((c * sh + th % sh) * sw + tw % sw) * Rq + th / sh) * p.Wq + tw / sw;
    });
    const E* ag = reinterpret_cast<const E*>(args.packed) + g * Mp * Kd;
    const int64_t ldc = (ncols + nr - 1) / nr * nr;
    float* y0 = y + (n * s.Cout + g * M) * P + oh0 * s.OW;  // NCHW: this tile's first output row, channel 0
    // A panel of grid columns [jr, jr + ncb) lying within one output row's valid columns.
    auto direct = [&](int64_t jr, int ncb) {
      const int64_t r = jr / p.Wq;
      return !nhwc && jr + ncb <= r * p.Wq + s.OW;
    };
    gemm_rows(kr, ag, M, Mp, Kd, kc, m_lo, m_hi, bias ? bias + g * M : nullptr, relu, xl, offs, ncols,
              [&](int64_t jr, int ncb) {
                const int64_t r = jr / p.Wq;
                if (direct(jr, ncb)) return OutPanel{y0 + r * s.OW + (jr - r * p.Wq), P};  // straight into y
                return OutPanel{ct + jr, ldc};
              });
    if (nhwc) {  // transpose the C tile into the NHWC output: pixel (oh0 + r, ow), channels m_lo..m_hi
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          float* yp = y + ((n * s.OH + oh0 + r) * s.OW + ow) * s.Cout + g * M;
          const float* cp = ct + r * p.Wq + ow;
          for (int64_t m = m_lo; m < m_hi; ++m) yp[m] = cp[m * ldc];
        }
      return;
    }
    // Copy the valid columns of the panels that went through ct (those holding a row end).
    for (int64_t jr = 0; jr < ncols; jr += nr) {
      const int ncb = int(std::min<int64_t>(nr, ncols - jr));
      if (direct(jr, ncb)) continue;
      for (int64_t q = jr; q < jr + ncb;) {
        const int64_t r = q / p.Wq, col = q - r * p.Wq;
        const int64_t end = std::min(jr + ncb, (r + 1) * p.Wq);  // this panel's part of row r
        const int64_t valid = std::max<int64_t>(0, std::min(end - q, s.OW - col));
        for (int64_t m = m_lo; m < m_hi && valid > 0; ++m)
          std::copy(ct + m * ldc + q, ct + m * ldc + q + valid, y0 + m * P + r * s.OW + col);
        q = end;
      }
    }
  });
}

void run(const Plan& pl, const RunArgs& args, float* scratch, int threads) {
  with_gemm(pl.problem, *pl.kernels,
            [&](const auto& g) { run_t(pl.problem, pl.get<RowsPlan>(), args, scratch, threads, g); });
}

}  // namespace

extern const Algorithm kImplicitGemmForward = {"implicit_gemm", Direction::Forward, runs_any, preferred, plan,
                                               run, gemm_a_format<Pairing::OddRows>, gemm_a_bytes<Pairing::OddRows>,
                                               gemm_a_prepack<Pairing::OddRows>};

}  // namespace algos
}  // namespace cc
