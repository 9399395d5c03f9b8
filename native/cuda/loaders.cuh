// Device-side helpers of the kernel files: the per-thread tile loaders of the GEMM kernels (the
// operands are described in kernels.cuh), their launch grid, and backward-data's walk over the taps
// that reach one input pixel (col2im, the depthwise kernel).
// A: ALoader(a, batch, group, M, Kd).load(m, k, v) fetches A[m][k..k+3], zero outside the matrix.
// B: each thread owns 4 consecutive columns n0..n0+3 of the B tile (fixed for the whole K loop, so
// their decomposition is done once): BLoader(b, batch, group, n0, N, Kd).load(k, v) fetches them for
// row k, zero outside the matrix.
#pragma once
#include <cstdint>

#include "common.cuh"
#include "kernels.cuh"

namespace cc {
namespace cuda {

// 32-bit division and remainder: the loaders' indices stay below 2^31 (every tensor has fewer
// elements, checked by the resolver), and a 64-bit divide costs several times more, per K step.
__device__ inline void divmod32(int64_t a, int64_t b, int64_t& q, int64_t& r) {
  const uint32_t qa = uint32_t(a) / uint32_t(b);
  q = qa;
  r = a - int64_t(qa) * b;
}

__device__ inline void zero4(float v[4]) { v[0] = v[1] = v[2] = v[3] = 0.f; }

// Index k of a gathered K (or N) dimension as a tap: channel c, kernel row kh, kernel column kw.
struct Tap {
  int64_t c, kh, kw;
};
__device__ inline Tap tap_of(int64_t k, int64_t KHW, int64_t KW) {
  Tap t;
  int64_t r;
  divmod32(k, KHW, t.c, r);
  divmod32(r, KW, t.kh, t.kw);
  return t;
}

// Pixel (h, w) of an H x W plane, 0 outside it (the padding).
__device__ inline float at_or_zero(const float* plane, int64_t h, int64_t w, int64_t H, int64_t W) {
  return (h >= 0 && h < H && w >= 0 && w < W) ? __ldg(plane + h * W + w) : 0.f;
}

// A B loader's per-column state, for the thread's 4 columns n0..n0+3: col(n) inside [0, N), `far`
// past it.
template <class C, class F>
__device__ inline void columns(C (&c)[4], int64_t n0, int64_t N, const C& far, F col) {
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    if (n0 + j < N) c[j] = col(n0 + j);
    else c[j] = far;
  }
}

// A coordinate past the end: every tap reads it as padding.
constexpr int64_t kFar = -(int64_t(1) << 40);

// ----- A --------------------------------------------------------------------------------------------

template <class AP>
struct ALoader;

// A dense matrix read 4 consecutive elements of a row at a time: load(r, c, v) = row r's elements
// c..c+3, zero outside the matrix; one float4 load when vec (c and ld multiples of 4, base 16-byte
// aligned) and all four lie inside. DenseA and DenseB derive from it rather than call a helper from
// their load(): one more inline level changed what NVVM hoists out of the GEMMs' K loops.
struct DenseRows {
  const float* base;
  int64_t ld, rows, cols;
  bool vec;
  __device__ void load(int64_t r, int64_t c, float v[4]) const {
    if (r >= rows) return zero4(v);
    const float* row = base + r * ld;
    if (vec && c + 3 < cols) {
      const float4 t = __ldg(reinterpret_cast<const float4*>(row + c));
      v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) v[j] = c + j < cols ? __ldg(row + c + j) : 0.f;
    }
  }
};

template <>
struct ALoader<DenseA> : DenseRows {
  __device__ ALoader(const DenseA& a, int64_t, int64_t g, int64_t M, int64_t Kd)
      : DenseRows{a.A + g * M * Kd, Kd, M, Kd, a.vec} {}
};

template <>
struct ALoader<GradOutA> {
  const float* dy;  // channel g*M of image 0
  int64_t M, Kd, Cout, OHW, total, k0;
  bool vec;
  __device__ ALoader(const GradOutA& a, int64_t b, int64_t g, int64_t M_, int64_t Kd_)
      : dy(a.dy + g * M_ * a.OHW), M(M_), Kd(Kd_), Cout(a.Cout), OHW(a.OHW), total(a.total), k0(b * a.chunk),
        vec(a.vec) {}
  __device__ void load(int64_t m, int64_t k, float v[4]) const {
    const int64_t t = k0 + k;  // (n, p) of the first of the 4
    int64_t n, p;
    divmod32(t, OHW, n, p);
    if (m >= M) {
      zero4(v);
    } else if (vec && k + 3 < Kd && t + 3 < total) {  // t, p and OHW multiples of 4: one image, aligned
      const float4 q = __ldg(reinterpret_cast<const float4*>(dy + (n * Cout + m) * OHW + p));
      v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        v[j] = k + j < Kd && t + j < total ? __ldg(dy + (n * Cout + m) * OHW + p) : 0.f;
        if (++p == OHW) p = 0, ++n;
      }
    }
  }
};

