// Native CUDA tests (no Node): every GPU kernel of every direction (forward: im2col+GEMM, implicit
// GEMM, the 1x1 dense path, depthwise direct; backward-data: GEMM+col2im, implicit GEMM, depthwise
// direct; backward-weights: split-K implicit GEMM, depthwise direct, the bias gradient), in fp32, TF32
// and BF16 (tensor cores, and the float32 kernels' rounding), with the bias + relu epilogue, through
// the device and the host entry points, against the float64 reference over fixed edge shapes and a
// random sweep, outputs poisoned with NaN first. Plain
// C++ through cuda_conv.h, the same API the addon calls. Usage: channelconv_cuda_tests [seed] [cases].
// Without a usable GPU it prints "cuda tests: SKIPPED (<reason>)" and "0 passed, 0 failed" and exits
// 0. Built with CC_CUDA_EMULATE (channelconv_cuda_emu_tests) the same file runs the kernels on the CPU
// (see tests/emu).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
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
  bool tensor_cores = true;
};

// Tolerances: relative to the float64 reference on the operands as given (fp32, TF32: the TF32 paths
// may round or, before 8.0, not), or on the operands rounded to bfloat16 (BF16: every BF16 path
// rounds both operands, to nearest even, and sums in float32, so only float32 sums separate them).
const Variant kVariants[] = {
    {"im2col+gemm fp32", cc::cuda::Algo::Im2colGemm, cc::Precision::FP32, 1e-5},  // backward-data: gemm+col2im
    {"implicit fp32", cc::cuda::Algo::Implicit, cc::Precision::FP32, 1e-5},
    {"im2col+gemm tf32", cc::cuda::Algo::Im2colGemm, cc::Precision::TF32, 1e-3},
    {"implicit tf32", cc::cuda::Algo::Implicit, cc::Precision::TF32, 1e-3},
    {"im2col+gemm bf16", cc::cuda::Algo::Im2colGemm, cc::Precision::BF16, 1e-5},
    {"implicit bf16", cc::cuda::Algo::Implicit, cc::Precision::BF16, 1e-5},
    {"implicit bf16, no tensor cores", cc::cuda::Algo::Implicit, cc::Precision::BF16, 1e-5, false},
    {"auto fp32", cc::cuda::Algo::Auto, cc::Precision::FP32, 1e-5},     // depthwise: Direct
    {"direct fp32", cc::cuda::Algo::Direct, cc::Precision::FP32, 1e-5},  // Auto unless Cg == 1
    {"direct bf16", cc::cuda::Algo::Direct, cc::Precision::BF16, 1e-5},
};

// x rounded to bfloat16, to nearest even (NaN and infinities do not occur here).
float bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

const cc::Direction kDirections[] = {cc::Direction::Forward, cc::Direction::BackwardData,
                                     cc::Direction::BackwardWeights};
const char* const kDirectionNames[] = {"forward", "backward-data", "backward-weights"};

// The geometry of one case, in logical sizes (of the forward convolution).
struct Case {
  int64_t N, C, H, W, K, KH, KW, sh, sw, dh, dw, pt, pb, pl, pr, groups;
  cc::Layout layout = cc::Layout::NCHW;
  cc::WeightLayout weight_layout = cc::WeightLayout::OIHW;
  unsigned directions = 7;  // bit d: run direction d
};

