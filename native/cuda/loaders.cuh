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

// ----- A --------------------------------------------------------------------------------------------

template <class AP>
struct ALoader;

template <>
struct ALoader<DenseA> {
  const float* A;
  int64_t M, Kd;
  bool vec;
  __device__ ALoader(const DenseA& a, int64_t, int64_t g, int64_t M_, int64_t Kd_)
      : A(a.A + g * M_ * Kd_), M(M_), Kd(Kd_), vec(a.vec) {}
  __device__ void load(int64_t m, int64_t k, float v[4]) const {
    if (m >= M) {
      v[0] = v[1] = v[2] = v[3] = 0.f;
      return;
    }
    const float* row = A + m * Kd;
    if (vec && k + 3 < Kd) {  // k is a multiple of 4 and so is Kd: 16-byte aligned
      const float4 t = __ldg(reinterpret_cast<const float4*>(row + k));
      v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) v[j] = k + j < Kd ? __ldg(row + k + j) : 0.f;
    }
  }
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
      v[0] = v[1] = v[2] = v[3] = 0.f;
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
struct BLoader<DenseB> {
  const float* base;
  int64_t ldb, N, Kd, n0;
  bool vec;
  __device__ BLoader(const DenseB& p, int64_t b, int64_t g, int64_t n0_, int64_t N_, int64_t Kd_)
      : base(p.B + b * p.img_stride + g * p.group_stride), ldb(p.ldb), N(N_), Kd(Kd_), n0(n0_), vec(p.vec) {}
  __device__ void load(int64_t k, float v[4]) const {
    if (k >= Kd) {
      v[0] = v[1] = v[2] = v[3] = 0.f;
      return;
    }
    const float* row = base + k * ldb;
    if (vec && n0 + 3 < N) {  // n0 is a multiple of 4 and so is ldb: 16-byte aligned
      const float4 t = __ldg(reinterpret_cast<const float4*>(row + n0));
      v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) v[j] = n0 + j < N ? __ldg(row + n0 + j) : 0.f;
    }
  }
};

// A column index past the end: every row reads it as padding.
constexpr int64_t kFar = -(int64_t(1) << 40);

template <>
struct BLoader<ImplicitB> {
  const float* base;  // first channel of the group in this image
  int64_t HW, H, W, KHW, KW, dh, dw, Kd;
  int64_t ih0[4], iw0[4];  // top-left input pixel of each of the thread's 4 output pixels
  __device__ BLoader(const ImplicitB& p, int64_t b, int64_t g, int64_t n0, int64_t N, int64_t Kd_)
      : base(p.x + (b * p.g.C + g * p.g.Cg) * p.g.H * p.g.W), HW(p.g.H * p.g.W), H(p.g.H), W(p.g.W),
        KHW(p.g.KH * p.g.KW), KW(p.g.KW), dh(p.g.dh), dw(p.g.dw), Kd(Kd_) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + j;
      if (n < N) {
        int64_t oh, ow;
        divmod32(n, p.g.OW, oh, ow);
        ih0[j] = oh * p.g.sh - p.g.pt;
        iw0[j] = ow * p.g.sw - p.g.pl;
      } else {
        ih0[j] = kFar;
        iw0[j] = 0;
      }
    }
  }
  __device__ void load(int64_t k, float v[4]) const {
    if (k >= Kd) {
      v[0] = v[1] = v[2] = v[3] = 0.f;
      return;
    }
    int64_t c, r, kh, kw;
    divmod32(k, KHW, c, r);
    divmod32(r, KW, kh, kw);
    const float* plane = base + c * HW;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t ih = ih0[j] + kh * dh, iw = iw0[j] + kw * dw;
      v[j] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? __ldg(plane + ih * W + iw) : 0.f;
    }
  }
};

