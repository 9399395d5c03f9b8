#include "conv.h"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <new>

#include "../cpu/gemm.h"
#include "error.h"
#include "im2col.h"
#include "layout.h"
#include "threads.h"

namespace cc {
namespace {

// Below this many multiply-adds a call runs on the calling thread: an OpenMP team costs more.
constexpr double kSerialMacs = 1 << 18;

std::unique_ptr<float[]> alloc_floats(int64_t n, const char* what) {
  float* p = new (std::nothrow) float[size_t(std::max<int64_t>(n, 1))];
  if (!p)
    throw Error(ErrorKind::Generic, codes::kOutOfMemory,
                std::string("could not allocate ") + std::to_string(n * 4) + " bytes for " + what);
  return std::unique_ptr<float[]>(p);
}

int64_t tile_floats(const ConvShape& s) {
  return s.is_pointwise() ? 0 : s.Cg * s.KH * s.KW * kColTile;
}

int plan_threads(const ConvShape& s, int requested) {
  if (s.macs() < kSerialMacs) return 1;
  const int64_t tiles = s.N * s.groups * ((s.OH * s.OW + kColTile - 1) / kColTile);
  return int(std::min<int64_t>(requested > 0 ? requested : default_threads(), tiles));
}

// x: [N, C, H, W], w: [K, Cg, KH, KW], y: [N, K, OH, OW]. Work is split into (image, group, column
// tile) tasks; each thread owns its im2col buffer, so no freshly written cache line is shared.
void conv2d_nchw(const ConvShape& s, const float* x, const float* w, const float* bias, float* y,
                 int threads) {
  const int64_t Kg = s.K / s.groups;         // output channels per group: GEMM M
  const int64_t Kd = s.Cg * s.KH * s.KW;     // GEMM K
  const int64_t P = s.OH * s.OW;             // output pixels: GEMM N
  const int64_t tiles = (P + kColTile - 1) / kColTile;
  const int64_t tasks = s.N * s.groups * tiles;
  const bool pointwise = s.is_pointwise();
  const int64_t per_thread = tile_floats(s);
  auto buf = alloc_floats(per_thread * threads, "im2col tiles");

  auto run = [&](int64_t task, float* col) {
    const int64_t t = task % tiles, ng = task / tiles, g = ng % s.groups, n = ng / s.groups;
    const int64_t p0 = t * kColTile, cols = std::min(kColTile, P - p0);
    const float* xg = x + (n * s.C + g * s.Cg) * s.H * s.W;
    const float* B;
    int64_t ldb;
    if (pointwise) {
      B = xg + p0;  // 1x1 stride-1 unpadded: the input plane already is B [Cg, H*W]
      ldb = s.H * s.W;
    } else {
      im2col_tile(s, xg, p0, cols, col);
      B = col;
      ldb = cols;
    }
    sgemm(Kg, cols, Kd, w + g * Kg * Kd, Kd, B, ldb, y + (n * s.K + g * Kg) * P + p0, P,
          bias ? bias + g * Kg : nullptr);
  };

  if (threads <= 1) {
    for (int64_t task = 0; task < tasks; ++task) run(task, buf.get());
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    float* col = buf.get() + per_thread * omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) run(task, col);
  }
}

}  // namespace

size_t workspace_bytes(const ConvShape& s, int threads) {
  const int nt = plan_threads(s, threads);
  int64_t floats = tile_floats(s) * nt;
  if (s.layout == Layout::NHWC) floats += s.input_elems() + s.output_elems();
  if (s.weight_layout == WeightLayout::HWIO) floats += s.weight_elems();
  return size_t(floats) * sizeof(float);
}

void conv2d(const ConvShape& s, const float* x, const float* w, const float* bias, float* y,
            const RunOptions& opt) {
  ThreadLease lease(plan_threads(s, opt.threads));
  std::unique_ptr<float[]> xt, wt, yt;
  if (s.weight_layout == WeightLayout::HWIO) {
    wt = alloc_floats(s.weight_elems(), "the OIHW weight copy");
    hwio_to_oihw(w, wt.get(), s.K, s.Cg, s.KH, s.KW);
    w = wt.get();
  }
  if (s.layout == Layout::NHWC) {
    xt = alloc_floats(s.input_elems(), "the NCHW input copy");
    yt = alloc_floats(s.output_elems(), "the NCHW output copy");
    nhwc_to_nchw(x, xt.get(), s.N, s.C, s.H, s.W);
    conv2d_nchw(s, xt.get(), w, bias, yt.get(), lease.count());
    nchw_to_nhwc(yt.get(), y, s.N, s.K, s.OH, s.OW);
    return;
  }
  conv2d_nchw(s, x, w, bias, y, lease.count());
}

}  // namespace cc
