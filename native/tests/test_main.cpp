// Native tests (no Node): the CPU conv against the float64 reference on the lecture's examples and
// a random sweep of shapes and options, outputs poisoned with NaN first; plus the shape rules.
// Usage: channelconv_tests [seed]. Prints "N passed, N failed"; exit status 1 on any failure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/conv.h"
#include "core/error.h"
#include "core/reference.h"
#include "core/shape.h"
#include "tests/check.h"
#include "cpu/gemm.h"

namespace {

using cctest::check;
using cctest::g_failed;
using cctest::g_passed;
using cctest::rel_error;

void lecture_examples() {
  // Two input channels, 3x3 input, 2x2 kernels: 56 at the top left (Dive into Deep Learning 7.4).
  cc::ConvDesc d;
  d.C = 2; d.H = 3; d.W = 3; d.K = 1; d.Cg = 2; d.KH = 2; d.KW = 2;
  const cc::ConvShape s = cc::make_shape(d);
  std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> w = {0, 1, 2, 3, 1, 2, 3, 4};
  std::vector<float> y(4, NAN);
  cc::conv2d(s, x.data(), w.data(), nullptr, y.data());
  check(y == std::vector<float>({56, 72, 104, 120}), "lecture multi-input example gives [[56,72],[104,120]]");
  // Three output channels: K, K+1, K+2 stacked.
  cc::ConvDesc d3 = d;
  d3.K = 3;
  const cc::ConvShape s3 = cc::make_shape(d3);
  std::vector<float> w3;
  for (int k = 0; k < 3; ++k) for (float v : w) w3.push_back(v + k);
  std::vector<float> y3(12, NAN);
  cc::conv2d(s3, x.data(), w3.data(), nullptr, y3.data());
  check(y3 == std::vector<float>({56, 72, 104, 120, 76, 100, 148, 172, 96, 128, 192, 224}),
        "lecture multi-output example stacks 3 channels");
}

void shape_rules() {
  auto expect_throw = [](const char* code, std::function<void()> f, const char* what) {
    try { f(); check(false, std::string(what) + ": no error"); }
    catch (const cc::Error& e) { check(e.code() == code, std::string(what) + ": code " + e.code()); }
  };
  cc::ConvDesc d;
  d.C = 4; d.H = 5; d.W = 7; d.K = 6; d.Cg = 4; d.KH = 3; d.KW = 3;
  d.pad_mode = cc::PadMode::SameUpper; d.stride_h = 2; d.stride_w = 2;
  cc::ConvShape s = cc::make_shape(d);
  check(s.OH == 3 && s.OW == 4, "same stride 2: ceil(5/2) x ceil(7/2)");
  check(s.pad_t == 1 && s.pad_b == 1 && s.pad_l == 1 && s.pad_r == 1, "same 3x3 stride 2 pads 1 each side");
  d.KH = 2; d.KW = 2; d.stride_h = 1; d.stride_w = 1;
  s = cc::make_shape(d);
  check(s.pad_t == 0 && s.pad_b == 1 && s.pad_l == 0 && s.pad_r == 1, "same (upper) puts the odd pixel bottom/right");
  d.pad_mode = cc::PadMode::SameLower;
  s = cc::make_shape(d);
  check(s.pad_t == 1 && s.pad_b == 0 && s.pad_l == 1 && s.pad_r == 0, "same_lower puts it top/left");
  cc::ConvDesc bad = d;
  bad.Cg = 3;
  expect_throw(cc::codes::kChannelMismatch, [&] { cc::make_shape(bad); }, "channel mismatch");
  bad = d; bad.groups = 3;
  expect_throw(cc::codes::kInvalidGroups, [&] { cc::make_shape(bad); }, "groups not dividing C");
  bad = d; bad.stride_h = 0;
  expect_throw(cc::codes::kInvalidOption, [&] { cc::make_shape(bad); }, "stride 0");
  bad = d; bad.pad_mode = cc::PadMode::Explicit; bad.pad_l = -1;
  expect_throw(cc::codes::kInvalidOption, [&] { cc::make_shape(bad); }, "negative padding");
  bad = d; bad.pad_mode = cc::PadMode::Valid; bad.KH = 9;
  expect_throw(cc::codes::kEmptyOutput, [&] { cc::make_shape(bad); }, "kernel larger than input");
  bad = d; bad.N = 1 << 20; bad.H = 1 << 12; bad.W = 1 << 12;
  expect_throw(cc::codes::kTooLarge, [&] { cc::make_shape(bad); }, "element count past 2^31");
}

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  int64_t pick(std::initializer_list<int64_t> v) { return v.begin()[g() % v.size()]; }
  int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(g() % uint64_t(hi - lo + 1)); }
  float uniform() { return std::uniform_real_distribution<float>(-1.f, 1.f)(g); }
};