// ----- B --------------------------------------------------------------------------------------------

template <class BP>
struct BLoader;

template <>
struct BLoader<DenseB> : DenseRows {
  int64_t n0;
  __device__ BLoader(const DenseB& p, int64_t b, int64_t g, int64_t n0_, int64_t N, int64_t Kd)
      : DenseRows{p.B + b * p.img_stride + g * p.group_stride, p.ldb, Kd, N, p.vec}, n0(n0_) {}
  __device__ void load(int64_t k, float v[4]) const { DenseRows::load(k, n0, v); }
};

// The gathering B loaders with a channel plane per row k = (c, kh, kw) and a pixel per column, each
// column's origin pixel decomposed once: forward (ImplicitB) and backward-data (GradDataB).
// L::at(plane, origin, tap) reads one value.
struct Pixel {
  int64_t h, w;
};
template <class L>
struct PlaneTaps {
  const float* base;  // channel 0 of the group in this image
  int64_t plane, KHW, KW, Kd;
  Pixel o[4];
  __device__ PlaneTaps(const float* base_, int64_t plane_, const Geometry& g, int64_t Kd_)
      : base(base_), plane(plane_), KHW(g.KH * g.KW), KW(g.KW), Kd(Kd_) {}
  __device__ void load(int64_t k, float v[4]) const {
    if (k >= Kd) return zero4(v);
    const Tap t = tap_of(k, KHW, KW);
    const float* p = base + t.c * plane;
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = static_cast<const L*>(this)->at(p, o[j], t);
  }
};

// Forward: column n = output pixel (oh, ow), origin = its window's top-left input pixel.
template <>
struct BLoader<ImplicitB> : PlaneTaps<BLoader<ImplicitB>> {
  int64_t H, W, dh, dw;
  __device__ BLoader(const ImplicitB& p, int64_t b, int64_t g, int64_t n0, int64_t N, int64_t Kd_)
      : PlaneTaps(p.x + (b * p.g.C + g * p.g.Cg) * p.g.H * p.g.W, p.g.H * p.g.W, p.g, Kd_), H(p.g.H), W(p.g.W),
        dh(p.g.dh), dw(p.g.dw) {
    columns(o, n0, N, Pixel{kFar, 0}, [&](int64_t n) {
      int64_t oh, ow;
      divmod32(n, p.g.OW, oh, ow);
      return Pixel{oh * p.g.sh - p.g.pt, ow * p.g.sw - p.g.pl};
    });
  }
  __device__ float at(const float* x, Pixel o, Tap t) const {
    return at_or_zero(x, o.h + t.kh * dh, o.w + t.kw * dw, H, W);
  }
};

// Backward-data: column n = input pixel (ih, iw), origin = (ih + pt, iw + pl).
template <>
struct BLoader<GradDataB> : PlaneTaps<BLoader<GradDataB>> {
  int64_t OH, OW, sh, sw, dh, dw;
  __device__ BLoader(const GradDataB& p, int64_t b, int64_t g, int64_t n0, int64_t N, int64_t Kd_)
      : PlaneTaps(p.dy + (b * p.g.K + g * (p.g.K / p.g.groups)) * p.g.OH * p.g.OW, p.g.OH * p.g.OW, p.g, Kd_),
        OH(p.g.OH), OW(p.g.OW), sh(p.g.sh), sw(p.g.sw), dh(p.g.dh), dw(p.g.dw) {
    columns(o, n0, N, Pixel{kFar, 0}, [&](int64_t n) {
      int64_t ih, iw;
      divmod32(n, p.g.W, ih, iw);
      return Pixel{ih + p.g.pt, iw + p.g.pl};
    });
  }
  // The output pixel whose window puts tap (kh, kw) on this input pixel, if the stride lands on it.
  __device__ float at(const float* dy, Pixel o, Tap t) const {
    const int64_t th = o.h - t.kh * dh, tw = o.w - t.kw * dw;
    float x = 0.f;
    if (th >= 0 && tw >= 0) {
      int64_t oh, rh, ow, rw;
      divmod32(th, sh, oh, rh);
      divmod32(tw, sw, ow, rw);
      if (rh == 0 && rw == 0 && oh < OH && ow < OW) x = __ldg(dy + oh * OW + ow);
    }
    return x;
  }
};

