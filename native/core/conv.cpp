#include "conv.h"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <new>

#include "../cpu/gemm.h"
#include "error.h"
#include "layout.h"
#include "threads.h"

namespace cc {
namespace {

// Below this many multiply-adds a call runs on the calling thread: an OpenMP team costs more.
constexpr double kSerialMacs = 1 << 18;
// Below this many multiply-adds the direct kernel wins whatever the shape: nothing to pack.
constexpr double kDirectMacs = 1 << 14;

std::unique_ptr<float[]> alloc_floats(int64_t n, const char* what) {
  float* p = new (std::nothrow) float[size_t(std::max<int64_t>(n, 1))];
  if (!p)
    throw Error(ErrorKind::Generic, codes::kOutOfMemory,
                std::string("could not allocate ") + std::to_string(n * 4) + " bytes for " + what);
  return std::unique_ptr<float[]>(p);
}

int want_threads(const ConvShape& s, int requested) {
  if (s.macs() < kSerialMacs) return 1;
  return requested > 0 ? requested : default_threads();
}

// Direct convolution when the GEMM would be mostly padding: few channels per group in and out
// (depthwise), or a problem too small to pay for packing. NCHW only.
bool use_direct(const ConvShape& s) {
  if (s.layout != Layout::NCHW) return false;
  const int64_t Kg = s.K / s.groups;
  return s.macs() < kDirectMacs || (s.Cg <= 4 && Kg <= 4);
}

// ----- direct: y[n, k, oh, :] = bias[k] + sum over (c, kh) of input row (c, ih) * w[k, c, kh, :] ----
struct DirectPlan {
  int64_t row_blocks, tasks;
  int threads;
};

DirectPlan plan_direct(const ConvShape& s, int requested) {
  DirectPlan p;
  const int64_t planes = s.N * s.K;
  const int t = want_threads(s, requested);
  // Enough tasks to balance the team: split planes into blocks of output rows when they are few.
  p.row_blocks = t > 1 ? std::min<int64_t>(s.OH, std::max<int64_t>(1, (4 * t + planes - 1) / planes)) : 1;
  p.tasks = planes * p.row_blocks;
  p.threads = int(std::min<int64_t>(t, p.tasks));
  return p;
}

void conv2d_direct(const ConvShape& s, const DirectPlan& p, const float* x, const float* w,
                   const float* bias, float* y, bool relu, int threads) {
  const DirectRow row_fn = gemm_kernels().direct_row;
  const DirectRow2 row2_fn = gemm_kernels().direct_row2;
  const int64_t Kg = s.K / s.groups;
  // Output rows in pairs when one channel's rows for both fit a batch: the rows they share are read
  // once (3x3 stride 1: 4 input rows feed 2 output rows instead of 3 + 3).
  const bool pairs = 2 * s.KH <= kDirectMaxRows;
  auto run = [&](int64_t task) {
    const int64_t rb = task % p.row_blocks, plane = task / p.row_blocks;
    const int64_t k = plane % s.K, n = plane / s.K, g = k / Kg;
    const int64_t oh0 = rb * s.OH / p.row_blocks, oh1 = (rb + 1) * s.OH / p.row_blocks;
    const float* xg = x + (n * s.C + g * s.Cg) * s.H * s.W;
    const float* wk = w + k * s.Cg * s.KH * s.KW;
    const float b = bias ? bias[k] : 0.0f;
    const float* xs[kDirectMaxRows];
    const float* ws[kDirectMaxRows];
    const float* ws2[kDirectMaxRows];
    for (int64_t oh = oh0; oh < oh1;) {
      const bool two = pairs && oh + 1 < oh1;
      float* yr = y + (plane * s.OH + oh) * s.OW;
      float* yr2 = two ? yr + s.OW : nullptr;
      int flags = 0;  // the first batch of rows initialises y with the bias
      int64_t nrows = 0;
      auto flush = [&](bool last) {
        const int f = flags | (last && relu ? kUkRelu : 0);
        if (nrows > 0 || flags == 0) {
          if (two) row2_fn(xs, ws, ws2, nrows, s.W, s.KW, s.pad_l, s.dil_w, s.stride_w, yr, yr2, s.OW, b, f);
          else row_fn(xs, ws, nrows, s.W, s.KW, s.pad_l, s.dil_w, s.stride_w, yr, s.OW, b, f);
          flags = kUkAccumulate;
          nrows = 0;
        } else if (last && relu) {  // the last batch was already flushed full
          for (int64_t j = 0; j < (two ? 2 : 1) * s.OW; ++j) yr[j] = yr[j] > 0.0f ? yr[j] : 0.0f;
        }
      };
      // Fetch the input rows the next output rows will need first touched (S7 streams its input).
      const int64_t ahead = (oh + 2 + two) * s.stride_h - s.pad_t + (s.KH - 1) * s.dil_h;
      if (ahead >= 0 && ahead < s.H && s.Cg <= 4)
        for (int64_t c = 0; c < s.Cg; ++c)
          for (int64_t i = 0; i < s.W; i += 16) __builtin_prefetch(xg + (c * s.H + ahead) * s.W + i, 0, 3);
      for (int64_t c = 0; c < s.Cg; ++c) {
        if (two && nrows + 2 * s.KH > kDirectMaxRows) flush(false);
        const int64_t first = nrows;
        for (int64_t kh = 0; kh < s.KH; ++kh) {
          const int64_t ih = oh * s.stride_h - s.pad_t + kh * s.dil_h;
          if (ih < 0 || ih >= s.H) continue;
          xs[nrows] = xg + (c * s.H + ih) * s.W;
          ws[nrows] = wk + (c * s.KH + kh) * s.KW;
          ws2[nrows] = nullptr;
          if (++nrows == kDirectMaxRows) flush(false);
        }
        if (!two) continue;
        for (int64_t kh = 0; kh < s.KH; ++kh) {  // the second row's taps: join a row already listed
          const int64_t ih = (oh + 1) * s.stride_h - s.pad_t + kh * s.dil_h;
          if (ih < 0 || ih >= s.H) continue;
          const float* xr = xg + (c * s.H + ih) * s.W;
          const float* wr = wk + (c * s.KH + kh) * s.KW;
          int64_t r = first;
          while (r < nrows && xs[r] != xr) ++r;
          if (r == nrows) { xs[r] = xr; ws[r] = nullptr; ++nrows; }
          ws2[r] = wr;
        }
      }
      flush(true);  // also when every row is padding: y = bias (relu'd)
      oh += two ? 2 : 1;
    }
  };
  if (threads <= 1) {
    for (int64_t t = 0; t < p.tasks; ++t) run(t);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t t = 0; t < p.tasks; ++t) run(t);
}

// ----- packed GEMM: per (image, group, pixel tile) task, B packed from the input by the thread ---
struct GemmPlan {
  const GemmKernels* kr;
  int64_t M, Kd, P, Mp, kc;  // GEMM M (= K / groups), K (= Cg*KH*KW), N (= OH*OW); padded M; K block
  int64_t panels, tiles, tasks, nc;  // NR panels per image; tiles per image; all tasks; tile width
  int threads;
};

GemmPlan plan_gemm(const ConvShape& s, int requested) {
  GemmPlan p;
  p.kr = &gemm_kernels();
  const int nr = p.kr->nr;
  p.M = s.K / s.groups;
  p.Kd = s.Cg * s.KH * s.KW;
  p.P = s.OH * s.OW;
  p.Mp = (p.M + p.kr->mr - 1) / p.kr->mr * p.kr->mr;
  // Equal K blocks of at most kr.kc: a short last block would pay the micro-kernel's C load/store
  // for little work (S3: K = 576 -> 2 x 288 rather than 256 + 256 + 64).
  const int64_t kblocks = (p.Kd + p.kr->kc - 1) / p.kr->kc;
  p.kc = (p.Kd + kblocks - 1) / kblocks;
  p.panels = (p.P + nr - 1) / nr;
  const int64_t images = s.N * s.groups;
  const int t = want_threads(s, requested);
  p.tiles = (p.panels + p.kr->nc / nr - 1) / (p.kr->nc / nr);
  // Few tasks: make their count a multiple of the team so no thread idles at the end.
  if (t > 1 && images * p.tiles < 16 * t)
    while ((images * p.tiles) % t != 0 && p.tiles < p.panels) ++p.tiles;
  p.tasks = images * p.tiles;
  p.nc = (p.panels + p.tiles - 1) / p.tiles * nr;
  p.threads = int(std::min<int64_t>(t, p.tasks));
  return p;
}

int64_t gemm_pack_floats(const ConvShape& s, const GemmPlan& p) {
  return s.groups * p.Mp * p.Kd;
}

// A packed per group: group g's panels at + g*Mp*Kd.
// Large weights are packed by the whole team, each thread a disjoint set of MR-row panels.
void pack_weights_gemm(const ConvShape& s, const GemmPlan& p, const float* w, float* dst, int threads = 1) {
  const int64_t panels = p.Mp / p.kr->mr, units = s.groups * panels;
  auto unit = [&](int64_t u) {
    const int64_t g = u / panels, i = u % panels;
    pack_a(*p.kr, p.kc, p.M, p.Kd, w + g * p.M * p.Kd, p.Kd, dst + g * p.Mp * p.Kd, i, i + 1);
  };
  if (threads <= 1 || s.groups * p.Mp * p.Kd < (int64_t(1) << 16)) {
    for (int64_t u = 0; u < units; ++u) unit(u);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t u = 0; u < units; ++u) unit(u);
}

// w: OIHW weights, or null when `packed` holds them already packed for p.kr.
void conv2d_gemm(const ConvShape& s, const GemmPlan& p, const float* w, const float* packed,
                 const float* x, const float* bias, float* y, bool relu, int threads) {
  const GemmKernels& kr = *p.kr;
  const int mr = kr.mr, nr = kr.nr;
  const int64_t per_thread = p.kc * p.nc;
  std::unique_ptr<float[]> own;
  if (!packed) {
    own = alloc_floats(gemm_pack_floats(s, p), "the packed weights");
    pack_weights_gemm(s, p, w, own.get(), threads);
    packed = own.get();
  }
  auto bbuf = alloc_floats(per_thread * threads, "the packed input panels");
  const bool nhwc = s.layout == Layout::NHWC;

  auto run = [&](int64_t task, float* buf) {
    const int64_t t = task % p.tiles, img = task / p.tiles, g = img % s.groups, n = img / s.groups;
    const int64_t q0 = t * p.panels / p.tiles * nr;
    const int64_t ncols = std::min(p.P, (t + 1) * p.panels / p.tiles * nr) - q0;
    PackGeom geo{nullptr, 0, 0, 0, s.H, s.W, s.OW, s.KH, s.KW, s.stride_h, s.stride_w, s.dil_h, s.dil_w,
                 s.pad_t, s.pad_l};
    if (nhwc) { geo.x = x + n * s.H * s.W * s.C + g * s.Cg; geo.cs = 1; geo.hs = s.W * s.C; geo.ws = s.C; }
    else { geo.x = x + (n * s.C + g * s.Cg) * s.H * s.W; geo.cs = s.H * s.W; geo.hs = s.W; geo.ws = 1; }
    const float* ag = packed + g * p.Mp * p.Kd;
    for (int64_t k0 = 0; k0 < p.Kd; k0 += p.kc) {
      const int64_t kcb = std::min(p.kc, p.Kd - k0);
      kr.pack_b(geo, k0, kcb, q0, ncols, nr, buf);
      const int flags = (k0 > 0 ? kUkAccumulate : 0) | (relu && k0 + kcb == p.Kd ? kUkRelu : 0);
      for (int64_t i0 = 0; i0 < p.M; i0 += mr) {
        const float* a = ag + p.Mp * k0 + i0 * kcb;
        const int m = int(std::min<int64_t>(mr, p.M - i0));
        const float* bi = bias ? bias + g * p.M + i0 : nullptr;
        for (int64_t jr = 0; jr < ncols; jr += nr) {
          const int ncb = int(std::min<int64_t>(nr, ncols - jr));
          const int64_t q = q0 + jr, row = g * p.M + i0;
          if (nhwc) kr.ukernel(kcb, a, buf + jr * kcb, y + (n * p.P + q) * s.K + row, 1, s.K, m, ncb, bi, flags);
          else kr.ukernel(kcb, a, buf + jr * kcb, y + (n * s.K + row) * p.P + q, p.P, 1, m, ncb, bi, flags);
        }
      }
    }
  };

  if (threads <= 1) {
    for (int64_t task = 0; task < p.tasks; ++task) run(task, bbuf.get());
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    float* buf = bbuf.get() + per_thread * omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < p.tasks; ++task) run(task, buf);
  }
}

// ----- implicit GEMM: B read in place from the tile's zero-padded input rows, split into phases ----
// With stride (sh, sw), tap kh*dh = sh*qh + rh and kw*dw = sw*qw + rw, so
// x_pad[c][sh*oh + kh*dh][sw*ow + kw*dw] = phase[c][rh][rw][oh + qh][ow + qw], where
// phase[c][a][b][i][j] = x_pad[c][sh*i + a][sw*j + b] (Wq = ceil(Wp / sw) columns). On the grid
// q = r*Wq + ow every B row k = (c, kh, kw) is then contiguous: base(c, rh, rw) + qh*Wq + qw + q. The
// thread copies the phases of the rows its output rows [oh0, oh1) need into its own buffer and the
// micro-kernel reads B there: nothing is packed (the packed path writes Cg*KH*KW floats per output
// pixel). Grid columns ow >= OW are computed and dropped. Stride 1 has one phase: the padded rows.
struct RowsPlan {
  GemmPlan g;  // M, Kd, Mp, kc, kernels (its tile fields unused)
  int64_t Wq, qh_max, rows, tiles, msplit, tasks, xl_floats, ct_floats;  // msplit: M chunks per tile
  int threads;
};

bool plan_rows(const ConvShape& s, int requested, RowsPlan* rp) {
  if (s.layout == Layout::NCHW && s.is_pointwise()) return false;  // the packed path reads it as is
  RowsPlan& p = *rp;
  p.g = plan_gemm(s, requested);
  const int64_t Wp = s.W + s.pad_l + s.pad_r;
  p.Wq = (Wp + s.stride_w - 1) / s.stride_w;
  p.qh_max = (s.KH - 1) * s.dil_h / s.stride_h;
  const int nr = p.g.kr->nr;
  // Even one output row per tile must fit the buffer cap below. Checked in floating point first:
  // for huge strides or widths (every factor is < 2^31) the int64 products below would overflow.
  const double min_floats = double(s.Cg) * double(s.stride_h) * double(s.stride_w) * double(1 + p.qh_max) *
                                double(p.Wq) + double(p.g.M) * double(p.Wq + nr) + 2.0 * double(p.g.Kd) +
                                double(s.KW - 1) * double(s.dil_w) / double(s.stride_w);
  if (min_floats * 4 > double(int64_t(4) << 20)) return false;
  // Rows per tile: the count that computes the fewest NR-wide panels over the whole image (each
  // tile's grid, rows * Wq columns, is rounded up to NR) while the tile's input rows and C tile fit
  // in half of L2 (512 KB); ties go to more rows (fewer input rows copied twice).
  // S3: 14 rows (4 x 812 -> 816 columns) instead of 8 (7 x 464 -> 480).
  {
    const int64_t cap = std::max<int64_t>(1, std::min<int64_t>(s.OH, 2 * p.g.kr->nc / p.Wq));
    int64_t best = 0, best_panels = 0;
    for (int64_t r = 1; r <= cap; ++r) {
      const int64_t bytes = 4 * (s.Cg * s.stride_h * s.stride_w * (r + p.qh_max) * p.Wq + p.g.M * r * p.Wq);
      if (r > 1 && bytes > (int64_t(512) << 10)) break;
      const int64_t full = s.OH / r, rest = s.OH % r;
      const int64_t panels = full * ((r * p.Wq + nr - 1) / nr) + (rest ? (rest * p.Wq + nr - 1) / nr : 0);
      if (best == 0 || panels <= best_panels) { best = r; best_panels = panels; }
    }
    p.rows = best;
  }
  const int64_t images = s.N * s.groups;
  const int t = want_threads(s, requested);
  p.tiles = (s.OH + p.rows - 1) / p.rows;
  p.msplit = 1;
  const int64_t mpanels = p.g.Mp / p.g.kr->mr;
  if (t > 1) {
    // Few images of few row tiles (S1: N = 1; a late layer): the team also splits the output
    // channels, for at least 4 tasks per thread so a thread slowed by another process delays the
    // end by a small task only; thinner row tiles would be mostly padding.
    if (images * p.tiles < 4 * t && mpanels > 1)
      p.msplit = std::min<int64_t>(mpanels, (4 * t + images * p.tiles - 1) / (images * p.tiles));
    // Then a task count that is a multiple of the team, so no thread idles at the end.
    if (images * p.tiles * p.msplit < 16 * t)
      while ((images * p.tiles * p.msplit) % t != 0 && p.tiles < s.OH) ++p.tiles;
  }
  p.rows = (s.OH + p.tiles - 1) / p.tiles;
  p.tiles = (s.OH + p.rows - 1) / p.rows;
  p.tasks = images * p.tiles * p.msplit;
  p.threads = int(std::min<int64_t>(t, p.tasks));
  const int64_t cols = (p.rows * p.Wq + nr - 1) / nr * nr;
  p.xl_floats = s.Cg * s.stride_h * s.stride_w * (p.rows + p.qh_max) * p.Wq + (s.KW - 1) * s.dil_w / s.stride_w + nr;
  p.xl_floats += p.xl_floats & 1;
  p.ct_floats = p.g.M * cols;
  p.ct_floats += p.ct_floats & 1;  // keep the int64 offsets after it 8-byte aligned
  // Keep the per-thread buffers bounded (a few MB); wider problems take the packed path.
  return (p.xl_floats + p.ct_floats + 2 * p.g.Kd) * 4 <= (int64_t(4) << 20);
}

void conv2d_rows(const ConvShape& s, const RowsPlan& p, const float* w, const float* packed,
                 const float* x, const float* bias, float* y, bool relu, int threads) {
  const GemmPlan& gp = p.g;
  const GemmKernels& kr = *gp.kr;
  const int mr = kr.mr, nr = kr.nr;
  std::unique_ptr<float[]> own;
  if (!packed) {
    own = alloc_floats(gemm_pack_floats(s, gp), "the packed weights");
    pack_weights_gemm(s, gp, w, own.get(), threads);
    packed = own.get();
  }
  const int64_t per_thread = p.xl_floats + p.ct_floats + 2 * gp.Kd;  // input rows, C tile, B row offsets
  auto bufs = alloc_floats(per_thread * threads, "the padded input rows");
  const int64_t P = s.OH * s.OW;

  auto run = [&](int64_t task, float* buf) {
    float* xl = buf;
    float* ct = buf + p.xl_floats;
    int64_t* offs = reinterpret_cast<int64_t*>(ct + p.ct_floats);  // Kd int64s (2*Kd floats)
    const int64_t mc = task % p.msplit, tt = task / p.msplit;
    const int64_t t = tt % p.tiles, img = tt / p.tiles, g = img % s.groups, n = img / s.groups;
    const int64_t mpanels = gp.Mp / mr;  // this task's output channels: MR panels [mp0, mp1)
    const int64_t m_lo = mc * mpanels / p.msplit * mr, m_hi = std::min(gp.M, (mc + 1) * mpanels / p.msplit * mr);
    const int64_t oh0 = t * p.rows, oh1 = std::min(s.OH, oh0 + p.rows), rows = oh1 - oh0;
    const int64_t sh = s.stride_h, sw = s.stride_w, Rq = rows + p.qh_max, ncols = rows * p.Wq;
    // Input element (c, ih, iw) of this image and group at xg + c*xcs + ih*xhs + iw*xws: NHWC is
    // transposed to channel rows here, on the copy the thread makes anyway.
    const bool nhwc = s.layout == Layout::NHWC;
    const float* xg = nhwc ? x + n * s.H * s.W * s.C + g * s.Cg : x + (n * s.C + g * s.Cg) * s.H * s.W;
    const int64_t xcs = nhwc ? 1 : s.H * s.W, xhs = nhwc ? s.W * s.C : s.W, xws = nhwc ? s.C : 1;
    for (int64_t c = 0; c < s.Cg; ++c)
      for (int64_t a = 0; a < sh; ++a)
        for (int64_t b = 0; b < sw; ++b)
          for (int64_t i = 0; i < Rq; ++i) {
            float* d = xl + (((c * sh + a) * sw + b) * Rq + i) * p.Wq;
            const int64_t ih = sh * (oh0 + i) + a - s.pad_t;
            if (ih < 0 || ih >= s.H) {
              std::fill(d, d + p.Wq, 0.0f);
              continue;
            }
            // Phase columns j read input column sw*j + b - pad_l when inside [0, W).
            const float* xr = xg + c * xcs + ih * xhs;
            const int64_t j0 = std::min(p.Wq, (s.pad_l - b + sw - 1) / sw);  // first j inside
            const int64_t j1 = std::max(j0, std::min(p.Wq, (s.W + s.pad_l - b + sw - 1) / sw));
            std::fill(d, d + j0, 0.0f);
            if (sw * xws == 1) std::copy(xr + j0 + b - s.pad_l, xr + j1 + b - s.pad_l, d + j0);
            else kr.gather(d + j0, xr + (sw * j0 + b - s.pad_l) * xws, sw * xws, j1 - j0);
            std::fill(d + j1, d + p.Wq, 0.0f);
          }
    std::fill(xl + s.Cg * sh * sw * Rq * p.Wq, xl + p.xl_floats, 0.0f);  // slack read by the last panel
    for (int64_t c = 0, k = 0; c < s.Cg; ++c)
      for (int64_t kh = 0; kh < s.KH; ++kh)
        for (int64_t kw = 0; kw < s.KW; ++kw) {
          const int64_t th = kh * s.dil_h, tw = kw * s.dil_w;
          offs[k++] = (((c * sh + th % sh) * sw + tw % sw) * Rq + th / sh) * p.Wq + tw / sw;
        }
    const float* ag = packed + g * gp.Mp * gp.Kd;
    const int64_t ldc = (ncols + nr - 1) / nr * nr;
    float* y0 = y + (n * s.K + g * gp.M) * P + oh0 * s.OW;  // NCHW: this tile's first output row, channel 0
    // A panel of grid columns [jr, jr + ncb) lying within one output row's valid columns.
    auto direct = [&](int64_t jr, int ncb) {
      const int64_t r = jr / p.Wq;
      return !nhwc && jr + ncb <= r * p.Wq + s.OW;
    };
    for (int64_t k0 = 0; k0 < gp.Kd; k0 += gp.kc) {
      const int64_t kcb = std::min(gp.kc, gp.Kd - k0);
      const int flags = (k0 > 0 ? kUkAccumulate : 0) | (relu && k0 + kcb == gp.Kd ? kUkRelu : 0);
      for (int64_t i0 = m_lo; i0 < m_hi; i0 += mr) {
        const float* a = ag + gp.Mp * k0 + i0 * kcb;
        const int m = int(std::min<int64_t>(mr, gp.M - i0));
        const float* bi = bias ? bias + g * gp.M + i0 : nullptr;
        for (int64_t jr = 0; jr < ncols; jr += nr) {
          const int ncb = int(std::min<int64_t>(nr, ncols - jr));
          const int64_t r = jr / p.Wq;
          if (direct(jr, ncb))  // inside one output row: straight into y
            kr.ukernel_rows(kcb, a, xl + jr, offs + k0, y0 + i0 * P + r * s.OW + (jr - r * p.Wq), P, m, ncb, bi, flags);
          else
            kr.ukernel_rows(kcb, a, xl + jr, offs + k0, ct + i0 * ldc + jr, ldc, m, ncb, bi, flags);
        }
      }
    }
    if (nhwc) {  // transpose the C tile into the NHWC output: pixel (oh0 + r, ow), channels m_lo..m_hi
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          float* yp = y + ((n * s.OH + oh0 + r) * s.OW + ow) * s.K + g * gp.M;
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
  };

  if (threads <= 1) {
    for (int64_t task = 0; task < p.tasks; ++task) run(task, bufs.get());
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    float* buf = bufs.get() + per_thread * omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < p.tasks; ++task) run(task, buf);
  }
}

}  // namespace

