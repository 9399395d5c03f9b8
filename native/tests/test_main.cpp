// Native tests (no Node): every algorithm of the registry, forced in turn, on every kernel set this CPU
// runs, against the float64 reference on the lecture's examples and a random sweep of shapes and
// options (outputs poisoned with NaN first); the resolver's rules; prepared weights; the plan.
// Usage: channelconv_tests [seed]. Prints "N passed, N failed"; exit status 1 on any failure.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

#include "core/error.h"
#include "core/plan.h"
#include "core/problem.h"
#include "core/reference.h"
#include "core/registry.h"
#include "core/threads.h"
#include "cpu/cpu_info.h"
#include "cpu/kernels.h"
#include "tests/check.h"

namespace {

using cctest::check;
using cctest::g_failed;
using cctest::g_passed;
using cctest::rel_error;

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  int64_t pick(std::initializer_list<int64_t> v) { return v.begin()[g() % v.size()]; }
  int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(g() % uint64_t(hi - lo + 1)); }
  float uniform() { return std::uniform_real_distribution<float>(-1.f, 1.f)(g); }
  std::vector<float> floats(int64_t n) {
    std::vector<float> v(size_t(std::max<int64_t>(n, 0)));
    for (auto& x : v) x = uniform();
    return v;
  }
};

const char* kernel_name() { return cc::kernels().name; }

// The forward output of p for x, w, bias, with the given threads and algorithm (-1: auto).
std::vector<float> forward(const cc::ConvProblem& p, const std::vector<float>& x, const std::vector<float>& w,
                           const float* bias, int threads = 0, int algorithm = -1) {
  std::vector<float> y(size_t(p.y_elems()), NAN);
  cc::RunArgs a;
  a.src = x.data();
  a.w = w.data();
  a.bias = bias;
  a.dst = y.data();
  cc::PlanOptions o;
  o.threads = threads;
  o.algorithm = algorithm;
  cc::compute(p, a, o);
  return y;
}

// The forward output of p through prepared weights pw.
std::vector<float> forward_prepared(const cc::ConvProblem& p, const cc::PreparedWeights& pw, const std::vector<float>& x,
                                    int threads, int algorithm) {
  cc::PlanOptions o;
  o.threads = threads;
  o.algorithm = algorithm;
  o.prepacked = true;
  const cc::Plan pl = cc::plan(p, o);
  std::vector<float> y(size_t(p.y_elems()), NAN);
  cc::Workspace ws;
  cc::RunArgs args;
  args.src = x.data();
  args.dst = y.data();
  cc::run_prepared(pl, pw, args, ws.get(pl.workspace_bytes));
  return y;
}

std::vector<double> reference(const cc::ConvProblem& p, const std::vector<float>& x, const std::vector<float>& w,
                              const float* bias) {
  std::vector<double> ref(size_t(p.dst_elems()));
  cc::conv2d_reference(p, x.data(), w.data(), bias, ref.data());
  return ref;
}

// bfloat16 rounding written independently of the kernels' bit manipulation (cpu/ref/ops.h): the
// significand rounded to 8 bits with ties to even by nearbyint (the default rounding mode), in double;
// fp32 subnormals become zero (as AVX512_BF16 converts them); NaN stays NaN; past the largest bf16,
// infinity.
float bf16_round(float v) {
  if (std::isnan(v) || std::isinf(v) || v == 0.0f) return v;
  if (std::fabs(v) < std::numeric_limits<float>::min()) return std::copysign(0.0f, v);
  int e = 0;
  const double m = std::frexp(double(v), &e);  // v = m * 2^e, 0.5 <= |m| < 1
  return float(std::ldexp(std::nearbyint(m * 256.0) / 256.0, e));
}

std::vector<float> bf16_rounded(const std::vector<float>& v) {
  std::vector<float> r(v.size());
  std::transform(v.begin(), v.end(), r.begin(), bf16_round);
  return r;
}

cc::ConvProblem problem(int64_t N, int64_t C, int64_t H, int64_t W, int64_t Cout, int64_t KH, int64_t KW,
                        std::function<void(cc::ConvRequest&)> more = nullptr) {
  cc::ConvRequest r;
  if (more) more(r);
  cc::set_sizes(r, N, C, H, W, Cout, KH, KW);
  return cc::resolve(r);
}

// The entries that can run p: indexes into algorithm_names().
std::vector<int> runnable(const cc::ConvProblem& p) {
  std::vector<int> out;
  const auto& names = cc::algorithm_names();
  for (size_t i = 0; i < names.size(); ++i) {
    cc::PlanOptions o;
    o.algorithm = int(i);
    try {
      cc::plan(p, o);
      out.push_back(int(i));
    } catch (const cc::Error&) {
    }
  }
  return out;
}

void lecture_examples() {
  // Two input channels, 3x3 input, 2x2 kernels: 56 at the top left (Dive into Deep Learning 7.4).
  const cc::ConvProblem p = problem(1, 2, 3, 3, 1, 2, 2);
  std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> w = {0, 1, 2, 3, 1, 2, 3, 4};
  for (int a : runnable(p))
    check(forward(p, x, w, nullptr, 0, a) == std::vector<float>({56, 72, 104, 120}),
          std::string(kernel_name()) + " " + cc::algorithm_names()[size_t(a)] + ": lecture multi-input example");
  // Three output channels: K, K+1, K+2 stacked.
  const cc::ConvProblem p3 = problem(1, 2, 3, 3, 3, 2, 2);
  std::vector<float> w3;
  for (int k = 0; k < 3; ++k)
    for (float v : w) w3.push_back(v + k);
  for (int a : runnable(p3))
    check(forward(p3, x, w3, nullptr, 0, a) == std::vector<float>({56, 72, 104, 120, 76, 100, 148, 172, 96, 128, 192, 224}),
          std::string(kernel_name()) + " " + cc::algorithm_names()[size_t(a)] + ": lecture multi-output example");
}

void expect_throw(const char* code, const std::function<void()>& f, const std::string& what,
                  const char* substring = nullptr) {
  try {
    f();
    check(false, what + ": no error");
  } catch (const cc::Error& e) {
    check(e.code() == code && (!substring || std::strstr(e.what(), substring)),
          what + ": " + e.code() + ": " + e.what());
  }
}

void resolver_rules() {
  auto same = [](cc::ConvRequest& r) { r.pad_mode = cc::PadMode::SameUpper; r.stride[0] = r.stride[1] = 2; };
  cc::ConvProblem s = problem(1, 4, 5, 7, 6, 3, 3, same);
  check(s.OH == 3 && s.OW == 4, "same stride 2: ceil(5/2) x ceil(7/2)");
  check(s.pad_t == 1 && s.pad_b == 1 && s.pad_l == 1 && s.pad_r == 1, "same 3x3 stride 2 pads 1 each side");
  s = problem(1, 4, 5, 7, 6, 2, 2, [](cc::ConvRequest& r) { r.pad_mode = cc::PadMode::SameUpper; });
  check(s.pad_t == 0 && s.pad_b == 1 && s.pad_l == 0 && s.pad_r == 1, "same (upper) puts the odd pixel bottom/right");
  s = problem(1, 4, 5, 7, 6, 2, 2, [](cc::ConvRequest& r) { r.pad_mode = cc::PadMode::SameLower; });
  check(s.pad_t == 1 && s.pad_b == 0 && s.pad_l == 1 && s.pad_r == 0, "same_lower puts it top/left");

  cc::ConvRequest r;
  cc::set_sizes(r, 2, 5, 8, 8, 4, 3, 3);
  r.weight[1] = 3;  // the weight expects 3 channels, the input has 5
  expect_throw(cc::codes::kChannelMismatch, [&] { cc::resolve(r); }, "channel mismatch names both",
               "the input has 5 channels");
  r.prepared = true;
  expect_throw(cc::codes::kChannelMismatch, [&] { cc::resolve(r); }, "a prepared layer speaks of itself",
               "this layer expects 3");
  r = cc::ConvRequest{};
  cc::set_sizes(r, 2, 3, 8, 8, 4, 3, 3);
  r.input[1] = 8; r.input[2] = 8; r.input[3] = 3;  // an NHWC input passed as NCHW
  expect_throw(cc::codes::kChannelMismatch, [&] { cc::resolve(r); }, "NHWC hint", "layout: 'NHWC'");
  r = cc::ConvRequest{};
  r.groups = 3;
  cc::set_sizes(r, 1, 6, 5, 5, 4, 3, 3);
  expect_throw(cc::codes::kInvalidGroups, [&] { cc::resolve(r); }, "groups not dividing Cout");
  r = cc::ConvRequest{};
  cc::set_sizes(r, 1, 4, 5, 7, 6, 3, 3);
  r.stride[0] = 0;
  expect_throw(cc::codes::kInvalidOption, [&] { cc::resolve(r); }, "stride 0");
  r.stride[0] = 1;
  r.pad[2] = -1;
  expect_throw(cc::codes::kInvalidOption, [&] { cc::resolve(r); }, "negative padding");
  r.pad[2] = 0;
  r.weight[2] = 9;
  expect_throw(cc::codes::kEmptyOutput, [&] { cc::resolve(r); }, "kernel larger than input");
  r = cc::ConvRequest{};
  cc::set_sizes(r, 1 << 20, 4, 1 << 12, 1 << 12, 6, 3, 3);
  expect_throw(cc::codes::kTooLarge, [&] { cc::resolve(r); }, "element count past 2^31");

  // Transposed convolution: input [N, Cin_t, H, W], weight IOHW [Cin_t, Cout_t/g, KH, KW].
  cc::ConvRequest t;
  t.op = cc::Op::Transpose;
  t.input[0] = 1; t.input[1] = 4; t.input[2] = 5; t.input[3] = 6;
  t.weight[0] = 4; t.weight[1] = 3; t.weight[2] = 3; t.weight[3] = 3;
  t.stride[0] = t.stride[1] = 2;
  t.pad[0] = t.pad[1] = t.pad[2] = t.pad[3] = 1;
  t.output_padding[0] = 1;
  cc::ConvProblem tp = cc::resolve(t);
  check(tp.direction == cc::Direction::BackwardData && tp.H == (5 - 1) * 2 - 2 + 3 + 1 && tp.W == (6 - 1) * 2 - 2 + 3 &&
            tp.OH == 5 && tp.OW == 6 && tp.Cin == 3 && tp.Cout == 4,
        "transposed: OH = (H-1)s - 2p + d(K-1) + op + 1, " + cc::describe(tp));
  t.output_padding[0] = 2;
  expect_throw(cc::codes::kInvalidOption, [&] { cc::resolve(t); }, "outputPadding >= max(stride, dilation)");
  t.output_padding[0] = 0;
  t.pad_mode = cc::PadMode::SameUpper;
  tp = cc::resolve(t);
  check(tp.H == 10 && tp.W == 12 && tp.OH == 5 && tp.OW == 6, "transposed 'same': output = input x stride");
  t.pad_mode = cc::PadMode::Explicit;
  t.stride[0] = t.stride[1] = 1;
  t.input[2] = t.input[3] = 1;
  t.weight[2] = t.weight[3] = 1;
  expect_throw(cc::codes::kEmptyOutput, [&] { cc::resolve(t); }, "transposed output below 1");
  t.weight[0] = 5;
  expect_throw(cc::codes::kChannelMismatch, [&] { cc::resolve(t); }, "transposed channel mismatch");
}

