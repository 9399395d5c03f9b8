// libFuzzer harness over the native resolver and planner (cc::resolve, cc::plan) and the CPU
// algorithms (cc::compute), checked against the float64 oracle (cc::conv2d_reference). Built with
// clang -fsanitize=fuzzer,address,undefined by scripts/fuzz.sh; corpus in native/fuzz/corpus/.
//
// Input bytes: [mode] then parameters, then bytes that seed the tensor values.
//   mode % 4 == 0: resolver and planner only, convolutions and transposed convolutions, with
//                  boundary and raw 64-bit values (overflow, limits, codes).
//   otherwise:     a small convolution in any direction (forward, backward-data, backward-weights
//                  with the bias gradient, a transposed convolution with outputPadding; every
//                  option, every algorithm of its direction that can run it), run and compared with
//                  the reference; the same call twice must give bit-identical output.
// Any failed check calls __builtin_trap() so libFuzzer records the input as a crash.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/plan.h"
#include "core/problem.h"
#include "core/reference.h"
#include "core/registry.h"

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
  cc::ConvRequest r;
  cc::set_sizes(r, 1, 4, 8, 8, 4, 3, 3);
  r.op = b.u8() & 1 ? cc::Op::Transpose : cc::Op::Conv;
  r.direction = cc::Direction(b.range(0, 2));
  int64_t* fields[] = {&r.input[0], &r.input[1], &r.input[2], &r.input[3], &r.weight[0], &r.weight[1],
                       &r.weight[2], &r.weight[3], &r.stride[0], &r.stride[1], &r.dilation[0], &r.dilation[1],
                       &r.pad[0], &r.pad[1], &r.pad[2], &r.pad[3], &r.groups, &r.output_padding[0],
                       &r.output_padding[1]};
  // Start from a valid small request and overwrite a few fields with wide values.
  const int changes = b.range(1, 6);
  for (int k = 0; k < changes; ++k) *fields[b.u8() % (sizeof fields / sizeof fields[0])] = b.wide();
  r.rank = b.u8() & 1 ? 3 : 4;
  r.pad_mode = cc::PadMode(b.range(0, 3));
  r.layout = b.u8() & 1 ? cc::Layout::NHWC : cc::Layout::NCHW;
  r.weight_layout = b.u8() & 1 ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
  cc::ConvProblem s;
  try {
    s = cc::resolve(r);
  } catch (const cc::Error& e) {
    if (!known_code(e.code())) fail("unexpected error code " + e.code());
    if (std::strlen(e.what()) < 10) fail("error message too short: " + std::string(e.what()));
    return;
  } catch (...) {
    fail("resolve threw something other than cc::Error");
  }
  // Accepted: every invariant the allocator and kernels rely on must hold.
  const int64_t lim = cc::kMaxTensorElements;
  for (int64_t v : {s.N, s.Cin, s.H, s.W, s.Cout, s.Cg, s.KH, s.KW, s.stride_h, s.stride_w, s.dil_h, s.dil_w, s.groups,
                    s.OH, s.OW})
    if (v < 1 || v > lim) fail("accepted an out-of-range dimension or option: " + cc::describe(s));
  for (int64_t v : {s.pad_t, s.pad_b, s.pad_l, s.pad_r})
    if (v < 0 || v > lim) fail("accepted an out-of-range padding: " + cc::describe(s));
  if (s.Cg * s.groups != s.Cin || s.Cout % s.groups != 0) fail("accepted a channel/group mismatch: " + cc::describe(s));
  const int64_t oh = expected_out(s.H, s.pad_t, s.pad_b, s.KH, s.stride_h, s.dil_h);
  const int64_t ow = expected_out(s.W, s.pad_l, s.pad_r, s.KW, s.stride_w, s.dil_w);
  // A forward (or backward) problem has exactly the rows the padded input gives; a transposed one
  // may have fewer (outputPadding below the dilation), never more.
  const bool exact = r.op == cc::Op::Conv;
  if ((exact && (s.OH != oh || s.OW != ow)) || s.OH > oh || s.OW > ow) fail("wrong output size: " + cc::describe(s));
  for (__int128 count : {(__int128)s.N * s.Cin * s.H * s.W, (__int128)s.Cout * s.Cg * s.KH * s.KW,
                         (__int128)s.N * s.Cout * s.OH * s.OW})
    if (count > lim) fail("accepted a tensor past the element limit: " + cc::describe(s));
  const auto& names = cc::algorithm_names();
  // Every direction with an entry in the registry must have one that plans the problem ('auto').
  size_t n = 0;
  bool has_entry = false;
  const cc::Algorithm* const* list = cc::algorithms(&n);
  for (size_t i = 0; i < n; ++i) has_entry = has_entry || list[i]->direction == s.direction;
  for (int threads : {0, 1, 2, 1024})
    for (int a = -1; a < int(names.size()); ++a) {
      cc::PlanOptions o;
      o.threads = threads;
      o.algorithm = a;
      try {
        (void)cc::plan(s, o);
      } catch (const cc::Error& e) {
        if ((a < 0 && has_entry) || e.code() != cc::codes::kInvalidOption) fail("plan failed: " + e.code() + " " + e.what());
      }
    }
}