size_t workspace_bytes(const ConvShape& s, int threads, bool prepared) {
  int64_t floats = 0;
  RowsPlan rp;
  if (use_direct(s)) {
    floats = 0;  // the direct kernel needs no scratch memory
  } else if (plan_rows(s, threads, &rp)) {
    floats = (prepared ? 0 : gemm_pack_floats(s, rp.g)) + (rp.xl_floats + rp.ct_floats + 2 * rp.g.Kd) * rp.threads;
  } else {
    const GemmPlan p = plan_gemm(s, threads);
    floats = (prepared ? 0 : gemm_pack_floats(s, p)) + p.kc * p.nc * p.threads;
  }
  if (s.weight_layout == WeightLayout::HWIO && !prepared) floats += s.weight_elems();
  return size_t(floats) * sizeof(float);
}

namespace {

void run_conv(const ConvShape& s, const float* x, const float* w, const float* packed, const float* bias,
              float* y, const RunOptions& opt) {
  if (use_direct(s)) {
    const DirectPlan p = plan_direct(s, opt.threads);
    if (p.threads <= 1) return conv2d_direct(s, p, x, w, bias, y, opt.relu, 1);
    ThreadLease lease(p.threads);
    return conv2d_direct(s, p, x, w, bias, y, opt.relu, lease.count());
  }
  RowsPlan rp;
  if (plan_rows(s, opt.threads, &rp)) {
    ThreadLease lease(rp.threads);
    return conv2d_rows(s, rp, w, packed, x, bias, y, opt.relu, lease.count());
  }
  const GemmPlan p = plan_gemm(s, opt.threads);
  ThreadLease lease(p.threads);
  conv2d_gemm(s, p, w, packed, x, bias, y, opt.relu, lease.count());
}

}  // namespace