// A random forward problem of the sweep: odd sizes, every option, groups up to depthwise.
cc::ConvProblem random_problem(Rng& r) {
  for (;;) {
    cc::ConvRequest q;
    q.groups = r.pick({1, 1, 1, 2, 3});
    int64_t Cg = r.pick({1, 2, 3, 5, 8, 17});
    int64_t C = Cg * q.groups, K = q.groups * r.pick({1, 2, 3, 4, 7, 16, 33});
    if (r.range(0, 9) == 0) {  // depthwise
      C = r.pick({1, 3, 8});
      q.groups = C;
      K = C * r.pick({1, 2});
    }
    q.stride[0] = r.pick({1, 1, 2, 3});
    q.stride[1] = r.pick({1, 1, 2, 3});
    q.dilation[0] = r.pick({1, 1, 2});
    q.dilation[1] = r.pick({1, 1, 2});
    q.pad_mode = cc::PadMode(r.range(0, 3));
    for (auto& p : q.pad) p = r.range(0, 3);
    q.layout = r.pick({0, 1}) ? cc::Layout::NHWC : cc::Layout::NCHW;
    q.weight_layout = r.pick({0, 1}) ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
    q.epilogue.bias = r.range(0, 1);
    q.epilogue.act = r.range(0, 3) == 0 ? cc::Activation::Relu : cc::Activation::None;
    int64_t KH = r.pick({1, 2, 3, 5, 7}), KW = r.pick({1, 2, 3, 5, 7});
    if (r.range(0, 3) == 0) {  // a quarter: stride-1 undilated 3x3 or 5x5, as networks mostly have (Winograd)
      q.stride[0] = q.stride[1] = q.dilation[0] = q.dilation[1] = 1;
      KH = KW = r.pick({3, 3, 5});
    }
    cc::set_sizes(q, r.pick({1, 1, 2, 3}), C, r.range(1, 23), r.range(1, 23), K, KH, KW);
    try {
      return cc::resolve(q);
    } catch (const cc::Error&) {  // empty output: draw again
    }
  }
}

// Every algorithm that can run the problem, forced, at 1 and 2 threads, against the reference.
void random_sweep(uint64_t seed, int cases) {
  Rng r(seed);
  const auto& names = cc::algorithm_names();
  std::vector<int> ran(names.size(), 0);
  for (int t = 0; t < cases; ++t) {
    const cc::ConvProblem p = random_problem(r);
    const auto x = r.floats(p.x_elems()), w = r.floats(p.w_elems()), bias = r.floats(p.Cout);
    const float* b = p.epilogue.bias ? bias.data() : nullptr;
    const auto ref = reference(p, x, w, b);
    for (int a : runnable(p)) {
      ++ran[size_t(a)];
      for (int threads : {1, 2}) {
        const double err = rel_error(forward(p, x, w, b, threads, a), ref);
        check(err <= 1e-5, std::string(kernel_name()) + " " + names[size_t(a)] + " case " + std::to_string(t) +
                               " threads " + std::to_string(threads) + " " + cc::describe(p) + ": rel err " +
                               std::to_string(err));
      }
    }
  }
  // Each forward entry must have been exercised (a registry entry the sweep never reaches is untested).
  size_t n = 0;
  const cc::Algorithm* const* list = cc::algorithms(&n);
  for (size_t i = 0; i < n; ++i)
    if (list[i]->direction == cc::Direction::Forward)
      // Winograd's entries can run only stride-1 undilated 3x3 / 5x5 layers (a quarter of the sweep is
      // drawn so, the rest by chance): at least 1 case in 40 for every entry.
      check(ran[size_t(cc::algorithm_index(list[i]->name))] >= std::max(1, cases / 40),
            std::string("the sweep ran ") + list[i]->name + " on " + std::to_string(ran[size_t(cc::algorithm_index(list[i]->name))]) +
                " cases");
}

// ----- the backward directions ------------------------------------------------------------------

// The tensors of every direction of p: x, w (p.weight_layout), dy (the forward output's shape), the
// bias of the epilogue (forward: Cout, backward-data: Cin).
struct Tensors {
  std::vector<float> x, w, dy, bias;
  Tensors(const cc::ConvProblem& p, Rng& r)
      : x(r.floats(p.x_elems())), w(r.floats(p.w_elems())), dy(r.floats(p.y_elems())), bias(r.floats(p.bias_elems())) {}
};

// Runs p's direction with algorithm `algorithm` (-1: auto); backward-weights also writes the bias
// gradient into *db when p.epilogue.bias. Outputs poisoned with NaN first.
std::vector<float> run_dir(const cc::ConvProblem& p, const Tensors& t, int threads, int algorithm,
                           std::vector<float>* db = nullptr) {
  std::vector<float> out(size_t(p.dst_elems()), NAN);
  cc::RunArgs a;
  a.dst = out.data();
  const bool bias = p.epilogue.bias;
  switch (p.direction) {
    case cc::Direction::Forward: a.src = t.x.data(); a.w = t.w.data(); a.bias = bias ? t.bias.data() : nullptr; break;
    case cc::Direction::BackwardData: a.src = t.dy.data(); a.w = t.w.data(); a.bias = bias ? t.bias.data() : nullptr; break;
    case cc::Direction::BackwardWeights:
      a.src = t.x.data();
      a.src2 = t.dy.data();
      if (bias && db) {
        db->assign(size_t(p.Cout), NAN);
        a.dst2 = db->data();
      }
      break;
  }
  cc::PlanOptions o;
  o.threads = threads;
  o.algorithm = algorithm;
  cc::compute(p, a, o);
  return out;
}

std::vector<double> ref_dir(const cc::ConvProblem& p, const Tensors& t, std::vector<double>* db = nullptr) {
  std::vector<double> out(size_t(p.dst_elems()));
  const bool bias = p.epilogue.bias;
  if (db) db->assign(size_t(p.Cout), 0.0);
  switch (p.direction) {
    case cc::Direction::Forward: cc::conv2d_reference(p, t.x.data(), t.w.data(), bias ? t.bias.data() : nullptr, out.data()); break;
    case cc::Direction::BackwardData: cc::conv2d_reference(p, t.dy.data(), t.w.data(), bias ? t.bias.data() : nullptr, out.data()); break;
    case cc::Direction::BackwardWeights:
      cc::conv2d_reference(p, t.x.data(), t.dy.data(), nullptr, out.data(), bias && db ? db->data() : nullptr);
      break;
  }
  return out;
}

