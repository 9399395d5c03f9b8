// Per-thread tile loaders for the GEMM kernels. Each thread owns 4 consecutive columns n0..n0+3 of
// the B tile (fixed for the whole K loop, so their (oh, ow) decomposition is done once) and fetches
// them for one row k at a time, zero-filled outside the matrix.
#pragma once
#include <cstdint>

#include "kernels.cuh"

namespace cc {
namespace cuda {

template <class BP>
struct BLoader;

template <>
struct BLoader<DenseB> {
  const float* base;
  int64_t ldb, N, Kd, n0;
  bool vec;
  __device__ BLoader(const DenseB& p, int64_t img, int64_t g, int64_t n0_, int64_t N_, int64_t Kd_)
      : base(p.B + img * p.img_stride + g * p.group_stride), ldb(p.ldb), N(N_), Kd(Kd_), n0(n0_), vec(p.vec) {}
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

template <>
struct BLoader<ImplicitB> {
  const float* base;  // first channel of the group in this image
  int64_t HW, H, W, KHW, KW, dh, dw, Kd;
  int64_t ih0[4], iw0[4];  // top-left input pixel of each of the thread's 4 output pixels
  __device__ BLoader(const ImplicitB& p, int64_t img, int64_t g, int64_t n0, int64_t N, int64_t Kd_)
      : base(p.x + (img * p.C + g * p.Cg) * p.H * p.W), HW(p.H * p.W), H(p.H), W(p.W), KHW(p.KH * p.KW),
        KW(p.KW), dh(p.dh), dw(p.dw), Kd(Kd_) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + j;
      if (n < N) {
        const int64_t oh = n / p.OW, ow = n - oh * p.OW;
        ih0[j] = oh * p.sh - p.pt;
        iw0[j] = ow * p.sw - p.pl;
      } else {
        ih0[j] = -(int64_t(1) << 40);  // past the end: every row reads as padding
        iw0[j] = 0;
      }
    }
  }
  __device__ void load(int64_t k, float v[4]) const {
    if (k >= Kd) {
      v[0] = v[1] = v[2] = v[3] = 0.f;
      return;
    }
    // 32-bit division (k < Kd <= 2^31 - 1): a 64-bit divide costs several times more, per K step.
    const uint32_t ku = uint32_t(k), khw = uint32_t(KHW), kwu = uint32_t(KW);
    const uint32_t cu = ku / khw, r = ku - cu * khw, khu = r / kwu;
    const int64_t c = cu, kh = khu, kw = r - khu * kwu;
    const float* plane = base + c * HW;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t ih = ih0[j] + kh * dh, iw = iw0[j] + kw * dw;
      v[j] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? __ldg(plane + ih * W + iw) : 0.f;
    }
  }
};

// Row m, columns k..k+3 of A (the weight slice), zero-filled outside.
__device__ inline void load_a4(const float* A, int64_t M, int64_t Kd, bool vec, int64_t m, int64_t k, float v[4]) {
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