void conv2d(const ConvShape& s, const float* x, const float* w, const float* bias, float* y,
            const RunOptions& opt) {
  std::unique_ptr<float[]> wt;
  if (s.weight_layout == WeightLayout::HWIO) {
    wt = alloc_floats(s.weight_elems(), "the OIHW weight copy");
    hwio_to_oihw(w, wt.get(), s.K, s.Cg, s.KH, s.KW);
    w = wt.get();
  }
  run_conv(s, x, w, nullptr, bias, y, opt);
}

PreparedWeights::PreparedWeights(const ConvShape& s, const float* w, const float* bias)
    : shape_(s), isa_(gemm_kernels().isa) {
  const int64_t n = s.weight_elems();
  oihw_ = alloc_floats(n, "the prepared weights");
  if (s.weight_layout == WeightLayout::HWIO) hwio_to_oihw(w, oihw_.get(), s.K, s.Cg, s.KH, s.KW);
  else std::copy(w, w + n, oihw_.get());
  if (bias) {
    bias_ = alloc_floats(s.K, "the prepared bias");
    std::copy(bias, bias + s.K, bias_.get());
  }
  // Packed GEMM panels whenever some input size would take the GEMM path (the plan's packing does
  // not depend on the input size: only on the kernel set, M and K).
  if (!(s.layout == Layout::NCHW && s.Cg <= 4 && s.K / s.groups <= 4)) {
    const GemmPlan p = plan_gemm(s, 1);
    packed_ = alloc_floats(gemm_pack_floats(s, p), "the packed weights");
    pack_weights_gemm(s, p, oihw_.get(), packed_.get());
  }
  bytes_ = size_t(n + (bias ? s.K : 0) + (packed_ ? gemm_pack_floats(s, plan_gemm(s, 1)) : 0)) * sizeof(float);
}

bool PreparedWeights::compatible(const ConvShape& s) const {
  const ConvShape& p = shape_;
  return s.K == p.K && s.Cg == p.Cg && s.KH == p.KH && s.KW == p.KW && s.groups == p.groups &&
         s.layout == p.layout && s.weight_layout == p.weight_layout;
}

void conv2d_prepared(const ConvShape& s, const PreparedWeights& pw, const float* x, float* y,
                     const RunOptions& opt) {
  if (!pw.compatible(s))
    throw Error(ErrorKind::Range, codes::kInvalidShape, "the input does not match the prepared weights");
  // A kernel set forced after preparing (tests) invalidates the packing: pack per call instead.
  const bool same_isa = gemm_kernels().isa == pw.isa_;
  run_conv(s, x, pw.oihw_.get(), same_isa ? pw.packed_.get() : nullptr, pw.bias_.get(), y, opt);
}

}  // namespace cc