// Backward-weights: column n = tap (c, kh, kw), row k = pixel (n, oh, ow) of the chunk.
template <>
struct BLoader<WeightGradB> {
  struct Column {
    int64_t off, dh, dw;  // c*H*W, kh*dh, kw*dw
  };
  const float* x;  // first channel of the group in image 0
  int64_t CHW, W, H, OW, OHW, sh, sw, pt, pl, total, k0, Kd;
  Column col[4];
  __device__ BLoader(const WeightGradB& p, int64_t b, int64_t g, int64_t n0, int64_t N, int64_t Kd_)
      : x(p.x + g * p.g.Cg * p.g.H * p.g.W), CHW(p.g.C * p.g.H * p.g.W), W(p.g.W), H(p.g.H), OW(p.g.OW),
        OHW(p.g.OH * p.g.OW), sh(p.g.sh), sw(p.g.sw), pt(p.g.pt), pl(p.g.pl), total(p.total), k0(b * p.chunk),
        Kd(Kd_) {
    columns(col, n0, N, Column{0, kFar, 0}, [&](int64_t n) {
      const Tap t = tap_of(n, p.g.KH * p.g.KW, p.g.KW);
      return Column{t.c * p.g.H * p.g.W, t.kh * p.g.dh, t.kw * p.g.dw};
    });
  }
  __device__ void load(int64_t k, float v[4]) const {
    const int64_t t = k0 + k;
    if (k >= Kd || t >= total) return zero4(v);
    int64_t n, pix, oh, ow;
    divmod32(t, OHW, n, pix);
    divmod32(pix, OW, oh, ow);
    const float* img = x + n * CHW;
    const int64_t ih0 = oh * sh - pt, iw0 = ow * sw - pl;
#pragma unroll
    for (int j = 0; j < 4; ++j)
      v[j] = at_or_zero(img + col[j].off, ih0 + col[j].dh, iw0 + col[j].dw, H, W);
  }
};

// Launches a GEMM kernel with BM x BN block tiles: grid N tiles, M tiles, batches * groups (clamped;
// the kernels loop over the rest).
template <int BM, int BN, int THREADS, class AP, class BP>
void launch_gemm(void (*kernel)(GemmProblem, AP, BP), const GemmProblem& p, const AP& a, const BP& b, cudaStream_t s) {
  const dim3 grid(clamp_grid(ceil_div(p.N, BN), 0x7fffffff), clamp_grid(ceil_div(p.M, BM)),
                  clamp_grid(p.batches * p.groups));
  CC_LAUNCH(kernel, grid, THREADS, 0, s)(p, a, b);
  CC_CUDA_LAUNCH_CHECK("gemm kernel");
}

// Backward-data as a gather: calls f(kh, kw, oh, ow) for every tap (kh, kw) whose output pixel
// (oh, ow) reads the input pixel (th0 - pt, tw0 - pl), in (kh, kw) order.
template <class F>
__device__ inline void for_each_tap(const Geometry& g, int64_t th0, int64_t tw0, F f) {
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t th = th0 - kh * g.dh;
    if (th < 0 || th % g.sh != 0 || th / g.sh >= g.OH) continue;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t tw = tw0 - kw * g.dw;
      if (tw < 0 || tw % g.sw != 0 || tw / g.sw >= g.OW) continue;
      f(kh, kw, th / g.sh, tw / g.sw);
    }
  }
}

// Epilogue for 4 consecutive outputs of one row: bias, relu, store (float4 when aligned and whole).
__device__ inline void store4(float* row, int64_t n, int64_t N, bool vec, float bias, bool relu, float v[4]) {
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    v[j] += bias;
    if (relu && v[j] < 0.f) v[j] = 0.f;  // NaN passes through, as in PyTorch
  }
  if (vec && n + 3 < N) {
    *reinterpret_cast<float4*>(row + n) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (n + j < N) row[n + j] = v[j];
  }
}

}  // namespace cuda
}  // namespace cc