cc::ConvProblem with_direction(cc::ConvProblem p, cc::Direction d) {
  p.direction = d;
  if (d == cc::Direction::BackwardWeights) p.epilogue.act = cc::Activation::None;
  return p;
}

// Pointwise batches that plan() folds into one image (NHWC, or NCHW with one pixel: a dense layer
// [N, C, 1, 1]) and one it must not fold (NCHW with several pixels): every algorithm of every
// direction against the reference, groups, bias (and its gradient) and relu, thread counts 1 and 2;
// the fold happens exactly where it may.
void pointwise_batches(uint64_t seed) {
  Rng r(seed ^ 0x3c6ef372fe94f82bULL);
  const auto& names = cc::algorithm_names();
  struct Case { cc::Layout layout; int64_t H, W; bool folds; };
  for (const Case c : {Case{cc::Layout::NCHW, 1, 1, true}, Case{cc::Layout::NHWC, 1, 1, true},
                       Case{cc::Layout::NHWC, 3, 5, true}, Case{cc::Layout::NCHW, 3, 5, false}})
    for (int64_t groups : {1, 3}) {
      const int64_t N = r.range(2, 9), C = 3 * r.range(1, 40), Cout = 3 * r.range(1, 45);
      const cc::ConvProblem base = problem(N, C, c.H, c.W, Cout, 1, 1, [&](cc::ConvRequest& q) {
        q.layout = c.layout;
        q.groups = groups;
        q.epilogue.bias = true;
        q.epilogue.act = r.range(0, 1) ? cc::Activation::Relu : cc::Activation::None;
      });
      for (cc::Direction d : {cc::Direction::Forward, cc::Direction::BackwardData, cc::Direction::BackwardWeights}) {
        const cc::ConvProblem p = with_direction(base, d);
        const cc::Plan pl = cc::plan(p);
        check((pl.problem.N == 1) == c.folds && pl.problem.OW * pl.problem.OH * pl.problem.N == N * c.H * c.W,
              "plan folds the batch of " + cc::describe(p) + (c.folds ? "" : " not"));
        const Tensors ts(p, r);
        std::vector<double> ref_db;
        const auto ref = ref_dir(p, ts, &ref_db);
        for (int a : runnable(p))
          for (int threads : {1, 2}) {
            std::vector<float> db;
            const auto out = run_dir(p, ts, threads, a, &db);
            const std::string what = std::string(kernel_name()) + " " + names[size_t(a)] + " pointwise batch " +
                                     cc::describe(p) + " threads " + std::to_string(threads);
            const double err = rel_error(out, ref);
            check(err <= 1e-5, what + ": rel err " + std::to_string(err));
            if (d == cc::Direction::BackwardWeights) check(rel_error(db, ref_db) <= 1e-5, what + ": bias gradient");
          }
      }
    }
}

// A random transposed convolution: input [N, Cin_t, H, W], weight IOHW / HWOI, every padding form,
// outputPadding below max(stride, dilation); resolved to its backward-data problem.
cc::ConvProblem random_transpose(Rng& r) {
  for (;;) {
    cc::ConvRequest q;
    q.op = cc::Op::Transpose;
    q.groups = r.pick({1, 1, 2, 3});
    const int64_t Cg = r.pick({1, 2, 3, 5, 9}), Kg = r.pick({1, 2, 4, 7, 16});
    int64_t Cin = Cg * q.groups, Cout = Kg * q.groups;  // of the forward problem
    if (r.range(0, 7) == 0) { Cin = r.pick({1, 4, 8}); q.groups = Cin; Cout = Cin; }  // depthwise
    for (int a = 0; a < 2; ++a) {
      q.stride[a] = r.pick({1, 2, 2, 3, 5});
      q.dilation[a] = r.pick({1, 1, 2, 3});
      q.output_padding[a] = r.range(0, std::max(q.stride[a], q.dilation[a]) - 1);
    }
    q.pad_mode = r.pick({0, 0, 1, 2}) == 2 ? cc::PadMode::SameUpper : cc::PadMode(r.pick({0, 0, 1}));
    if (q.pad_mode == cc::PadMode::SameUpper) q.output_padding[0] = q.output_padding[1] = 0;
    for (auto& p : q.pad) p = r.range(0, 3);
    q.layout = r.pick({0, 1}) ? cc::Layout::NHWC : cc::Layout::NCHW;
    q.weight_layout = r.pick({0, 1}) ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
    q.epilogue.bias = r.range(0, 1);
    q.epilogue.act = r.range(0, 3) == 0 ? cc::Activation::Relu : cc::Activation::None;
    // set_sizes takes the forward sizes: its H, W are the transposed input's (the forward output).
    cc::set_sizes(q, r.pick({1, 2, 3}), Cin, r.range(1, 13), r.range(1, 13), Cout, r.pick({1, 2, 3, 4, 5}),
                  r.pick({1, 2, 3, 5}));
    try {
      return cc::resolve(q);
    } catch (const cc::Error&) {
    }
  }
}

// Every entry of each backward direction, forced, at 1 and 2 threads, against the float64 reference:
// the forward sweep's problems as backward-data and backward-weights, and random transposed
// convolutions. Each run is repeated once: the same threads must give the same bits.
void backward_sweep(uint64_t seed, int cases) {
  Rng r(seed ^ 0x6a09e667f3bcc909ULL);
  const auto& names = cc::algorithm_names();
  std::vector<int> ran_d(names.size(), 0), ran_w(names.size(), 0);
  for (int t = 0; t < cases; ++t) {
    const cc::ConvProblem base = random_problem(r);
    const cc::ConvProblem probs[] = {with_direction(base, cc::Direction::BackwardData),
                                     with_direction(base, cc::Direction::BackwardWeights), random_transpose(r)};
    for (const cc::ConvProblem& p : probs) {
      const Tensors ts(p, r);
      std::vector<double> ref_db;
      const auto ref = ref_dir(p, ts, &ref_db);
      for (int a : runnable(p)) {
        ++(p.direction == cc::Direction::BackwardData ? ran_d : ran_w)[size_t(a)];
        for (int threads : {1, 2}) {
          std::vector<float> db, db2;
          const auto out = run_dir(p, ts, threads, a, &db);
          const std::string what = std::string(kernel_name()) + " " + names[size_t(a)] + " case " + std::to_string(t) +
                                   " threads " + std::to_string(threads) + " " + cc::describe(p);
          const double err = rel_error(out, ref);
          check(err <= 1e-5, what + ": rel err " + std::to_string(err));
          if (p.direction == cc::Direction::BackwardWeights && p.epilogue.bias)
            check(rel_error(db, ref_db) <= 1e-5, what + ": bias gradient");
          const auto again = run_dir(p, ts, threads, a, &db2);
          check(std::memcmp(out.data(), again.data(), out.size() * 4) == 0 && db == db2, what + ": same bits twice");
        }
      }
    }
  }
  size_t n = 0;
  const cc::Algorithm* const* list = cc::algorithms(&n);
  for (size_t i = 0; i < n; ++i) {
    if (list[i]->direction == cc::Direction::Forward) continue;
    const int ran = (list[i]->direction == cc::Direction::BackwardData ? ran_d : ran_w)[size_t(cc::algorithm_index(list[i]->name))];
    check(ran > cases / 10, std::string("the backward sweep ran ") + list[i]->name + " (" +
                                cc::direction_name(list[i]->direction) + ") on " + std::to_string(ran) + " cases");
  }
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
  return s;
}
double abs_dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += std::fabs(double(a[i]) * double(b[i]));
  return s;
}

