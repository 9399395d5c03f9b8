// libFuzzer harness over the native planner (cc::make_shape, cc::workspace_bytes) and the CPU conv
// (cc::conv2d), checked against the float64 oracle (cc::conv2d_reference). Built with clang
// -fsanitize=fuzzer,address,undefined by scripts/fuzz.sh; corpus in native/fuzz/corpus/.
//
// Input bytes: [mode] then parameters, then bytes that seed the tensor values.
//   mode % 4 == 0: planner only, with boundary and raw 64-bit values (overflow, limits, codes).
//   otherwise:     a small convolution (every option), run and compared with the reference; the
//                  same call twice must give bit-identical output.
// Any failed check calls __builtin_trap() so libFuzzer records the input as a crash.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/conv.h"
#include "core/error.h"
#include "core/reference.h"
#include "core/shape.h"

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_conv check failed: %s\n", what.c_str());
  __builtin_trap();
}

struct Bytes {
  const uint8_t* p;
  size_t n, i = 0;
  uint8_t u8() { return i < n ? p[i++] : 0; }
  int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(u8() % uint64_t(hi - lo + 1)); }
  int64_t wide() {  // a boundary value most of the time, raw 64 bits otherwise
    static const int64_t edge[] = {std::numeric_limits<int64_t>::min(), -(int64_t{1} << 31), -1, 0, 1, 2, 3, 7,
                                   255, 256, 257, 65535, 65536, (int64_t{1} << 31) - 2, (int64_t{1} << 31) - 1,
                                   int64_t{1} << 31, int64_t{1} << 32, (int64_t{1} << 53) + 1, int64_t{1} << 62,
                                   std::numeric_limits<int64_t>::max()};
    const uint8_t sel = u8();
    if (sel < 200) return edge[sel % (sizeof edge / sizeof edge[0])];
    uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | u8();
    return int64_t(v);
  }
};

bool known_code(const std::string& c) {
  for (const char* k : {cc::codes::kInvalidType, cc::codes::kInvalidShape, cc::codes::kChannelMismatch,
                        cc::codes::kInvalidGroups, cc::codes::kInvalidOption, cc::codes::kEmptyOutput,
                        cc::codes::kTooLarge})
    if (c == k) return true;
  return false;
}

// Output size from the definition, in 128-bit arithmetic (independent of shape.cpp's int64 code).
int64_t expected_out(int64_t in, int64_t pb, int64_t pa, int64_t k, int64_t s, int64_t d) {
  const __int128 padded = (__int128)in + pb + pa, span = (__int128)d * (k - 1) + 1;
  return padded < span ? 0 : int64_t((padded - span) / s + 1);
}

void planner_only(Bytes& b) {
  cc::ConvDesc d;
  int64_t* fields[] = {&d.N, &d.C, &d.H, &d.W, &d.K, &d.Cg, &d.KH, &d.KW, &d.stride_h, &d.stride_w,
                       &d.dil_h, &d.dil_w, &d.pad_t, &d.pad_b, &d.pad_l, &d.pad_r, &d.groups};
  // Start from a valid small request and overwrite a few fields with wide values.
  d.C = 4; d.Cg = 4; d.K = 4; d.H = d.W = 8; d.KH = d.KW = 3;
  const int changes = b.range(1, 6);
  for (int k = 0; k < changes; ++k) *fields[b.u8() % (sizeof fields / sizeof fields[0])] = b.wide();
  d.pad_mode = cc::PadMode(b.range(0, 3));
  d.layout = b.u8() & 1 ? cc::Layout::NHWC : cc::Layout::NCHW;
  d.weight_layout = b.u8() & 1 ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
  cc::ConvShape s;
  try {
    s = cc::make_shape(d);
  } catch (const cc::Error& e) {
    if (!known_code(e.code())) fail("unexpected error code " + e.code());
    if (std::strlen(e.what()) < 10) fail("error message too short: " + std::string(e.what()));
    return;
  } catch (...) {
    fail("make_shape threw something other than cc::Error");
  }
  // Accepted: every invariant the allocator and kernels rely on must hold.
  const int64_t lim = cc::kMaxTensorElements;
  for (int64_t v : {s.N, s.C, s.H, s.W, s.K, s.Cg, s.KH, s.KW, s.stride_h, s.stride_w, s.dil_h, s.dil_w, s.groups})
    if (v < 1 || v > lim) fail("accepted an out-of-range dimension or option: " + cc::describe(s));
  for (int64_t v : {s.pad_t, s.pad_b, s.pad_l, s.pad_r})
    if (v < 0 || v > lim) fail("accepted an out-of-range padding: " + cc::describe(s));
  if (s.Cg * s.groups != s.C || s.K % s.groups != 0) fail("accepted a channel/group mismatch: " + cc::describe(s));
  if (s.OH != expected_out(s.H, s.pad_t, s.pad_b, s.KH, s.stride_h, s.dil_h) ||
      s.OW != expected_out(s.W, s.pad_l, s.pad_r, s.KW, s.stride_w, s.dil_w) || s.OH < 1 || s.OW < 1)
    fail("wrong output size: " + cc::describe(s));
  for (__int128 count : {(__int128)s.N * s.C * s.H * s.W, (__int128)s.K * s.Cg * s.KH * s.KW,
                         (__int128)s.N * s.K * s.OH * s.OW})
    if (count > lim) fail("accepted a tensor past the element limit: " + cc::describe(s));
  for (int threads : {0, 1, 2, 1024}) (void)cc::workspace_bytes(s, threads);
}