template <>
struct BLoader<GradDataB> {
  const float* base;  // dy: first channel of the group in this image
  int64_t OHW, OH, OW, KHW, KW, sh, sw, dh, dw, Kd;
  int64_t th0[4], tw0[4];  // ih + pt, iw + pl of the thread's 4 input pixels
  __device__ BLoader(const GradDataB& p, int64_t b, int64_t g, int64_t n0, int64_t N, int64_t Kd_)
      : base(p.dy + (b * p.g.K + g * (p.g.K / p.g.groups)) * p.g.OH * p.g.OW), OHW(p.g.OH * p.g.OW),
        OH(p.g.OH), OW(p.g.OW), KHW(p.g.KH * p.g.KW), KW(p.g.KW), sh(p.g.sh), sw(p.g.sw), dh(p.g.dh),
        dw(p.g.dw), Kd(Kd_) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + j;
      if (n < N) {
        int64_t ih, iw;
        divmod32(n, p.g.W, ih, iw);
        th0[j] = ih + p.g.pt;
        tw0[j] = iw + p.g.pl;
      } else {
        th0[j] = kFar;
        tw0[j] = 0;
      }
    }
  }
  __device__ void load(int64_t k, float v[4]) const {
    if (k >= Kd) {
      v[0] = v[1] = v[2] = v[3] = 0.f;
      return;
    }
    int64_t kc, r, kh, kw;
    divmod32(k, KHW, kc, r);
    divmod32(r, KW, kh, kw);
    const float* plane = base + kc * OHW;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      // The output pixel whose window puts tap (kh, kw) on this input pixel, if the stride lands on it.
      const int64_t th = th0[j] - kh * dh, tw = tw0[j] - kw * dw;
      float x = 0.f;
      if (th >= 0 && tw >= 0) {
        int64_t oh, rh, ow, rw;
        divmod32(th, sh, oh, rh);
        divmod32(tw, sw, ow, rw);
        if (rh == 0 && rw == 0 && oh < OH && ow < OW) x = __ldg(plane + oh * OW + ow);
      }
      v[j] = x;
    }
  }
};

template <>
struct BLoader<WeightGradB> {
  const float* x;  // first channel of the group in image 0
  int64_t CHW, W, H, OW, OHW, sh, sw, pt, pl, total, k0, Kd;
  int64_t off[4], dh[4], dw[4];  // per column (c, kh, kw): c*H*W, kh*dh, kw*dw
  __device__ BLoader(const WeightGradB& p, int64_t b, int64_t g, int64_t n0, int64_t N, int64_t Kd_)
      : x(p.x + g * p.g.Cg * p.g.H * p.g.W), CHW(p.g.C * p.g.H * p.g.W), W(p.g.W), H(p.g.H), OW(p.g.OW),
        OHW(p.g.OH * p.g.OW), sh(p.g.sh), sw(p.g.sw), pt(p.g.pt), pl(p.g.pl), total(p.total), k0(b * p.chunk),
        Kd(Kd_) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + j;
      if (n < N) {
        int64_t c, r, kh, kw;
        divmod32(n, p.g.KH * p.g.KW, c, r);
        divmod32(r, p.g.KW, kh, kw);
        off[j] = c * p.g.H * p.g.W;
        dh[j] = kh * p.g.dh;
        dw[j] = kw * p.g.dw;
      } else {
        off[j] = 0;
        dh[j] = kFar;
        dw[j] = 0;
      }
    }
  }
  __device__ void load(int64_t k, float v[4]) const {
    const int64_t t = k0 + k;
    if (k >= Kd || t >= total) {
      v[0] = v[1] = v[2] = v[3] = 0.f;
      return;
    }
    int64_t n, pix, oh, ow;
    divmod32(t, OHW, n, pix);
    divmod32(pix, OW, oh, ow);
    const float* img = x + n * CHW;
    const int64_t ih0 = oh * sh - pt, iw0 = ow * sw - pl;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t ih = ih0 + dh[j], iw = iw0 + dw[j];
      v[j] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? __ldg(img + off[j] + ih * W + iw) : 0.f;
    }
  }
};

// The grid of a GEMM launch with BM x BN tiles: N tiles, M tiles, batches * groups (clamped; the
// kernels loop over the rest).
inline dim3 gemm_grid(const GemmProblem& p, int bm, int bn) {
  return dim3(clamp_grid(ceil_div(p.N, bn), 0x7fffffff), clamp_grid(ceil_div(p.M, bm)), clamp_grid(p.batches * p.groups));
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