void small_conv(Bytes& b) {
  cc::ConvRequest r;
  r.groups = b.range(1, 4);
  const int64_t Cg = b.range(1, 5), K = r.groups * b.range(1, 6);
  const int64_t N = b.range(1, 3), H = b.range(1, 20), W = b.range(1, 20), KH = b.range(1, 7), KW = b.range(1, 7);
  r.stride[0] = b.range(1, 4);
  r.stride[1] = b.range(1, 4);
  r.dilation[0] = b.range(1, 3);
  r.dilation[1] = b.range(1, 3);
  r.pad_mode = cc::PadMode(b.range(0, 3));
  for (auto& p : r.pad) p = b.range(0, 4);
  const uint8_t flags = b.u8();
  r.layout = flags & 1 ? cc::Layout::NHWC : cc::Layout::NCHW;
  r.weight_layout = flags & 2 ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
  r.epilogue.bias = flags & 4;
  r.epilogue.act = flags & 8 ? cc::Activation::Relu : cc::Activation::None;
  // Direction: bits 4-5 (0, 1: forward); bit 6 makes backward-data a transposed convolution.
  const int dir = (flags >> 4) & 3;
  if (dir == 2) r.direction = cc::Direction::BackwardData;
  if (dir == 3) {
    r.direction = cc::Direction::BackwardWeights;
    r.epilogue.act = cc::Activation::None;  // the bias flag asks for the bias gradient
  }
  if (dir == 2 && (flags & 64)) {
    r.op = cc::Op::Transpose;
    for (int a = 0; a < 2; ++a) r.output_padding[a] = b.range(0, std::max(r.stride[a], r.dilation[a]) - 1);
    if (r.pad_mode == cc::PadMode::SameUpper || r.pad_mode == cc::PadMode::SameLower) r.output_padding[0] = r.output_padding[1] = 0;
  }
  cc::PlanOptions run;
  run.threads = int(b.range(0, 3));
  const auto& names = cc::algorithm_names();
  run.algorithm = int(b.range(-1, int64_t(names.size()) - 1));
  cc::set_sizes(r, N, Cg * r.groups, H, W, K, KH, KW);
  cc::ConvProblem s;
  try {
    s = cc::resolve(r);
  } catch (const cc::Error& e) {
    if (e.code() != cc::codes::kEmptyOutput) fail("small valid request refused: " + e.code() + " " + e.what());
    return;
  }
  try {
    (void)cc::plan(s, run);
  } catch (const cc::Error& e) {
    if (run.algorithm < 0 || e.code() != cc::codes::kInvalidOption) fail("plan failed: " + e.code() + " " + e.what());
    return;  // that algorithm cannot run this problem
  }
  // Tensor values from an xorshift seeded by the rest of the input: in [-1, 1].
  uint64_t st = 0x9e3779b97f4a7c15ULL;
  while (b.i < b.n) st = (st ^ b.u8()) * 0x100000001b3ULL;
  auto next = [&st]() {
    st ^= st << 13; st ^= st >> 7; st ^= st << 17;
    return float(int64_t(st >> 40) - (int64_t{1} << 23)) / float(1 << 23);
  };
  // Exact-size heap vectors: ASan reports any read or write past their ends.
  std::vector<float> x(s.x_elems()), w(s.w_elems()), dy(s.y_elems()), bias(s.bias_elems());
  for (auto* v : {&x, &w, &dy, &bias})
    for (auto& f : *v) f = next();
  const bool bwd_w = s.direction == cc::Direction::BackwardWeights;
  const float* bp = s.epilogue.bias && !bwd_w ? bias.data() : nullptr;
  // The direction's inputs (plan.h's RunArgs): forward x, w; backward-data dy, w; backward-weights x, dy.
  const float* a_in = s.direction == cc::Direction::BackwardData ? dy.data() : x.data();
  const float* b_in = bwd_w ? dy.data() : w.data();
  std::vector<double> ref(s.dst_elems()), ref_db(s.Cout);
  cc::conv2d_reference(s, a_in, b_in, bp, ref.data(), bwd_w && s.epilogue.bias ? ref_db.data() : nullptr);
  auto call = [&](std::vector<float>& y, std::vector<float>& db) {
    cc::RunArgs a;
    a.src = a_in;
    if (bwd_w) a.src2 = dy.data();
    else a.w = w.data();
    a.bias = bp;
    a.dst = y.data();
    if (bwd_w && s.epilogue.bias) a.dst2 = db.data();
    cc::compute(s, a, run);
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> y(s.dst_elems(), nan), db(s.Cout, nan);
  call(y, db);
  auto compare = [&](const std::vector<float>& got, const std::vector<double>& want, const char* what) {
    double scale = 1.0;
    for (double v : want) scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < got.size(); ++i) {
      const double e = std::fabs(double(got[i]) - want[i]);
      if (!(e <= 1e-4 * scale)) {
        char m[200];
        std::snprintf(m, sizeof m, " threads=%d algorithm=%d: %s[%zu] = %g, reference %g", run.threads, run.algorithm,
                      what, i, double(got[i]), want[i]);
        fail("result differs from the reference: " + cc::describe(s) + m);
      }
    }
  };
  compare(y, ref, "out");
  if (bwd_w && s.epilogue.bias) compare(db, ref_db, "bias gradient");
  std::vector<float> y2(s.dst_elems(), nan), db2(s.Cout, nan);
  call(y2, db2);
  if (std::memcmp(y.data(), y2.data(), y.size() * sizeof(float)) != 0 ||
      (bwd_w && s.epilogue.bias && std::memcmp(db.data(), db2.data(), db.size() * sizeof(float)) != 0))
    fail("same inputs and threads gave different bits: " + cc::describe(s));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes b{data, size};
  if (b.u8() % 4 == 0) planner_only(b);
  else small_conv(b);
  return 0;
}