void small_conv(Bytes& b) {
  cc::ConvDesc d;
  d.groups = b.range(1, 4);
  d.Cg = b.range(1, 5);
  d.C = d.Cg * d.groups;
  d.K = d.groups * b.range(1, 6);
  d.N = b.range(1, 3);
  d.H = b.range(1, 20);
  d.W = b.range(1, 20);
  d.KH = b.range(1, 7);
  d.KW = b.range(1, 7);
  d.stride_h = b.range(1, 4);
  d.stride_w = b.range(1, 4);
  d.dil_h = b.range(1, 3);
  d.dil_w = b.range(1, 3);
  d.pad_mode = cc::PadMode(b.range(0, 3));
  d.pad_t = b.range(0, 4); d.pad_b = b.range(0, 4); d.pad_l = b.range(0, 4); d.pad_r = b.range(0, 4);
  const uint8_t flags = b.u8();
  d.layout = flags & 1 ? cc::Layout::NHWC : cc::Layout::NCHW;
  d.weight_layout = flags & 2 ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
  const bool with_bias = flags & 4;
  cc::RunOptions run;
  run.threads = b.range(0, 3);
  cc::ConvShape s;
  try {
    s = cc::make_shape(d);
  } catch (const cc::Error& e) {
    if (e.code() != cc::codes::kEmptyOutput) fail("small valid request refused: " + e.code() + " " + e.what());
    return;
  }
  // Tensor values from an xorshift seeded by the rest of the input: in [-1, 1].
  uint64_t st = 0x9e3779b97f4a7c15ULL;
  while (b.i < b.n) st = (st ^ b.u8()) * 0x100000001b3ULL;
  auto next = [&st]() {
    st ^= st << 13; st ^= st >> 7; st ^= st << 17;
    return float(int64_t(st >> 40) - (int64_t{1} << 23)) / float(1 << 23);
  };
  // Exact-size heap vectors: ASan reports any read or write past their ends.
  std::vector<float> x(s.input_elems()), w(s.weight_elems()), bias(s.K);
  for (auto& v : x) v = next();
  for (auto& v : w) v = next();
  for (auto& v : bias) v = next();
  const float* bp = with_bias ? bias.data() : nullptr;
  std::vector<double> ref(s.output_elems());
  cc::conv2d_reference(s, x.data(), w.data(), bp, ref.data());
  std::vector<float> y(s.output_elems(), std::numeric_limits<float>::quiet_NaN());
  cc::conv2d(s, x.data(), w.data(), bp, y.data(), run);
  double scale = 1.0, err = 0.0;
  for (double r : ref) scale = std::max(scale, std::fabs(r));
  for (size_t i = 0; i < y.size(); ++i) {
    const double e = std::fabs(double(y[i]) - ref[i]);
    if (!(e <= 1e-4 * scale)) {
      char m[128];
      std::snprintf(m, sizeof m, " threads=%d: y[%zu] = %g, reference %g", run.threads, i, double(y[i]), ref[i]);
      fail("conv differs from the reference: " + cc::describe(s) + m);
    }
    err = std::max(err, e);
  }
  std::vector<float> y2(s.output_elems(), std::numeric_limits<float>::quiet_NaN());
  cc::conv2d(s, x.data(), w.data(), bp, y2.data(), run);
  if (std::memcmp(y.data(), y2.data(), y.size() * sizeof(float)) != 0)
    fail("same inputs and threads gave different bits: " + cc::describe(s));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes b{data, size};
  if (b.u8() % 4 == 0) planner_only(b);
  else small_conv(b);
  return 0;
}