// The adjoint identities <conv(x, w), g> = <x, gradInput(g, w)> = <w, gradWeight(x, g)>, each side
// computed by the kernels ('auto'), without the reference; and a float64 finite difference of
// L(x, w) = <conv_reference(x, w), g> against single elements of gradInput and gradWeight (x and w
// are multiples of 2^-10, so x +- 2^-4 is exact in float32).
void adjoint_and_finite_differences(uint64_t seed) {
  Rng r(seed ^ 0xbb67ae8584caa73bULL);
  for (int t = 0; t < 24; ++t) {
    cc::ConvProblem p = t % 3 == 2 ? random_transpose(r) : random_problem(r);
    p.epilogue = cc::Epilogue{};
    Tensors ts(with_direction(p, cc::Direction::Forward), r);
    for (auto* v : {&ts.x, &ts.w, &ts.dy})
      for (float& f : *v) f = std::round(f * 1024.0f) / 1024.0f;
    const auto y = run_dir(with_direction(p, cc::Direction::Forward), ts, 2, -1);
    const auto gx = run_dir(with_direction(p, cc::Direction::BackwardData), ts, 2, -1);
    const auto gw = run_dir(with_direction(p, cc::Direction::BackwardWeights), ts, 2, -1);
    const double lhs = dot(y, ts.dy), rx = dot(ts.x, gx), rw = dot(ts.w, gw);
    const double scale = std::max({1.0, abs_dot(y, ts.dy), abs_dot(ts.x, gx), abs_dot(ts.w, gw)});
    check(std::fabs(lhs - rx) <= 1e-5 * scale && std::fabs(lhs - rw) <= 1e-5 * scale,
          std::string(kernel_name()) + " adjoint identities " + cc::describe(p) + ": " + std::to_string(lhs) + " " +
              std::to_string(rx) + " " + std::to_string(rw));
    // L(x, w) in float64 from the reference forward.
    const cc::ConvProblem fwd = with_direction(p, cc::Direction::Forward);
    auto loss = [&](const Tensors& v) {
      std::vector<double> yr(size_t(fwd.y_elems()));
      cc::conv2d_reference(fwd, v.x.data(), v.w.data(), nullptr, yr.data());
      double s = 0.0;
      for (size_t i = 0; i < yr.size(); ++i) s += yr[i] * double(v.dy[i]);
      return s;
    };
    const float h = 1.0f / 16.0f;
    for (int probe = 0; probe < 3; ++probe) {
      for (int which = 0; which < 2; ++which) {
        std::vector<float>& v = which ? ts.w : ts.x;
        const std::vector<float>& grad = which ? gw : gx;
        const size_t i = size_t(r.range(0, int64_t(v.size()) - 1));
        const float keep = v[i];
        v[i] = keep + h;
        const double up = loss(ts);
        v[i] = keep - h;
        const double down = loss(ts);
        v[i] = keep;
        const double fd = (up - down) / (2.0 * double(h));
        check(std::fabs(fd - double(grad[i])) <= 1e-5 * std::max(1.0, std::fabs(fd)),
              std::string(kernel_name()) + " finite difference of " + (which ? "gradWeight" : "gradInput") + "[" +
                  std::to_string(i) + "] " + cc::describe(p) + ": " + std::to_string(fd) + " vs " + std::to_string(grad[i]));
      }
    }
  }
}

// 'auto' picks what the registry order says, and a forced entry that cannot run the problem is a
// RangeError naming the ones that can.
void selection() {
  const cc::ConvProblem depthwise = problem(1, 8, 16, 16, 8, 3, 3, [](cc::ConvRequest& r) { r.groups = 8; });
  check(std::strcmp(cc::plan(depthwise).algorithm->name, "direct") == 0, "auto: depthwise takes direct");
  const cc::ConvProblem pw = problem(2, 64, 20, 20, 32, 1, 1);
  check(std::strcmp(cc::plan(pw).algorithm->name, "packed_gemm") == 0, "auto: 1x1 NCHW takes packed_gemm");
  const cc::ConvProblem s3 = problem(2, 64, 20, 20, 32, 3, 3, [](cc::ConvRequest& r) { r.pad_mode = cc::PadMode::SameUpper; });
  check(std::strncmp(cc::plan(s3).algorithm->name, "winograd_", 9) == 0, "auto: 3x3 64 -> 32 takes Winograd");
  const cc::ConvProblem s3h = problem(2, 64, 20, 20, 32, 3, 3, [](cc::ConvRequest& r) {
    r.pad_mode = cc::PadMode::SameUpper;
    r.layout = cc::Layout::NHWC;
  });
  check(std::strcmp(cc::plan(s3h).algorithm->name, "implicit_gemm") == 0, "auto: 3x3 NHWC takes implicit_gemm");
  const cc::ConvProblem s3s = problem(2, 64, 20, 20, 32, 3, 3, [](cc::ConvRequest& r) { r.stride[0] = 2; });
  check(std::strcmp(cc::plan(s3s).algorithm->name, "implicit_gemm") == 0, "auto: 3x3 stride 2 takes implicit_gemm");
  const cc::ConvProblem nhwc = problem(1, 8, 16, 16, 8, 3, 3, [](cc::ConvRequest& r) { r.layout = cc::Layout::NHWC; });
  cc::PlanOptions o;
  o.algorithm = cc::algorithm_index("direct");
  expect_throw(cc::codes::kInvalidOption, [&] { cc::plan(nhwc, o); }, "forcing direct on NHWC", "valid here: 'auto'");
}

// 1x1 kernels with padding only at the bottom / right (found by the fuzzer: the packed path's 1x1
// fast copy read past the input), every algorithm, both layouts.
void pointwise_padding(uint64_t seed) {
  Rng r(seed ^ 0x51ed27ULL);
  for (auto layout : {cc::Layout::NCHW, cc::Layout::NHWC})
    for (int64_t pb : {0, 1, 3})
      for (int64_t pr : {0, 2}) {
        const cc::ConvProblem p = problem(2, 5, 7, 9, 6, 1, 1, [&](cc::ConvRequest& q) {
          q.layout = layout;
          q.pad[1] = pb;
          q.pad[3] = pr;
          q.epilogue.bias = true;
        });
        const auto x = r.floats(p.x_elems()), w = r.floats(p.w_elems()), bias = r.floats(p.Cout);
        const auto ref = reference(p, x, w, bias.data());
        for (int a : runnable(p)) {
          const double err = rel_error(forward(p, x, w, bias.data(), 2, a), ref);
          check(err <= 1e-5, std::string(kernel_name()) + " " + cc::algorithm_names()[size_t(a)] + " 1x1 padded " +
                                 cc::describe(p) + ": rel err " + std::to_string(err));
        }
      }
}

// Few small images (a late layer at N = 1): the team splits the output channels; both thread counts
// must agree with the reference, M not a multiple of MR, strides 1 and 2.
void channel_split(uint64_t seed) {
  Rng r(seed ^ 0x2545f4914f6cdd1dULL);
  for (int64_t stride : {1, 2}) {
    const cc::ConvProblem p = problem(1, 64, 7, 9, 130, 3, 3, [&](cc::ConvRequest& q) {
      q.stride[0] = q.stride[1] = stride;
      q.pad_mode = cc::PadMode::SameUpper;
      q.epilogue.bias = true;
    });
    const auto x = r.floats(p.x_elems()), w = r.floats(p.w_elems()), bias = r.floats(p.Cout);
    const auto ref = reference(p, x, w, bias.data());
    for (int threads : {1, 2}) {
      const double err = rel_error(forward(p, x, w, bias.data(), threads), ref);
      check(err <= 1e-5, std::string(kernel_name()) + " channel split " + cc::describe(p) + " threads " +
                             std::to_string(threads) + ": rel err " + std::to_string(err));
    }
  }
}

// The workspace does not grow with N, H or W: per-thread buffers bounded by the tile.
void workspace_bounded() {
  for (auto layout : {cc::Layout::NCHW, cc::Layout::NHWC})
    for (int64_t k : {1, 3, 5}) {
      size_t most = 0;
      for (int64_t n : {1, 8})
        for (int64_t hw : {32, 600, 2000}) {
          const cc::ConvProblem p = problem(n, 64, hw, hw, 64, k, k, [&](cc::ConvRequest& q) {
            q.pad_mode = cc::PadMode::SameUpper;
            q.layout = layout;
          });
          cc::PlanOptions o;
          o.threads = 2;
          most = std::max(most, cc::plan(p, o).workspace_bytes);
        }
      const size_t weights = size_t(64 * 64 * k * k) * 4;
      check(most <= weights + 2 * (size_t(4) << 20) + 4096,
            "workspace bounded (k=" + std::to_string(k) + "): " + std::to_string(most) + " bytes");
    }
}

// Prepared weights: packed once (lazily), inputs of several sizes, every algorithm, against the
// reference (for bf16: on the rounded inputs and weights); bytes grow by the packed panels.
void prepared_weights(uint64_t seed, cc::Precision precision) {
  Rng r(seed ^ 0x5bd1e995ULL ^ uint64_t(precision));
  const bool bf16 = precision == cc::Precision::BF16;
  for (int t = 0; t < 12; ++t) {
    const int64_t groups = r.pick({1, 1, 2, 4}), Cg = r.pick({1, 3, 9, 20});
    const int64_t K = groups * r.pick({1, 2, 9, 17}), KH = r.pick({1, 3}), KW = r.pick({1, 3, 5});
    auto opts = [&, layout = r.pick({0, 1}), wl = r.pick({0, 1}), relu = r.range(0, 1)](cc::ConvRequest& q) {
      q.groups = groups;
      q.pad_mode = cc::PadMode::SameUpper;
      q.layout = layout ? cc::Layout::NHWC : cc::Layout::NCHW;
      q.weight_layout = wl ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
      q.epilogue.bias = true;
      q.epilogue.act = relu ? cc::Activation::Relu : cc::Activation::None;
      q.precision = precision;
    };
    const cc::ConvProblem p0 = problem(1, Cg * groups, 8, 8, K, KH, KW, opts);
    const auto w = r.floats(p0.w_elems()), bias = r.floats(K);
    const cc::PreparedWeights pw(p0, w.data(), bias.data());
    const size_t before = pw.bytes();
    for (int rep = 0; rep < 3; ++rep) {
      const cc::ConvProblem p = problem(r.range(1, 3), Cg * groups, r.range(1, 40), r.range(1, 40), K, KH, KW, opts);
      const auto x = r.floats(p.x_elems());
      const auto ref = bf16 ? reference(p, bf16_rounded(x), bf16_rounded(w), bias.data()) : reference(p, x, w, bias.data());
      for (int a : runnable(p)) {
        const double err = rel_error(forward_prepared(p, pw, x, int(r.range(1, 2)), a), ref);
        check(err <= 1e-5, std::string(kernel_name()) + " prepared " + (bf16 ? "bf16 " : "") +
                               cc::algorithm_names()[size_t(a)] + " " + cc::describe(p) + ": rel err " +
                               std::to_string(err));
      }
    }
    check(pw.bytes() >= before, "prepared bytes never shrink");
  }
}