void random_sweep(uint64_t seed, int cases) {
  Rng r(seed);
  for (int t = 0; t < cases; ++t) {
    cc::ConvDesc d;
    d.groups = r.pick({1, 1, 1, 2, 3});
    d.N = r.pick({1, 1, 2, 3});
    d.Cg = r.pick({1, 2, 3, 5, 8, 17});
    d.C = d.Cg * d.groups;
    d.K = d.groups * r.pick({1, 2, 3, 4, 7, 16, 33});
    d.KH = r.pick({1, 2, 3, 5, 7});
    d.KW = r.pick({1, 2, 3, 5, 7});
    d.H = r.range(1, 23);
    d.W = r.range(1, 23);
    d.stride_h = r.pick({1, 1, 2, 3});
    d.stride_w = r.pick({1, 1, 2, 3});
    d.dil_h = r.pick({1, 1, 2});
    d.dil_w = r.pick({1, 1, 2});
    d.pad_mode = cc::PadMode(r.range(0, 3));
    d.pad_t = r.range(0, 3); d.pad_b = r.range(0, 3); d.pad_l = r.range(0, 3); d.pad_r = r.range(0, 3);
    d.layout = r.pick({0, 1}) ? cc::Layout::NHWC : cc::Layout::NCHW;
    d.weight_layout = r.pick({0, 1}) ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
    if (r.range(0, 9) == 0) {  // depthwise
      d.groups = d.C; d.Cg = 1; d.K = d.C * r.pick({1, 2});
    }
    cc::ConvShape s;
    try { s = cc::make_shape(d); } catch (const cc::Error&) { --t; continue; }  // empty output: redraw
    std::vector<float> x(s.input_elems()), w(s.weight_elems()), bias(s.K);
    for (auto& v : x) v = r.uniform();
    for (auto& v : w) v = r.uniform();
    for (auto& v : bias) v = r.uniform();
    const bool with_bias = r.range(0, 1), relu = r.range(0, 3) == 0;
    std::vector<double> ref(s.output_elems());
    cc::conv2d_reference(s, x.data(), w.data(), with_bias ? bias.data() : nullptr, ref.data());
    if (relu)
      for (auto& v : ref) v = v > 0 ? v : 0;
    for (int threads : {1, 2}) {
      std::vector<float> y(s.output_elems(), NAN);
      cc::RunOptions opt;
      opt.threads = threads;
      opt.relu = relu;
      cc::conv2d(s, x.data(), w.data(), with_bias ? bias.data() : nullptr, y.data(), opt);
      const double err = rel_error(y, ref);
      check(err <= 1e-5, std::string(cc::gemm_isa()) + " case " + std::to_string(t) + " threads " +
                             std::to_string(threads) + " " + cc::describe(s) + (with_bias ? " bias" : "") +
                             (relu ? " relu" : "") + ": rel err " + std::to_string(err));
    }
  }
}

// Few small images (a late layer at N = 1): the team splits the output channels; both thread counts
// must agree with the reference, M not a multiple of MR, strides 1 and 2.
void channel_split(uint64_t seed) {
  Rng r(seed ^ 0x2545f4914f6cdd1dULL);
  for (int64_t stride : {1, 2}) {
    cc::ConvDesc d;
    d.C = d.Cg = 64; d.K = 130; d.KH = d.KW = 3; d.H = 7; d.W = 9;
    d.stride_h = d.stride_w = stride;
    d.pad_mode = cc::PadMode::SameUpper;
    const cc::ConvShape s = cc::make_shape(d);
    std::vector<float> x(s.input_elems()), w(s.weight_elems()), bias(s.K);
    for (auto& v : x) v = r.uniform();
    for (auto& v : w) v = r.uniform();
    for (auto& v : bias) v = r.uniform();
    std::vector<double> ref(s.output_elems());
    cc::conv2d_reference(s, x.data(), w.data(), bias.data(), ref.data());
    for (int threads : {1, 2}) {
      std::vector<float> y(s.output_elems(), NAN);
      cc::RunOptions opt;
      opt.threads = threads;
      cc::conv2d(s, x.data(), w.data(), bias.data(), y.data(), opt);
      const double err = rel_error(y, ref);
      check(err <= 1e-5, std::string(cc::gemm_isa()) + " channel split " + cc::describe(s) + " threads " +
                             std::to_string(threads) + ": rel err " + std::to_string(err));
    }
  }
}

