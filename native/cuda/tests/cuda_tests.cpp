// Native CUDA tests (no Node): every GPU kernel (im2col + GEMM fp32, implicit GEMM fp32, both in
// TF32, the bias + relu epilogue, the 1x1 dense path) against the float64 reference conv over a
// random sweep of shapes, outputs poisoned with NaN first. Plain C++ through cuda_conv.h, the same
// API the addon calls. Usage: channelconv_cuda_tests [seed] [cases]. Without a usable GPU it prints
// "cuda tests: SKIPPED (<reason>)" and "0 passed, 0 failed" and exits 0. Built with CC_CUDA_EMULATE
// (channelconv_cuda_emu_tests) the same file runs the kernels on the CPU (see tests/emu).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/reference.h"
#include "core/problem.h"
#include "tests/check.h"
#include "cuda/cuda_conv.h"

namespace {

using cctest::check;
using cctest::g_failed;
using cctest::g_passed;
using cctest::rel_error;

struct Variant {
  const char* name;
  cc::cuda::Algo algo;
  cc::Precision precision;
  double tol;
};

const Variant kVariants[] = {
    {"im2col+gemm fp32", cc::cuda::Algo::Im2colGemm, cc::Precision::FP32, 1e-5},
    {"implicit fp32", cc::cuda::Algo::Implicit, cc::Precision::FP32, 1e-5},
    {"im2col+gemm tf32", cc::cuda::Algo::Im2colGemm, cc::Precision::TF32, 1e-3},
    {"implicit tf32", cc::cuda::Algo::Implicit, cc::Precision::TF32, 1e-3},
    {"auto fp32", cc::cuda::Algo::Auto, cc::Precision::FP32, 1e-5},     // depthwise: Direct
    {"direct fp32", cc::cuda::Algo::Direct, cc::Precision::FP32, 1e-5},  // Auto unless Cg == 1
};

// The geometry of one case, in logical sizes.
struct Case {
  int64_t N, C, H, W, K, KH, KW, sh, sw, dh, dw, pt, pb, pl, pr, groups;
  cc::Layout layout = cc::Layout::NCHW;
  cc::WeightLayout weight_layout = cc::WeightLayout::OIHW;
};

// The problem of a case, as the binding makes it: from a request, through the one resolver. The
// epilogue (bias, relu) and the precision travel inside it to the CUDA launcher.
cc::ConvProblem problem_of(const Case& d, bool bias, bool relu, cc::Precision precision) {
  cc::ConvRequest r;
  r.groups = d.groups;
  r.stride[0] = d.sh; r.stride[1] = d.sw;
  r.dilation[0] = d.dh; r.dilation[1] = d.dw;
  r.pad[0] = d.pt; r.pad[1] = d.pb; r.pad[2] = d.pl; r.pad[3] = d.pr;
  r.layout = d.layout;
  r.weight_layout = d.weight_layout;
  r.epilogue.bias = bias;
  r.epilogue.act = relu ? cc::Activation::Relu : cc::Activation::None;
  r.precision = precision;
  cc::set_sizes(r, d.N, d.C, d.H, d.W, d.K, d.KH, d.KW);
  return cc::resolve(r);
}

// One shape through every variant, with and without relu, device and host entry points.
void run_case(const Case& d, bool with_bias, std::mt19937_64& rng, const std::string& label) {
  const cc::ConvProblem s = problem_of(d, with_bias, false, cc::Precision::FP32);
  std::uniform_real_distribution<float> U(-1.f, 1.f);
  std::vector<float> x(size_t(s.x_elems())), w(size_t(s.w_elems())), b(size_t(s.Cout));
  for (float& v : x) v = U(rng);
  for (float& v : w) v = U(rng);
  for (float& v : b) v = U(rng);
  const float* bias = with_bias ? b.data() : nullptr;
  std::vector<double> ref(size_t(s.y_elems()));
  cc::conv2d_reference(s, x.data(), w.data(), bias, ref.data());
  std::vector<double> ref_relu(ref);
  for (double& r : ref_relu) r = r < 0 ? 0 : r;

  const bool device_layout = d.layout == cc::Layout::NCHW && d.weight_layout == cc::WeightLayout::OIHW;
  cc::cuda::Buffer dx(x.size() * 4), dw(w.size() * 4), db(b.size() * 4), dy(ref.size() * 4);
  if (device_layout) {
    cc::cuda::upload(dx.data(), x.data(), x.size());
    cc::cuda::upload(dw.data(), w.data(), w.size());
    cc::cuda::upload(db.data(), b.data(), b.size());
  }
  const std::vector<float> nan(ref.size(), std::numeric_limits<float>::quiet_NaN());
  for (const Variant& v : kVariants) {
    for (int relu = 0; relu < 2; ++relu) {
      cc::cuda::ConvOptions o;
      o.algo = v.algo;
      const cc::ConvProblem p = problem_of(d, with_bias, relu != 0, v.precision);
      std::vector<float> y(nan);
      if (device_layout && !relu) {  // device entry point, output buffer poisoned on the device
        cc::cuda::upload(dy.data(), nan.data(), nan.size());
        cc::cuda::conv2d_device(p, dx.data(), dw.data(), with_bias ? db.data() : nullptr, dy.data(), o);
        cc::cuda::download(y.data(), dy.data(), y.size());
      } else {
        cc::cuda::conv2d_host(p, x.data(), w.data(), bias, y.data(), o);
      }
      const double e = rel_error(y, relu ? ref_relu : ref);
      char msg[512];
      std::snprintf(msg, sizeof msg, "%s%s %s: rel error %.3g (tol %.0e)", v.name, relu ? " +relu" : "",
                    label.c_str(), e, v.tol);
      check(e <= v.tol, msg);
    }
  }
}

std::string label_of(const Case& d, bool bias) {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "N=%lld C=%lld H=%lld W=%lld K=%lld k=%lldx%lld s=%lldx%lld d=%lldx%lld p=[%lld,%lld,%lld,%lld] g=%lld %s%s",
                (long long)d.N, (long long)d.C, (long long)d.H, (long long)d.W, (long long)d.K, (long long)d.KH,
                (long long)d.KW, (long long)d.sh, (long long)d.sw, (long long)d.dh,
                (long long)d.dw, (long long)d.pt, (long long)d.pb, (long long)d.pl, (long long)d.pr,
                (long long)d.groups, d.layout == cc::Layout::NHWC ? "NHWC" : "NCHW", bias ? " bias" : "");
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : std::random_device{}();
  const int cases = argc > 2 ? std::atoi(argv[2]) : 60;
  const cc::cuda::Status& st = cc::cuda::status();
  if (!st.available) {
    std::printf("cuda tests: SKIPPED (%s)\n", st.reason.c_str());
    std::printf("0 passed, 0 failed\n");
    return 0;
  }
  std::printf("cuda tests on %s (cc %d.%d), seed %llu\n", st.devices[0].name.c_str(), st.devices[0].major,
              st.devices[0].minor, (unsigned long long)seed);
#ifdef CC_CUDA_EMULATE
  std::printf("CPU emulation: all kernels; wmma (TF32) by the stand-in in tests/emu/mma.h\n");
#endif
  std::mt19937_64 rng(seed);
  try {
    // Fixed shapes that hit the kernels' edges: 1 channel, tile remainders in M, N and Kd, the 1x1
    // dense path (aligned and not), groups / depthwise, a grid wider than one tile in every axis.
    std::vector<Case> fixed;
    auto add = [&](int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t kh, int64_t kw, int64_t s,
                   int64_t p, int64_t g, int64_t dil) {
      fixed.push_back(Case{N, C, H, W, K, kh, kw, s, s, dil, dil, p, p, p, p, g});
    };
    add(1, 2, 3, 3, 1, 2, 2, 1, 0, 1, 1);        // the lecture's example (S6)
    add(1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1);        // everything 1
    add(2, 16, 8, 8, 24, 1, 1, 1, 0, 1, 1);      // 1x1 dense path, aligned
    add(2, 5, 7, 9, 3, 1, 1, 1, 0, 1, 1);        // 1x1 dense path, H*W odd
    add(1, 3, 33, 37, 130, 3, 3, 1, 1, 1, 1);    // M = 130 > one tile, N odd
    add(2, 20, 20, 20, 8, 5, 5, 2, 2, 4, 1);     // groups
    add(2, 8, 17, 15, 8, 3, 3, 1, 1, 8, 1);      // depthwise
    add(1, 9, 12, 11, 7, 3, 2, 1, 2, 1, 2);      // dilation, non-square kernel
    add(3, 4, 70, 70, 16, 7, 7, 2, 3, 1, 1);     // S5-like: N = 35*35 > 1024
    add(1, 300, 6, 6, 5, 3, 3, 1, 1, 1, 1);      // Kd = 2700 (many K steps, Kd % 4 == 0)
    add(1, 37, 6, 5, 5, 3, 3, 1, 0, 1, 1);       // Kd = 333 (odd)
    for (size_t i = 0; i < fixed.size(); ++i) run_case(fixed[i], i % 2 == 0, rng, "fixed " + label_of(fixed[i], i % 2 == 0));
    std::uniform_int_distribution<int> pick(0, 1 << 20);
    const int ks[] = {1, 2, 3, 5, 7, 11};
    for (int t = 0; t < cases; ++t) {
      Case d{};
      d.groups = (pick(rng) % 4 == 0) ? 1 + pick(rng) % 3 : 1;
      d.C = (1 + pick(rng) % 9) * d.groups;
      d.K = d.groups * (1 + pick(rng) % 12);
      d.N = 1 + pick(rng) % 3;
      d.KH = ks[pick(rng) % 6];
      d.KW = pick(rng) % 3 == 0 ? ks[pick(rng) % 6] : d.KH;
      d.sh = 1 + pick(rng) % 3;
      d.sw = pick(rng) % 2 ? d.sh : 1 + pick(rng) % 3;
      d.dh = 1 + (pick(rng) % 4 == 0);
      d.dw = 1 + (pick(rng) % 4 == 0);
      d.pt = pick(rng) % 3; d.pb = pick(rng) % 3; d.pl = pick(rng) % 3; d.pr = pick(rng) % 3;
      d.H = d.dh * (d.KH - 1) + 1 + pick(rng) % 20;
      d.W = d.dw * (d.KW - 1) + 1 + pick(rng) % 20;
      d.layout = pick(rng) % 4 == 0 ? cc::Layout::NHWC : cc::Layout::NCHW;
      d.weight_layout = pick(rng) % 4 == 0 ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
      const bool bias = pick(rng) % 2;
      run_case(d, bias, rng, "random " + label_of(d, bias));
    }
    // Errors come back as cc::Error, not crashes: an allocation far beyond the card's memory.
    try {
      cc::cuda::Buffer huge(size_t(1) << 50);
      check(false, "a 1 PiB allocation throws");
    } catch (const cc::Error& e) {
      check(e.code() == std::string(cc::codes::kOutOfMemory), std::string("1 PiB allocation: code ") + e.code());
    }
  } catch (const cc::Error& e) {
    check(false, std::string("unexpected error ") + e.code() + ": " + e.what());
  }
  std::printf("cuda tests: seed %llu\n%d passed, %d failed\n", (unsigned long long)seed, g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