// Shapes around the kernel set's tile sizes: GEMM M (output channels) just below / above MR and
// 2*MR, pixels around NR and the tile width, GEMM K (Cg*KH*KW) around KC and 2*KC; both layouts,
// 1 and 2 threads, bias and relu, every algorithm. Then the plain sgemm across the same remainders.
void tile_remainders(uint64_t seed) {
  Rng r(seed ^ 0x9e3779b97f4a7c15ULL);
  const cc::KernelSet& kr = cc::kernels();
  const int64_t mr = kr.mr, nr = kr.nr, kc = kr.kc;
  const int64_t ms[] = {1, mr - 1, mr + 1, 2 * mr + 1};
  // (Cg, KH=KW) giving Cg*KH*KW just below / at / above KC and 2*KC
  const int64_t ks[][2] = {{(kc - 1) / 9, 3}, {kc, 1}, {kc + 1, 1}, {(kc + 9) / 9, 3}, {(2 * kc + 25) / 25, 5}};
  int i = 0;
  for (int64_t M : ms)
    for (auto& kk : ks) {
      const int64_t pix[] = {nr - 1, nr + 1, 2 * nr + 3, int64_t(kr.nc) + 5};
      const int64_t P = pix[i++ % 4];
      const bool relu = r.range(0, 1);
      const cc::ConvProblem p = problem(r.pick({1, 2}), kk[0], 1 + P / 23, 23, std::max<int64_t>(M, 1), kk[1], kk[1],
                                        [&, layout = r.pick({0, 1})](cc::ConvRequest& q) {
                                          q.pad_mode = cc::PadMode::SameUpper;
                                          q.layout = layout ? cc::Layout::NHWC : cc::Layout::NCHW;
                                          q.epilogue.bias = true;
                                          q.epilogue.act = relu ? cc::Activation::Relu : cc::Activation::None;
                                        });
      const auto x = r.floats(p.x_elems()), w = r.floats(p.w_elems()), bias = r.floats(p.Cout);
      const auto ref = reference(p, x, w, bias.data());
      for (int a : runnable(p))
        for (int threads : {1, 2}) {
          const double err = rel_error(forward(p, x, w, bias.data(), threads, a), ref);
          check(err <= 1e-5, std::string(kr.name) + " " + cc::algorithm_names()[size_t(a)] + " tile remainder " +
                                 cc::describe(p) + " threads " + std::to_string(threads) + ": rel err " +
                                 std::to_string(err));
        }
    }
  for (int64_t M : {int64_t(1), mr - 1, mr + 1})
    for (int64_t N : {int64_t(1), nr - 1, nr + 1, int64_t(kr.nc) + 1})
      for (int64_t K : {int64_t(1), kc - 1, kc + 1}) {
        if (M < 1) continue;
        const auto A = r.floats(M * K), B = r.floats(K * N), bias = r.floats(M);
        std::vector<float> C(size_t(M * N), NAN);
        cc::sgemm(kr, M, N, K, A.data(), K, B.data(), N, C.data(), N, bias.data());
        std::vector<double> ref(size_t(M * N));
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double acc = bias[size_t(i)];
            for (int64_t k = 0; k < K; ++k) acc += double(A[size_t(i * K + k)]) * B[size_t(k * N + j)];
            ref[size_t(i * N + j)] = acc;
          }
        const double err = rel_error(C, ref);
        check(err <= 1e-5, std::string(kr.name) + " sgemm " + std::to_string(M) + "x" + std::to_string(N) + "x" +
                               std::to_string(K) + ": rel err " + std::to_string(err));
      }
}

// Winograd's accuracy contract at the K the random sweep does not reach (its Cg stays small): relative
// L2 error <= 1e-5 against float64 with inputs in [-1, 1] (docs/PERF.md, "Winograd": measured up to
// K = 4608), and a max-norm error within twice the table's worst (F(4x4, 3x3): 1e-5 at K = 4608;
// the sweep's 1e-5 holds at its own K), every Winograd entry that runs the layer.
void winograd_contract(uint64_t seed) {
  Rng r(seed ^ 0x3c6ef372fe94f82bULL);
  const auto& names = cc::algorithm_names();
  for (int64_t k : {3, 5})
    for (int64_t cg : {64, 256}) {
      if (k == 5 && cg > 64) continue;  // K = 1600
      const cc::ConvProblem p = problem(1, cg, 13, 11, 19, k, k, [](cc::ConvRequest& q) {
        q.pad_mode = cc::PadMode::SameUpper;
        q.epilogue.bias = true;
      });
      const auto x = r.floats(p.x_elems()), w = r.floats(p.w_elems()), bias = r.floats(p.Cout);
      const auto ref = reference(p, x, w, bias.data());
      for (int a : runnable(p)) {
        if (std::strncmp(names[size_t(a)], "winograd", 8) != 0) continue;
        const auto y = forward(p, x, w, bias.data(), 2, a);
        double num = 0, den = 0;
        for (size_t i = 0; i < y.size(); ++i) {
          const double e = double(y[i]) - ref[i];
          num += std::isnan(e) ? INFINITY : e * e;
          den += ref[i] * ref[i];
        }
        const double l2 = std::sqrt(num / den), mx = rel_error(y, ref);
        // The contract is the relative L2 error; the max-norm error at this K sits at ~1e-5 on the
        // generic set (no FMA): bounded at twice that.
        check(l2 <= 1e-5 && mx <= 2e-5, std::string(kernel_name()) + " " + names[size_t(a)] + " contract " +
                                            cc::describe(p) + ": rel L2 " + std::to_string(l2) + ", max-norm " +
                                            std::to_string(mx));
      }
    }
}

// Winograd on wide rows, which the random sweep (widths <= 23) never draws: runs of more tiles than one
// chunk of transform lanes (16) and rows staged in more than one block of 16 M columns, runs cut by the
// end of a panel, odd widths, left / right padding 0-2, NCHW and NHWC, every Winograd entry forced at 1
// and 2 threads, against the reference at the sweep's bound.
void winograd_wide(uint64_t seed) {
  Rng r(seed ^ 0x510e527fade682d1ULL);
  const auto& names = cc::algorithm_names();
  int ran = 0;
  for (int64_t k : {3, 5})
    for (int64_t W : {61, 130, 263})
      for (int variant = 0; variant < 3; ++variant) {
        const cc::ConvProblem p = problem(variant == 2 ? 2 : 1, 3, variant == 1 ? 6 : 9, W, 5, k, k, [&](cc::ConvRequest& q) {
          q.pad[0] = q.pad[1] = variant;              // top, bottom
          q.pad[2] = variant, q.pad[3] = 2 - variant;  // left, right
          q.layout = variant == 1 ? cc::Layout::NHWC : cc::Layout::NCHW;
          q.epilogue.bias = true;
          q.epilogue.act = variant == 2 ? cc::Activation::Relu : cc::Activation::None;
        });
        const auto x = r.floats(p.x_elems()), w = r.floats(p.w_elems()), bias = r.floats(p.Cout);
        const auto ref = reference(p, x, w, bias.data());
        for (int a : runnable(p)) {
          if (std::strncmp(names[size_t(a)], "winograd", 8) != 0) continue;
          ++ran;
          for (int threads : {1, 2}) {
            const double err = rel_error(forward(p, x, w, bias.data(), threads, a), ref);
            check(err <= 1e-5, std::string(kernel_name()) + " " + names[size_t(a)] + " wide " + cc::describe(p) +
                                   " threads " + std::to_string(threads) + ": rel err " + std::to_string(err));
          }
        }
      }
  check(ran == 27, "winograd_wide ran " + std::to_string(ran) + " (entry, layer) pairs, expected 27");
}