// The workspace does not grow with N, H or W: per-thread buffers bounded by the tile.
void workspace_bounded() {
  for (auto layout : {cc::Layout::NCHW, cc::Layout::NHWC})
    for (int64_t k : {1, 3, 5}) {
      cc::ConvDesc d;
      d.C = d.Cg = 64; d.K = 64; d.KH = d.KW = k; d.pad_mode = cc::PadMode::SameUpper; d.layout = layout;
      size_t most = 0;
      for (int64_t n : {1, 8})
        for (int64_t hw : {32, 600, 2000}) {
          d.N = n; d.H = d.W = hw;
          most = std::max(most, cc::workspace_bytes(cc::make_shape(d), 2));
        }
      const size_t weights = size_t(64 * 64 * k * k) * 4;
      check(most <= weights + 2 * (size_t(4) << 20),
            "workspace bounded (k=" + std::to_string(k) + "): " + std::to_string(most) + " bytes");
    }
}

// Prepared weights: one packing, inputs of several sizes, against the reference; a mismatched input
// is refused.
void prepared_weights(uint64_t seed) {
  Rng r(seed ^ 0x5bd1e995ULL);
  for (int t = 0; t < 12; ++t) {
    cc::ConvDesc d;
    d.groups = r.pick({1, 1, 2, 4});
    d.Cg = r.pick({1, 3, 9, 20});
    d.C = d.Cg * d.groups;
    d.K = d.groups * r.pick({1, 2, 9, 17});
    d.KH = r.pick({1, 3}); d.KW = r.pick({1, 3, 5});
    d.pad_mode = cc::PadMode::SameUpper;
    d.layout = r.pick({0, 1}) ? cc::Layout::NHWC : cc::Layout::NCHW;
    d.weight_layout = r.pick({0, 1}) ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
    d.H = d.W = 8;
    cc::ConvShape s0 = cc::make_shape(d);
    std::vector<float> w(s0.weight_elems()), bias(s0.K);
    for (auto& v : w) v = r.uniform();
    for (auto& v : bias) v = r.uniform();
    const cc::PreparedWeights pw(s0, w.data(), bias.data());
    for (int rep = 0; rep < 3; ++rep) {
      d.N = r.range(1, 3); d.H = r.range(1, 40); d.W = r.range(1, 40);
      const cc::ConvShape s = cc::make_shape(d);
      std::vector<float> x(s.input_elems()), y(s.output_elems(), NAN);
      for (auto& v : x) v = r.uniform();
      std::vector<double> ref(s.output_elems());
      cc::conv2d_reference(s, x.data(), w.data(), bias.data(), ref.data());
      cc::RunOptions opt;
      opt.threads = r.range(1, 2);
      cc::conv2d_prepared(s, pw, x.data(), y.data(), opt);
      const double err = rel_error(y, ref);
      check(err <= 1e-5, std::string(cc::gemm_isa()) + " prepared " + cc::describe(s) + ": rel err " + std::to_string(err));
    }
    cc::ConvDesc bad = d;
    bad.C = bad.Cg = d.Cg + 1; bad.groups = 1; bad.K = d.K;
    try {
      std::vector<float> x(cc::make_shape(bad).input_elems()), y(cc::make_shape(bad).output_elems());
      cc::conv2d_prepared(cc::make_shape(bad), pw, x.data(), y.data());
      check(false, "prepared weights accept an input with other channels");
    } catch (const cc::Error& e) {
      check(e.code() == cc::codes::kInvalidShape, "prepared mismatch code " + e.code());
    }
  }
}

