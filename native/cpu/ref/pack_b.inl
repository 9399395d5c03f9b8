// im2col fused into B packing, included by each kernel file inside its anonymous namespace so it is
// compiled with that file's ISA flags: the one B packer, written once. The includer includes ops.h
// (imin/imax) and defines three primitives for one panel segment of n <= NR floats:
//   pb_zero(d, n), pb_copy(d, s, n) (contiguous source), pb_gather(d, s, inc, n) (strided source)
// (lane_pack.inl writes the first two for vectors with scalar tails).
// Nothing here may be an inline function with external linkage (the ISA flags must not leak).
// The traversal (pack_panels.inl) is a template over the element source, shared with the bf16 packer
// (gemm_bf16.inl: an element holds two channels).

#include "pack_panels.inl"

// fp32: an element of B is one channel's value.
struct OneChannel {
  using E = float;
  const float* x;  // the channel
  static OneChannel at(const PackGeom& g, int64_t c) { return {g.x + c * g.cs}; }
  static void zero(float* d, int n) { pb_zero(d, n); }
  void copy(float* d, int64_t off, int n) const { pb_copy(d, x + off, n); }
  void gather(float* d, int64_t off, int64_t inc, int n) const { pb_gather(d, x + off, inc, n); }
  void prefetch(int64_t off) const { __builtin_prefetch(x + off, 0, 3); }
};

void pack_b(const PackGeom& g, int64_t k0, int64_t kcb, int64_t q0, int64_t ncols, int nr, float* dst) {
  pack_b_t<OneChannel>(g, k0, kcb, q0, ncols, nr, dst);
}