// parallel_for (OpenMP, or the std::thread pool of a build without it): every task runs exactly once,
// thread ids stay below the team size, from one caller and from several callers at once, nested too.
void parallel_loops() {
  auto once = [](int threads, int64_t tasks, const std::string& what) {
    std::vector<std::atomic<int>> hits(size_t(std::max<int64_t>(tasks, 0)));
    std::atomic<int> bad_id{0};
    const int team = int(std::max<int64_t>(1, std::min<int64_t>(threads, tasks)));
    cc::parallel_for(threads, tasks, [&](int64_t t, int id) {
      hits[size_t(t)].fetch_add(1);
      if (id < 0 || id >= team) bad_id.fetch_add(1);
    });
    bool ok = bad_id.load() == 0;
    for (auto& h : hits) ok = ok && h.load() == 1;
    return ok || (check(false, what + ": threads " + std::to_string(threads) + ", tasks " + std::to_string(tasks)), false);
  };
  bool ok = true;
  for (int threads : {1, 2, 3, 8})
    for (int64_t tasks : {0, 1, 2, 7, 100}) ok = once(threads, tasks, std::string(cc::parallel_runtime()) + " parallel_for") && ok;
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 20; ++rep) {
        std::atomic<int64_t> sum{0};
        cc::parallel_for(3, 50, [&](int64_t t, int) {  // each task runs a nested loop
          std::atomic<int64_t> inner{0};
          cc::parallel_for(2, 4, [&](int64_t u, int) { inner.fetch_add(u + 1); });
          sum.fetch_add(t * inner.load());
        });
        if (sum.load() != 10 * 49 * 50 / 2) failures.fetch_add(1);
      }
    });
  for (auto& t : callers) t.join();
  check(ok && failures.load() == 0, std::string(cc::parallel_runtime()) + " parallel_for: every task once, from 4 callers at once and nested");
}

// TeamPlacement (threads.h): a helper started on the CPU its team's starter claimed moves to another CPU
// it may run on and keeps its own CPU mask; a helper on an unclaimed CPU stays; one that may run only
// on the claimed CPU stays there. The stacked start is forced with affinity here (the scheduler does it
// on its own only under load). Linux with 2 or more usable CPUs.
void team_placement() {
#if defined(__linux__)
  cpu_set_t all;
  if (sched_getaffinity(0, sizeof all, &all) != 0 || CPU_COUNT(&all) < 2) {
    std::printf("team placement: SKIPPED (fewer than 2 CPUs to run on)\n");
    return;
  }
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &all)) cpus.push_back(c);
  auto only = [](int c) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(c, &one);
    return one;
  };
  // Runs on `start` (with `mask` as its own CPU mask), settles as helper 1 of a team whose starter
  // claimed `starter`; reports where it ended and its mask then.
  auto helper = [&](int starter, int start, cpu_set_t mask, int* ended, bool* same_mask) {
    cc::TeamPlacement* placement = nullptr;
    cpu_set_t s1 = only(starter);
    std::thread([&] {  // the starter's thread: claims `starter`
      sched_setaffinity(0, sizeof s1, &s1);
      placement = new cc::TeamPlacement;
    }).join();
    std::thread([&] {
      cpu_set_t s2 = only(start);
      sched_setaffinity(0, sizeof s2, &s2);  // now running on `start`
      sched_setaffinity(0, sizeof mask, &mask);  // its own mask back; it stays on `start` until it blocks
      placement->settle(1);
      *ended = sched_getcpu();
      cpu_set_t now;
      *same_mask = sched_getaffinity(0, sizeof now, &now) == 0 && CPU_EQUAL(&now, &mask);
    }).join();
    delete placement;
  };
  const int a = cpus[0], b = cpus[1];
  int ended = -1;
  bool same_mask = false;
  helper(a, a, all, &ended, &same_mask);
  check(ended != a && ended >= 0 && CPU_ISSET(ended, &all) && same_mask,
        "team placement: a helper started on its starter's CPU moves (ended on " + std::to_string(ended) +
            ") and keeps its CPU mask");
  helper(a, b, all, &ended, &same_mask);
  check(ended == b && same_mask, "team placement: a helper on another CPU stays there, mask unchanged");
  helper(a, a, only(a), &ended, &same_mask);
  check(ended == a && same_mask, "team placement: a helper that may run only on the claimed CPU stays");
#endif
}

// Every CPU configuration of the table, applied to the default kernel set: its block sizes are sane
// and the algorithms under them still give the reference's result (a short sweep and the tile
// remainders, which follow the configured kc and nc).
void configurations(uint64_t seed) {
  const cc::CpuInfo& ci = cc::cpu_info();
  std::printf("cpu: %s family 0x%x model 0x%x, %s, AVX-512 %s, L1d %lld L2 %lld L3 %lld; configuration %s\n",
              ci.vendor, ci.family, ci.model, ci.uarch, cc::avx512_width_name(ci.avx512), (long long)ci.l1d,
              (long long)ci.l2, (long long)ci.l3, cc::cpu_config().name);
  const cc::KernelSet& base = cc::kernels();
  int n = 0;
  const cc::CpuConfig* configs = cc::cpu_configs(&n);
  check(n > 0 && std::strcmp(configs[n - 1].name, "default") == 0 && configs[n - 1].matches(ci),
        "the last configuration matches any CPU");
  for (int i = 0; i < n; ++i) {
    const cc::KernelSet& k = cc::configured(base, configs[i]);
    check(&k == &cc::configured(base, configs[i]), "configured() is stable");
    check(k.kc >= 16 && k.nc >= k.nr && k.nc % k.nr == 0 && k.tile_bytes >= (64 << 10) &&
              (k.winograd_m == 2 || k.winograd_m == 4),
          std::string("configuration ") + configs[i].name + " block sizes");
    cc::force_kernels(k);
    random_sweep(seed ^ uint64_t(i + 1), 80);
    tile_remainders(seed);
  }
  cc::force_kernels(base);
}

// ----- precision 'bf16' ----------------------------------------------------------------------------

// ||y - ref||_2 / ||ref||_2 (a NaN counts as infinite): the measure of docs/PERF.md's bf16 table.
double rel_l2(const std::vector<float>& y, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double d = double(y[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return std::isnan(num) ? std::numeric_limits<double>::infinity() : std::sqrt(num / std::max(den, 1e-300));
}

cc::ConvProblem as_bf16(cc::ConvProblem p) {
  p.precision = cc::Precision::BF16;
  return p;
}

// The tight check of every bf16 result: a float64 convolution of the bf16-rounded inputs and weights
// differs from it only by the fp32 summation.
constexpr double kBf16SumBound = 1e-5;

// Special values through the kernel set's conversion (pack_pairs: contiguous, stride 2, adjacent
// channels as NHWC reads them), against bf16_round: ties to even both ways, the largest values, zeros,
// subnormals, infinities, NaN.
void bf16_rounding() {
  const cc::GemmBf16& g = cc::gemm_bf16(cc::kernels());
  const float tie_even = 1.0f + std::ldexp(1.0f, -8), tie_odd = 1.0f + 3 * std::ldexp(1.0f, -8);
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.5f, tie_even, -tie_even, tie_odd, std::nextafter(tie_even, 2.0f),
                          std::nextafter(tie_even, 0.0f), 3.14159265f, -2.71828f, 1e-30f, 1e30f, 65504.0f,
                          std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::min(), std::numeric_limits<float>::denorm_min(),
                          -1e-40f, INFINITY, -INFINITY, 3.3895e38f};
  Rng r(7);
  while (v.size() < 77) v.push_back(r.uniform() * std::ldexp(1.0f, int(r.range(-60, 60))));
  const int64_t n = int64_t(v.size());
  std::vector<float> odd(v.rbegin(), v.rend());
  // d[i] holds (lo[i], hi[i]) rounded; hi null: zeros.
  auto expect = [&](const std::vector<uint32_t>& d, const std::vector<float>& lo, const std::vector<float>* hi,
                    const std::string& what) {
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) {
      const float a = bf16_round(lo[size_t(i)]), b = hi ? bf16_round((*hi)[size_t(i)]) : 0.0f;
      uint32_t ua, ub;
      std::memcpy(&ua, &a, 4);
      std::memcpy(&ub, &b, 4);
      ok = ok && (d[size_t(i)] & 0xFFFFu) == ua >> 16 && d[size_t(i)] >> 16 == ub >> 16;
    }
    check(ok, std::string(kernel_name()) + " bf16 conversion " + what);
  };
  std::vector<uint32_t> d(size_t(n), 0xDEADBEEFu);
  g.pack_pairs(d.data(), v.data(), odd.data(), 1, n);
  expect(d, v, &odd, "contiguous");
  g.pack_pairs(d.data(), v.data(), nullptr, 1, n);
  expect(d, v, nullptr, "contiguous, no partner");
  std::vector<float> wide(size_t(2 * n));
  for (int64_t i = 0; i < n; ++i) wide[size_t(2 * i)] = v[size_t(i)], wide[size_t(2 * i + 1)] = odd[size_t(i)];
  g.pack_pairs(d.data(), wide.data(), wide.data() + 1, 2, n);  // NHWC, 2 channels
  expect(d, v, &odd, "stride 2, pairs");
  std::vector<float> six(size_t(3 * n + 3));
  for (int64_t i = 0; i < n; ++i) six[size_t(3 * i)] = v[size_t(i)], six[size_t(3 * i + 1)] = odd[size_t(i)];
  g.pack_pairs(d.data(), six.data(), six.data() + 1, 3, n);  // NHWC, 3 channels
  expect(d, v, &odd, "stride 3, pairs");
  g.pack_pairs(d.data(), nullptr, odd.data(), 1, n);  // a padding row below an input row (OddRows)
  expect(d, std::vector<float>(size_t(n), 0.0f), &odd, "contiguous, no low half");
  g.pack_pairs(d.data(), wide.data(), nullptr, 2, n);  // an odd last channel, NCHW stride 2
  expect(d, v, nullptr, "stride 2");
}