// Shapes around the kernel set's tile sizes: GEMM M (output channels) just below / above MR and
// 2*MR, pixels around NR and the tile width, GEMM K (Cg*KH*KW) around KC and 2*KC; both layouts,
// 1 and 2 threads, bias and relu. Then the plain sgemm across the same remainders.
void tile_remainders(uint64_t seed) {
  Rng r(seed ^ 0x9e3779b97f4a7c15ULL);
  const cc::GemmKernels& kr = cc::gemm_kernels();
  const int64_t mr = kr.mr, nr = kr.nr, kc = kr.kc;
  const int64_t ms[] = {1, mr - 1, mr + 1, 2 * mr + 1};
  // (Cg, KH=KW) giving Cg*KH*KW just below / at / above KC and 2*KC
  const int64_t ks[][2] = {{(kc - 1) / 9, 3}, {kc, 1}, {kc + 1, 1}, {(kc + 9) / 9, 3}, {(2 * kc + 25) / 25, 5}};
  int i = 0;
  for (int64_t M : ms)
    for (auto& kk : ks) {
      cc::ConvDesc d;
      d.C = d.Cg = kk[0]; d.K = M; d.KH = d.KW = kk[1];
      const int64_t pix[] = {nr - 1, nr + 1, 2 * nr + 3, int64_t(kr.nc) + 5};
      const int64_t P = pix[i++ % 4];
      d.H = 1 + P / 23; d.W = 23;  // OH*OW near P with SAME padding
      d.N = r.pick({1, 2});
      d.pad_mode = cc::PadMode::SameUpper;
      d.layout = r.pick({0, 1}) ? cc::Layout::NHWC : cc::Layout::NCHW;
      const cc::ConvShape s = cc::make_shape(d);
      std::vector<float> x(s.input_elems()), w(s.weight_elems()), bias(s.K);
      for (auto& v : x) v = r.uniform();
      for (auto& v : w) v = r.uniform();
      for (auto& v : bias) v = r.uniform();
      const bool relu = r.range(0, 1);
      std::vector<double> ref(s.output_elems());
      cc::conv2d_reference(s, x.data(), w.data(), bias.data(), ref.data());
      if (relu)
        for (auto& v : ref) v = v > 0 ? v : 0;
      for (int threads : {1, 2}) {
        std::vector<float> y(s.output_elems(), NAN);
        cc::RunOptions opt;
        opt.threads = threads;
        opt.relu = relu;
        cc::conv2d(s, x.data(), w.data(), bias.data(), y.data(), opt);
        const double err = rel_error(y, ref);
        check(err <= 1e-5, std::string(kr.isa) + " tile remainder " + cc::describe(s) + " threads " +
                               std::to_string(threads) + (relu ? " relu" : "") + ": rel err " + std::to_string(err));
      }
    }
  for (int64_t M : {int64_t(1), mr - 1, mr + 1})
    for (int64_t N : {int64_t(1), nr - 1, nr + 1, int64_t(kr.nc) + 1})
      for (int64_t K : {int64_t(1), kc - 1, kc + 1}) {
        std::vector<float> A(M * K), B(K * N), bias(M), C(M * N, NAN);
        for (auto& v : A) v = r.uniform();
        for (auto& v : B) v = r.uniform();
        for (auto& v : bias) v = r.uniform();
        cc::sgemm(M, N, K, A.data(), K, B.data(), N, C.data(), N, bias.data());
        std::vector<double> ref(M * N);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double acc = bias[i];
            for (int64_t k = 0; k < K; ++k) acc += double(A[i * K + k]) * B[k * N + j];
            ref[i * N + j] = acc;
          }
        const double err = rel_error(C, ref);
        check(err <= 1e-5, std::string(kr.isa) + " sgemm " + std::to_string(M) + "x" + std::to_string(N) + "x" +
                               std::to_string(K) + ": rel err " + std::to_string(err));
      }
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : std::random_device{}();
  std::printf("channelconv native tests, seed %llu\n", (unsigned long long)seed);
  shape_rules();
  // CHANNELCONV_SWEEP_CASES: a smaller sweep for slow runs (valgrind), a larger one for soaks.
  const char* cases_env = std::getenv("CHANNELCONV_SWEEP_CASES");
  const int sweep_cases = cases_env && std::atoi(cases_env) > 0 ? std::atoi(cases_env) : 300;
  workspace_bounded();
  // Every kernel set this CPU runs, forced in turn (CHANNELCONV_ISA is exercised by the JS tests).
  const char* default_isa = cc::gemm_isa();
  for (const char* isa : {"avx512", "avx2", "generic"}) {
    const cc::GemmKernels* k = cc::gemm_kernels_for(isa);
    if (!k) {
      std::printf("skipping ISA %s: not supported by this CPU\n", isa);
      continue;
    }
    cc::gemm_force(*k);
    std::printf("ISA %s\n", isa);
    lecture_examples();
    random_sweep(seed, sweep_cases);
    tile_remainders(seed);
    prepared_weights(seed);
    channel_split(seed);
  }
  cc::gemm_force(*cc::gemm_kernels_for(default_isa));
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