// The problem of a case, as the binding makes it: from a request, through the one resolver. The
// direction, the epilogue (bias, relu) and the precision travel inside it to the CUDA launcher.
cc::ConvProblem problem_of(const Case& d, cc::Direction dir, bool bias, bool relu, cc::Precision precision) {
  cc::ConvRequest r;
  r.direction = dir;
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

std::vector<float> randoms(int64_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> U(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = U(rng);
  return v;
}

// A device copy of host data (NaN-poisoned when data is empty).
struct Dev {
  cc::cuda::Buffer buf;
  Dev(const std::vector<float>& host, size_t n) : buf(n * 4) {
    if (host.empty()) cc::cuda::upload(buf.data(), std::vector<float>(n, NAN).data(), n);
    else cc::cuda::upload(buf.data(), host.data(), n);
  }
  std::vector<float> get() const {
    std::vector<float> v(buf.bytes() / 4);
    cc::cuda::download(v.data(), buf.data(), v.size());
    return v;
  }
};

// One shape in one direction through every variant: every other one (by `salt`) with relu where the
// direction has an epilogue and through the host entry point, the others without, through the device
// entry point where the layouts are the kernels' own.
void run_direction(const Case& d, cc::Direction dir, bool with_bias, int salt, std::mt19937_64& rng,
                   const std::string& label) {
  const cc::ConvProblem s = problem_of(d, dir, with_bias, false, cc::Precision::FP32);
  const bool bwd_w = dir == cc::Direction::BackwardWeights;
  // a: x (forward, backward-weights) or dy (backward-data); b: w, or dy for backward-weights.
  const std::vector<float> a = randoms(s.src_elems(), rng);
  const std::vector<float> b = randoms(bwd_w ? s.y_elems() : s.w_elems(), rng);
  const std::vector<float> bias = randoms(s.bias_elems(), rng);
  // The references, on the operands as given and rounded to bfloat16; each with and without relu.
  std::vector<double> ref[2][2], ref_db(size_t(s.Cout));
  for (int rounded = 0; rounded < 2; ++rounded) {
    std::vector<float> ra(a), rb(b);
    if (rounded) {
      for (float& v : ra) v = bf16(v);
      for (float& v : rb) v = bf16(v);
    }
    std::vector<double>& r = ref[rounded][0];
    r.resize(size_t(s.dst_elems()));
    cc::conv2d_reference(s, ra.data(), rb.data(), with_bias && !bwd_w ? bias.data() : nullptr, r.data(),
                         with_bias && bwd_w && !rounded ? ref_db.data() : nullptr);
    ref[rounded][1] = r;
    for (double& v : ref[rounded][1]) v = v < 0 ? 0 : v;
  }

  const bool device_layout = d.layout == cc::Layout::NCHW && d.weight_layout == cc::WeightLayout::OIHW;
  int v_index = 0;
  for (const Variant& v : kVariants) {
    ++v_index;
    const int relu = !bwd_w && (v_index + salt) % 2 == 1;
    cc::cuda::ConvOptions o;
    o.algo = v.algo;
    o.tensor_cores = v.tensor_cores;
    const cc::ConvProblem p = problem_of(d, dir, with_bias, relu != 0, v.precision);
    const std::vector<double>& want = ref[v.precision == cc::Precision::BF16][relu];
    std::vector<float> y(want.size(), NAN), db(bwd_w && with_bias ? size_t(p.Cout) : 0, NAN);
    // backward-weights: every other variant computes one of its outputs alone.
    const bool skip_dw = bwd_w && with_bias && v_index % 3 == 0, skip_db = bwd_w && v_index % 3 == 1;
    if (device_layout && !relu) {  // device entry point, outputs poisoned on the device
      Dev da(a, a.size()), dout({}, y.size()), dout2({}, std::max<size_t>(db.size(), 1));
      std::unique_ptr<Dev> dbias = with_bias && !bwd_w ? std::make_unique<Dev>(bias, bias.size()) : nullptr;
      std::unique_ptr<Dev> dbw = std::make_unique<Dev>(b, b.size());
      cc::RunArgs r;
      r.src = da.buf.data();
      if (bwd_w) r.src2 = dbw->buf.data();
      else r.w = dbw->buf.data();
      r.bias = dbias ? dbias->buf.data() : nullptr;
      r.dst = skip_dw ? nullptr : dout.buf.data();
      r.dst2 = bwd_w && with_bias && !skip_db ? dout2.buf.data() : nullptr;
      cc::cuda::run_device(p, r, o);
      if (!skip_dw) y = dout.get();
      if (r.dst2) db = dout2.get();
    } else {
      cc::RunArgs r;
      r.src = a.data();
      if (bwd_w) r.src2 = b.data();
      else r.w = b.data();
      r.bias = with_bias && !bwd_w ? bias.data() : nullptr;
      r.dst = skip_dw ? nullptr : y.data();
      r.dst2 = bwd_w && with_bias && !skip_db ? db.data() : nullptr;
      cc::cuda::run_host(p, r, o);
    }
    char msg[600];
    if (!skip_dw) {
      const double e = rel_error(y, want);
      std::snprintf(msg, sizeof msg, "%s %s%s %s: rel error %.3g (tol %.0e)", kDirectionNames[int(dir)], v.name,
                    relu ? " +relu" : "", label.c_str(), e, v.tol);
      check(e <= v.tol, msg);
    }
    if (bwd_w && with_bias && !skip_db) {  // float32 sums of dy alone: always 1e-5
      const double e = rel_error(db, ref_db);
      std::snprintf(msg, sizeof msg, "%s %s bias gradient %s: rel error %.3g", kDirectionNames[int(dir)], v.name,
                    label.c_str(), e);
      check(e <= 1e-5, msg);
    }
  }
}

void run_case(const Case& d, bool with_bias, int salt, std::mt19937_64& rng, const std::string& label) {
  for (cc::Direction dir : kDirections)
    if (d.directions >> int(dir) & 1) run_direction(d, dir, with_bias, salt, rng, label);
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
  std::printf("CPU emulation: all kernels; wmma (TF32, BF16) by the stand-in in tests/emu/mma.h\n");
#endif
  std::mt19937_64 rng(seed);
  try {
    // Fixed shapes that hit the kernels' edges: 1 channel, tile remainders in M, N and Kd, the 1x1
    // dense path (aligned and not), groups / depthwise, a grid wider than one tile in every axis,
    // backward-weights split into several partial sums.
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
    add(2, 4, 9, 7, 8, 3, 3, 2, 1, 4, 1);        // depthwise with 2 outputs per channel, stride 2
    add(3, 2, 63, 68, 3, 3, 3, 1, 1, 1, 1);      // backward-weights split in 3 (N*OH*OW = 12852), float4 dy
    fixed.back().directions = 1u << int(cc::Direction::BackwardWeights);
    for (size_t i = 0; i < fixed.size(); ++i)
      run_case(fixed[i], i % 2 == 0, int(i / 2), rng, "fixed " + label_of(fixed[i], i % 2 == 0));
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
      run_case(d, bias, t, rng, "random " + label_of(d, bias));
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