// bf16 output of p for the given algorithm and threads against the float64 reference on rounded
// inputs. (Against the exact inputs the error is a statistic of the data: bf16_accuracy bounds it on
// the table's cases; on a small random problem with cancellation it can be anything.)
void bf16_check(const cc::ConvProblem& p, const std::vector<float>& x, const std::vector<float>& w,
                const std::vector<float>& bias, int a, int threads, const std::string& what) {
  const float* b = p.epilogue.bias ? bias.data() : nullptr;
  const double err = rel_error(forward(p, x, w, b, threads, a), reference(p, bf16_rounded(x), bf16_rounded(w), b));
  check(err <= kBf16SumBound, std::string(kernel_name()) + " bf16 " + cc::algorithm_names()[size_t(a)] + " " + what +
                                  " " + cc::describe(p) + " threads " + std::to_string(threads) +
                                  ": vs rounded inputs " + std::to_string(err));
}

// The random sweep in bf16: every algorithm, 1 and 2 threads.
void bf16_sweep(uint64_t seed, int cases) {
  Rng r(seed ^ 0xbf16bf16ULL);
  for (int t = 0; t < cases; ++t) {
    const cc::ConvProblem p = as_bf16(random_problem(r));
    const auto x = r.floats(p.x_elems()), w = r.floats(p.w_elems()), bias = r.floats(p.Cout);
    for (int a : runnable(p))
      for (int threads : {1, 2}) bf16_check(p, x, w, bias, a, threads, "case " + std::to_string(t));
  }
}

// The backward directions in bf16, every entry forced, 1 and 2 threads: against the float64 reference
// of the rounded tensors (dx from dy and w, dw from x and dy); the bias gradient, a sum of dy with no
// products, stays that of the unrounded dy.
void bf16_backward_sweep(uint64_t seed, int cases) {
  Rng r(seed ^ 0x3c6ef372fe94f82bULL);
  const auto& names = cc::algorithm_names();
  for (int t = 0; t < cases; ++t) {
    const cc::ConvProblem base = random_problem(r);
    const cc::ConvProblem probs[] = {as_bf16(with_direction(base, cc::Direction::BackwardData)),
                                     as_bf16(with_direction(base, cc::Direction::BackwardWeights)),
                                     as_bf16(random_transpose(r))};
    for (const cc::ConvProblem& p : probs) {
      const Tensors ts(p, r);
      Tensors rounded = ts;
      rounded.x = bf16_rounded(ts.x);
      rounded.w = bf16_rounded(ts.w);
      rounded.dy = bf16_rounded(ts.dy);
      std::vector<double> ref_db;
      ref_dir(p, ts, &ref_db);
      const auto ref = ref_dir(p, rounded);
      for (int a : runnable(p))
        for (int threads : {1, 2}) {
          std::vector<float> db;
          const auto out = run_dir(p, ts, threads, a, &db);
          const double err = rel_error(out, ref);
          const bool bias_ok = !(p.direction == cc::Direction::BackwardWeights && p.epilogue.bias) ||
                               rel_error(db, ref_db) <= 1e-5;
          check(err <= kBf16SumBound && bias_ok, std::string(kernel_name()) + " bf16 " + names[size_t(a)] + " case " +
                                                     std::to_string(t) + " threads " + std::to_string(threads) + " " +
                                                     cc::describe(p) + ": vs rounded inputs " + std::to_string(err) +
                                                     (bias_ok ? "" : "; bias gradient"));
        }
    }
  }
}

// Shapes around the bf16 GEMM's tiles: M around MR, pixels around NR and its widest block, K pairs
// around KC and 2*KC, odd channel counts (the last channel paired with zeros); both layouts.
void bf16_tile_remainders(uint64_t seed) {
  Rng r(seed ^ 0x7f4a7c159e3779b9ULL);
  const cc::GemmBf16& g = cc::gemm_bf16(cc::kernels());
  const int64_t mr = g.mr, nr = g.nr, kc = g.kc;
  const int64_t ms[] = {1, mr - 1, mr + 1, 2 * mr + 1};
  // (Cg, KH = KW): K pairs ceil(Cg/2)*KH*KW just below / at / above KC and 2*KC, odd and even Cg
  const int64_t ks[][2] = {{2 * ((kc - 1) / 9) + 1, 3}, {2 * kc, 1}, {2 * kc + 1, 1}, {2 * ((kc + 9) / 9) - 1, 3},
                           {2 * ((2 * kc + 25) / 25) + 1, 5}, {1, 3}, {3, 7}};
  int i = 0;
  for (int64_t M : ms)
    for (auto& kk : ks) {
      const int64_t pix[] = {nr - 1, nr + 1, 2 * nr + 3, int64_t(g.nc) + 5};
      const int64_t P = pix[i++ % 4];
      const cc::ConvProblem p = as_bf16(problem(r.pick({1, 2}), kk[0], 1 + P / 23, 23, std::max<int64_t>(M, 1), kk[1],
                                                kk[1], [&, layout = r.pick({0, 1}), relu = r.range(0, 1)](cc::ConvRequest& q) {
                                                  q.pad_mode = cc::PadMode::SameUpper;
                                                  q.layout = layout ? cc::Layout::NHWC : cc::Layout::NCHW;
                                                  q.epilogue.bias = true;
                                                  q.epilogue.act = relu ? cc::Activation::Relu : cc::Activation::None;
                                                }));
      const auto x = r.floats(p.x_elems()), w = r.floats(p.w_elems()), bias = r.floats(p.Cout);
      for (int a : runnable(p))
        for (int threads : {1, 2}) bf16_check(p, x, w, bias, a, threads, "tile remainder");
    }
}

// The direct algorithm rounds a task's input rows into its thread's buffer: an input larger than the
// buffer's cap (4 MB: 40 channels of 160 x 170) is split into more row blocks, at 1 and 2 threads.
void bf16_direct_blocks(uint64_t seed) {
  Rng r(seed ^ 0x632be59bd9b4e019ULL);
  const cc::ConvProblem p = as_bf16(problem(1, 40, 160, 170, 2, 3, 3, [](cc::ConvRequest& q) {
    q.pad_mode = cc::PadMode::SameUpper;
    q.epilogue.bias = true;
  }));
  const auto x = r.floats(p.x_elems()), w = r.floats(p.w_elems()), bias = r.floats(p.Cout);
  for (int threads : {1, 2}) bf16_check(p, x, w, bias, cc::algorithm_index("direct"), threads, "row blocks");
}

// The packed weights of a bf16 layer are half those of an fp32 one (48 rows: whole panels for every
// register block here; 64 channels: whole pairs), and a prepared layer holds them after its first call.
void bf16_packed_bytes(uint64_t seed) {
  Rng r(seed ^ 0x2127599bf4325c37ULL);
  {
    // 3 channels, 7x7 stride 2 (S5): packed_gemm pairs channels (2 pairs x 49 taps); implicit_gemm
    // pairs the odd third channel's kernel rows (phase rows 0-3 and 0-2: 2 + 2 pairs x 7 columns).
    const cc::ConvProblem p = as_bf16(problem(1, 3, 30, 30, 8, 7, 7, [](cc::ConvRequest& q) {
      q.stride[0] = q.stride[1] = 2;
      q.pad_mode = cc::PadMode::SameUpper;
    }));
    cc::PlanOptions o;
    o.algorithm = cc::algorithm_index("packed_gemm");
    const size_t channels = cc::plan(p, o).packed_bytes;
    o.algorithm = cc::algorithm_index("implicit_gemm");
    const size_t rows = cc::plan(p, o).packed_bytes;
    check(channels == size_t(8 * 98 * 4) && rows == size_t(8 * 77 * 4),
          std::string(kernel_name()) + " bf16 pairs of a 3-channel 7x7 stride-2 layer: " + std::to_string(channels / 32) +
              " (channels) and " + std::to_string(rows / 32) + " (odd channel's rows)");
  }
  for (int64_t KH : {1, 3}) {
    const cc::ConvProblem p = problem(1, 64, 10, 10, 48, KH, KH);
    cc::PlanOptions o;
    o.algorithm = cc::algorithm_index("implicit_gemm");
    const size_t fp32 = cc::plan(p, o).packed_bytes, bf16 = cc::plan(as_bf16(p), o).packed_bytes;
    const auto w = r.floats(p.w_elems()), x = r.floats(p.x_elems());
    const cc::PreparedWeights pw(as_bf16(p), w.data(), nullptr);
    const size_t before = pw.bytes();
    forward_prepared(as_bf16(p), pw, x, 1, o.algorithm);
    check(fp32 == size_t(48 * 64 * KH * KH) * 4 && bf16 * 2 == fp32 && pw.bytes() == before + bf16,
          std::string(kernel_name()) + " bf16 packed weights: " + std::to_string(bf16) + " bytes vs fp32 " +
              std::to_string(fp32) + "; the layer grew by " + std::to_string(pw.bytes() - before));
  }
}

// Every kernel set this CPU runs (native AVX512_BF16 and the emulations) gives the same bf16 results
// up to fp32 summation order: each against the first set's output.
void bf16_kernel_agreement(uint64_t seed) {
  Rng r(seed ^ 0xd1b54a32d192ed03ULL);
  const cc::KernelSet& keep = cc::kernels();
  size_t n = 0;
  const cc::KernelEntry* table = cc::kernel_table(&n);
  for (int t = 0; t < 24; ++t) {
    const cc::ConvProblem p = as_bf16(random_problem(r));
    const auto x = r.floats(p.x_elems()), w = r.floats(p.w_elems()), bias = r.floats(p.Cout);
    const float* b = p.epilogue.bias ? bias.data() : nullptr;
    std::vector<float> first;
    std::string first_name;
    for (size_t i = 0; i < n; ++i) {
      if (!table[i].supported()) continue;
      cc::force_kernels(*table[i].set);
      const auto y = forward(p, x, w, b, 2);
      if (first.empty()) {
        first = y;
        first_name = table[i].set->name;
        continue;
      }
      const std::vector<double> f(first.begin(), first.end());
      const double err = rel_error(y, f);
      check(err <= 2 * kBf16SumBound, std::string("bf16 ") + table[i].set->name + " vs " + first_name + " " +
                                          cc::describe(p) + ": " + std::to_string(err));
    }
  }
  cc::force_kernels(keep);
}

// The accuracy table (docs/PERF.md, README): relative L2 error of 'bf16' against the exact float64
// result, by K = Cin*KH*KW and by the range of the data. Each case is a valid (unpadded) convolution,
// N = 1, 32 output channels, 12 x 12 outputs, so every output sums exactly K products.
struct DataRange {
  const char* name;
  double x_lo, x_hi, w_lo, w_hi;
  bool log_x;  // x = +-10^U(x_lo, x_hi)
};
const DataRange kRanges[] = {
    {"x, w in [-1, 1]", -1, 1, -1, 1, false},
    {"x in [0, 1], w in [-1, 1]", 0, 1, -1, 1, false},
    {"x, w in [0, 1]", 0, 1, 0, 1, false},
    {"x = +-10^U(-4, 4), w in [-1, 1]", -4, 4, -1, 1, true},
    {"x in [-1000, 1000], w in [-1e-3, 1e-3]", -1000, 1000, -1e-3, 1e-3, false},
};
constexpr int kRangeCount = sizeof kRanges / sizeof kRanges[0];
struct AccuracyCase {
  int64_t Cin, KH;
  double bound[kRangeCount];  // about twice what --accuracy measures
};
const AccuracyCase kAccuracy[] = {
    {1, 3, {4.2e-3, 4.4e-3, 1.8e-3, 4.6e-3, 4.4e-3}},
    {3, 3, {4.2e-3, 4.3e-3, 1.1e-3, 4.5e-3, 4.3e-3}},
    {64, 1, {4.2e-3, 4.3e-3, 7.2e-4, 4.6e-3, 4.3e-3}},
    {3, 7, {4.2e-3, 4.5e-3, 4.8e-4, 4.6e-3, 4.3e-3}},
    {64, 3, {4.2e-3, 4.1e-3, 2.2e-4, 4.6e-3, 4.3e-3}},
    {128, 3, {4.2e-3, 4.2e-3, 1.7e-4, 4.6e-3, 4.3e-3}},
    {100, 5, {4.2e-3, 4.1e-3, 1.2e-4, 4.5e-3, 4.3e-3}},
};

// Relative L2 error of the bf16 result of one case and range, with the kernel set in use.
double bf16_accuracy_case(const AccuracyCase& c, const DataRange& d, uint64_t seed) {
  Rng r(seed);
  const cc::ConvProblem p = as_bf16(problem(1, c.Cin, 12 + c.KH - 1, 12 + c.KH - 1, 32, c.KH, c.KH));
  std::vector<float> x(size_t(p.x_elems())), w(size_t(p.w_elems()));
  std::uniform_real_distribution<double> ux(d.x_lo, d.x_hi), uw(d.w_lo, d.w_hi);
  for (auto& v : x) v = d.log_x ? float((r.g() & 1 ? 1 : -1) * std::pow(10.0, ux(r.g))) : float(ux(r.g));
  for (auto& v : w) v = float(uw(r.g));
  return rel_l2(forward(p, x, w, nullptr), reference(p, x, w, nullptr));
}

void bf16_accuracy(uint64_t seed) {
  for (const AccuracyCase& c : kAccuracy)
    for (int i = 0; i < kRangeCount; ++i) {
      const double e = bf16_accuracy_case(c, kRanges[i], seed + uint64_t(i));
      check(e <= c.bound[i], std::string(kernel_name()) + " bf16 accuracy K=" + std::to_string(c.Cin * c.KH * c.KH) +
                                 ", " + kRanges[i].name + ": rel L2 " + std::to_string(e) + " (bound " +
                                 std::to_string(c.bound[i]) + ")");
    }
}

// channelconv_tests --accuracy: the table, as the mean and the largest of 10 seeds per cell.
void print_accuracy_table() {
  std::printf("| K = Cin*KH*KW |");
  for (const DataRange& d : kRanges) std::printf(" %s |", d.name);
  std::printf("\n|---:|");
  for (int i = 0; i < kRangeCount; ++i) std::printf("---:|");
  std::printf("\n");
  for (const AccuracyCase& c : kAccuracy) {
    std::printf("| %lld (%lld x %lldx%lld) |", (long long)(c.Cin * c.KH * c.KH), (long long)c.Cin, (long long)c.KH,
                (long long)c.KH);
    for (int i = 0; i < kRangeCount; ++i) {
      double sum = 0, most = 0;
      for (uint64_t s = 0; s < 10; ++s) {
        const double e = bf16_accuracy_case(c, kRanges[i], 1000 * s + uint64_t(i));
        sum += e;
        most = std::max(most, e);
      }
      std::printf(" %.2e (max %.2e; bound %.1e) |", sum / 10, most, c.bound[i]);
    }
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--accuracy") == 0) {
    std::printf("bf16 relative L2 error vs float64, kernel set %s: mean (largest) of 10 seeds\n", kernel_name());
    print_accuracy_table();
    return 0;
  }
  const uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : std::random_device{}();
  std::printf("channelconv native tests, seed %llu\n", (unsigned long long)seed);
  resolver_rules();
  // CHANNELCONV_SWEEP_CASES: a smaller sweep for slow runs (valgrind), a larger one for soaks.
  const char* cases_env = std::getenv("CHANNELCONV_SWEEP_CASES");
  const int sweep_cases = cases_env && std::atoi(cases_env) > 0 ? std::atoi(cases_env) : 200;
  workspace_bounded();
  parallel_loops();
  team_placement();
  selection();
  // Every kernel set of the table this CPU runs, forced in turn (CHANNELCONV_ISA is exercised by the
  // JS tests).
  const cc::KernelSet& default_set = cc::kernels();
  size_t n = 0;
  const cc::KernelEntry* table = cc::kernel_table(&n);
  std::vector<cc::Ukernel> fp32_done;  // sets sharing another's fp32 kernels (avx512bf16) test bf16 only
  for (size_t i = 0; i < n; ++i) {
    if (!table[i].supported()) {
      std::printf("skipping kernel set %s: not supported by this CPU\n", table[i].set->name);
      continue;
    }
    cc::force_kernels(*table[i].set);
    std::printf("kernel set %s\n", table[i].set->name);
    std::printf("  its bf16 GEMM: %s\n", cc::gemm_bf16(*table[i].set).native ? "native" : "emulated");
    if (std::find(fp32_done.begin(), fp32_done.end(), table[i].set->ukernel) == fp32_done.end()) {
      fp32_done.push_back(table[i].set->ukernel);
      lecture_examples();
      random_sweep(seed, sweep_cases);
      backward_sweep(seed, sweep_cases);
      adjoint_and_finite_differences(seed);
      tile_remainders(seed);
      prepared_weights(seed, cc::Precision::FP32);
      channel_split(seed);
      pointwise_padding(seed);
      pointwise_batches(seed);
      winograd_contract(seed);
      winograd_wide(seed);
    }
    bf16_rounding();
    bf16_sweep(seed, sweep_cases / 2);
    bf16_backward_sweep(seed, sweep_cases / 4);
    bf16_tile_remainders(seed);
    prepared_weights(seed, cc::Precision::BF16);
    bf16_packed_bytes(seed);
    bf16_direct_blocks(seed);
    bf16_accuracy(seed);
  }
  bf16_kernel_agreement(seed);
  cc::force_kernels(default_set);
  configurations(seed);
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
