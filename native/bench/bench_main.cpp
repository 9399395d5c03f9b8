// Native benchmark suite (no Node): times cc::run on plans made once (the calls the addon makes), on
// the layer shapes of bench/shapes.json, and measures the machine's fp32 FMA peak with each kernel
// set's probe to report each shape as a fraction of it.
// Usage: channelconv_bench [--shapes S1,S3] [--threads N[,M...]] [--quick] [--budget SECONDS]
//                          [--algorithms auto[,NAME...]] [--precision fp32[,bf16]] [--no-onednn] [--no-backward]
//                          [--json FILE|-]
// Prints a table on stdout (or JSON with --json -); progress on stderr when it is a terminal.
// Besides the forward rows: the backward pass of each shape but the tiny one (the input gradient, the
// weight gradient with the bias gradient, and both, as conv2dBackward runs them; fp32), unless
// --no-backward.
// Where the build has oneDNN (native/bench/onednn.cpp), its contenders run beside ours, alternating
// sample by sample, and each row gives its time over ours.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_shapes.h"  // generated from bench/shapes.json
#include "core/plan.h"
#include "core/problem.h"
#include "core/threads.h"
#include "core/reference.h"
#include "core/registry.h"
#include "cpu/kernels.h"
#include "cpu/ref/ops.h"
#include "onednn.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- shapes ---------------------------------------------------------------------------------------

using BenchShape = ccbench::Shape;

const char* precision_name(cc::Precision p) { return p == cc::Precision::BF16 ? "bf16" : "fp32"; }

cc::ConvProblem to_problem(const BenchShape& b) {
  cc::ConvRequest r;
  r.groups = b.groups;
  r.stride[0] = r.stride[1] = b.stride;
  for (auto& p : r.pad) p = b.pad;
  r.epilogue.bias = true;
  cc::set_sizes(r, b.N, b.C, b.H, b.W, b.Cout, b.KH, b.KW);
  return cc::resolve(r);
}

// ---- machine --------------------------------------------------------------------------------------

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "unknown";
}

// Last-level cache as the kernel reports it (sysfs: what this VM was given); cpuid via sysconf as a
// fallback, which on a VM may describe the whole host socket.
int64_t l3_bytes() {
  std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index3/size");
  std::string s;
  if (f >> s) {
    int64_t n = std::atoll(s.c_str());
    if (s.back() == 'K') n <<= 10;
    if (s.back() == 'M') n <<= 20;
    if (n > 0) return n;
  }
  const long v = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return v > 0 ? v : int64_t{32} << 20;
}

// ---- options --------------------------------------------------------------------------------------

struct Options {
  std::vector<const BenchShape*> shapes;
  std::vector<int> threads;
  bool accuracy = false;  // --accuracy: the error table of every algorithm by K instead of timings
  std::vector<std::string> algorithms{"auto"};  // our contenders: 'auto' and forced registry entries
  std::vector<cc::Precision> precisions{cc::Precision::FP32};  // each contender in each of these
  bool onednn = true;                           // oneDNN's contenders too, where the build has it
  bool backward = true;                         // also the backward rows
  bool quick = false;
  double budget = 2.0;        // timed seconds per shape and thread count (each contender)
  double warmup = 0.25;       // seconds of untimed calls first
  double probe_seconds = 0.3; // per (ISA, thread count) peak point
  int min_reps = 5;
  int64_t rotate_cap = int64_t{512} << 20;  // most bytes of rotated input/output sets
  std::string json;           // "" table only, "-" JSON on stdout, else a file
};

[[noreturn]] void usage(const std::string& err) {
  std::fprintf(stderr,
               "%s\nusage: channelconv_bench [--shapes S1,S3] [--threads N[,M]] [--quick] "
               "[--budget SECONDS] [--algorithms auto[,NAME...]] [--precision fp32[,bf16]] [--no-onednn] "
               "[--no-backward] [--json FILE|-]\n"
               "       channelconv_bench --accuracy   (every algorithm's error against float64, by K)\n",
               err.c_str());
  std::exit(2);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string known_shapes() {
  std::string k;
  for (const auto& s : ccbench::kShapes)
    if (!s.gpu_only) k += std::string(k.empty() ? "" : ", ") + s.id + " (" + s.name + ")";
  return k;
}

Options parse(int argc, char** argv) {
  Options o;
  bool budget_set = false;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) usage(std::string("missing value after ") + argv[i]);
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") o.quick = true;
    else if (a == "--no-onednn") o.onednn = false;
    else if (a == "--no-backward") o.backward = false;
    else if (a == "--accuracy") o.accuracy = true;
    else if (a == "--algorithms") {
      o.algorithms = split(value(i));
      for (const auto& n : o.algorithms)
        if (n != "auto" && cc::algorithm_index(n.c_str()) < 0) usage("--algorithms: unknown algorithm " + n);
    }
    else if (a == "--json") o.json = value(i);
    else if (a == "--budget") {
      char* end = nullptr;
      const std::string v = value(i);
      o.budget = std::strtod(v.c_str(), &end);
      if (*end || !(o.budget > 0)) usage("--budget wants a positive number of seconds, got " + v);
      budget_set = true;
    } else if (a == "--shapes") {
      for (const auto& id : split(value(i))) {
        const BenchShape* found = nullptr;
        for (const auto& s : ccbench::kShapes)
          if (id == s.id && !s.gpu_only) found = &s;
        if (!found) usage("unknown shape " + id + " (known: " + known_shapes() + ")");
        o.shapes.push_back(found);
      }
    } else if (a == "--threads") {
      for (const auto& t : split(value(i))) {
        char* end = nullptr;
        const long v = std::strtol(t.c_str(), &end, 10);
        if (*end || v < 1 || v > 1024) usage("--threads wants integers in 1..1024, got " + t);
        o.threads.push_back(int(v));
      }
    } else if (a == "--precision") {
      o.precisions.clear();
      for (const auto& t : split(value(i))) {
        if (t == "fp32") o.precisions.push_back(cc::Precision::FP32);
        else if (t == "bf16") o.precisions.push_back(cc::Precision::BF16);
        else usage("--precision wants fp32 and/or bf16, got " + t);
      }
      if (o.precisions.empty()) usage("--precision wants fp32 and/or bf16");
    } else if (a == "--help" || a == "-h") usage("channelconv native benchmark");
    else usage("unknown option " + a);
  }
  if (o.shapes.empty())
    for (const auto& s : ccbench::kShapes)
      if (!s.gpu_only) o.shapes.push_back(&s);
  if (o.threads.empty()) o.threads.push_back(cc::default_threads());
  if (o.quick) {
    if (!budget_set) o.budget = 0.2;
    o.warmup = 0.02;
    o.probe_seconds = 0.05;
    o.min_reps = 3;
    o.rotate_cap = int64_t{96} << 20;
  }
  return o;
}

// ---- progress -------------------------------------------------------------------------------------

const bool g_tty = isatty(2);
// At most a few updates a second: a terminal write between samples should cost nothing measurable.
void progress(const std::string& msg) {
  static Clock::time_point last;
  if (!g_tty || Clock::now() - last < std::chrono::milliseconds(200)) return;
  last = Clock::now();
  std::fprintf(stderr, "\r\033[K%s", msg.c_str());
}
void progress_done() {
  if (g_tty) std::fprintf(stderr, "\r\033[K");
}

// ---- peak -----------------------------------------------------------------------------------------

volatile float g_sink;

struct PeakPoint {
  std::string isa;
  std::string precision;  // "fp32": the FMA probe; "bf16": the bf16 dot-product probe (native bf16 only)
  int threads;
  double gflops;
};

struct Probe {
  float (*peak)(int64_t iters, float seed);
  int64_t peak_flops;
};
Probe probe_of(const cc::KernelSet& k, const std::string& precision) {
  if (precision == "bf16") return {cc::gemm_bf16(k).peak, cc::gemm_bf16(k).peak_flops};
  return {k.peak, k.peak_flops};
}

// Best rate of `threads` threads each running the probe; the maximum over trials, because noise
// from other processes only ever lowers it.
double probe_rate(const Probe& k, int threads, double seconds) {
  int64_t iters = 1 << 12;
  for (;;) {  // one run of about 10 ms on one thread
    const auto t0 = Clock::now();
    g_sink = k.peak(iters, 1.0f);
    if (seconds_since(t0) > 0.01 || iters > (int64_t{1} << 40)) break;
    iters *= 2;
  }
  double best = 0;
  const auto start = Clock::now();
  for (int trial = 0; trial < 3 || seconds_since(start) < seconds; ++trial) {
    std::vector<std::thread> team;
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t)
      team.emplace_back([&, t] {
        const float r = k.peak(iters, 1.0f + float(t));
        if (r == 12345.0f) g_sink = r;
      });
    for (auto& th : team) th.join();
    const double wall = seconds_since(t0);
    best = std::max(best, double(threads) * double(iters) * double(k.peak_flops) / wall / 1e9);
  }
  return best;
}

// The kernel sets of the table this CPU runs: one probe each.
std::vector<const cc::KernelSet*> supported_sets() {
  std::vector<const cc::KernelSet*> v;
  size_t n = 0;
  const cc::KernelEntry* table = cc::kernel_table(&n);
  for (size_t i = 0; i < n; ++i)
    if (table[i].supported()) v.push_back(table[i].set);
  return v;
}

// ---- timing ---------------------------------------------------------------------------------------

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int64_t samples = 0, calls_per_sample = 1, sets = 1;
  double footprint_mib = 0;
  double check_error = 0;
};

struct FloatBuf {
  std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
  explicit FloatBuf(int64_t n) {
    const size_t bytes = (size_t(std::max<int64_t>(n, 1)) * sizeof(float) + 63) / 64 * 64;
    p.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!p) throw std::runtime_error("out of memory allocating " + std::to_string(bytes) + " bytes");
  }
  float* get() const { return p.get(); }
};

void fill_random(float* a, int64_t n, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    a[i] = float(int64_t(s >> 40) - (int64_t{1} << 23)) / float(int64_t{1} << 23);  // [-1, 1)
  }
}

// Spot-checks output elements against a direct float64 sum (of the bf16-rounded values for bf16), so a
// broken fast kernel cannot report a fantastic rate. Returns max |y - ref| / max(1, max |ref|) over the
// sampled elements.
double spot_check(const cc::ConvProblem& s, const float* x, const float* w, const float* bias, const float* y) {
  const bool bf16 = s.precision == cc::Precision::BF16;
  auto val = [&](float v) { return double(bf16 ? cc::from_bf16(cc::to_bf16(v)) : v); };
  const int64_t Kg = s.Kg(), total = s.y_elems();
  double err = 0, scale = 1;
  uint64_t r = 12345;
  for (int i = 0; i < 64; ++i) {
    r = r * 6364136223846793005ull + 1442695040888963407ull;
    const int64_t idx = i == 0 ? 0 : i == 1 ? total - 1 : int64_t((r >> 17) % uint64_t(total));
    const int64_t ow = idx % s.OW, oh = idx / s.OW % s.OH, k = idx / (s.OW * s.OH) % s.Cout,
                  n = idx / (s.OW * s.OH * s.Cout), g = k / Kg;
    double acc = bias ? bias[k] : 0;
    for (int64_t c = 0; c < s.Cg; ++c)
      for (int64_t i2 = 0; i2 < s.KH; ++i2)
        for (int64_t j = 0; j < s.KW; ++j) {
          const int64_t ih = oh * s.stride_h - s.pad_t + i2 * s.dil_h, iw = ow * s.stride_w - s.pad_l + j * s.dil_w;
          if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
          acc += val(x[((n * s.Cin + g * s.Cg + c) * s.H + ih) * s.W + iw]) *
                 val(w[((k * s.Cg + c) * s.KH + i2) * s.KW + j]);
        }
    scale = std::max(scale, std::fabs(acc));
    const double e = std::fabs(double(y[idx]) - acc);
    err = std::isnan(e) ? INFINITY : std::max(err, e);
  }
  return err / scale;
}

// Spot-checks sampled elements of dx, dw and db (each may be null; NCHW, OIHW) against float64 sums
// from the definition, as spot_check does for y.
double spot_check_backward(const cc::ConvProblem& s, const float* x, const float* dy, const float* w, const float* dx,
                           const float* dw, const float* db) {
  const int64_t Kg = s.Kg();
  double err = 0, scale = 1;
  uint64_t r = 6789;
  auto note = [&](double ref, float got) {
    scale = std::max(scale, std::fabs(ref));
    const double e = std::fabs(double(got) - ref);
    err = std::isnan(e) ? INFINITY : std::max(err, e);
  };
  for (int i = 0; i < 32; ++i) {
    r = r * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t pick = r >> 17;
    if (dx) {  // dx[n, c, ih, iw]
      const int64_t idx = int64_t(pick % uint64_t(s.x_elems()));
      const int64_t iw = idx % s.W, ih = idx / s.W % s.H, c = idx / (s.W * s.H) % s.Cin, n = idx / (s.W * s.H * s.Cin);
      const int64_t g = c / s.Cg;
      double acc = 0;
      for (int64_t k = g * Kg; k < (g + 1) * Kg; ++k)
        for (int64_t kh = 0; kh < s.KH; ++kh)
          for (int64_t kw = 0; kw < s.KW; ++kw) {
            const int64_t th = ih + s.pad_t - kh * s.dil_h, tw = iw + s.pad_l - kw * s.dil_w;
            if (th < 0 || tw < 0 || th % s.stride_h || tw % s.stride_w) continue;
            const int64_t oh = th / s.stride_h, ow = tw / s.stride_w;
            if (oh >= s.OH || ow >= s.OW) continue;
            acc += double(dy[((n * s.Cout + k) * s.OH + oh) * s.OW + ow]) *
                   double(w[((k * s.Cg + c % s.Cg) * s.KH + kh) * s.KW + kw]);
          }
      note(acc, dx[idx]);
    }
    if (dw) {  // dw[k, c, kh, kw]
      const int64_t idx = int64_t(pick % uint64_t(s.w_elems()));
      const int64_t kw = idx % s.KW, kh = idx / s.KW % s.KH, c = idx / (s.KW * s.KH) % s.Cg, k = idx / (s.KW * s.KH * s.Cg);
      const int64_t ci = k / Kg * s.Cg + c;
      double acc = 0;
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t oh = 0; oh < s.OH; ++oh)
          for (int64_t ow = 0; ow < s.OW; ++ow) {
            const int64_t ih = oh * s.stride_h - s.pad_t + kh * s.dil_h, iw = ow * s.stride_w - s.pad_l + kw * s.dil_w;
            if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
            acc += double(dy[((n * s.Cout + k) * s.OH + oh) * s.OW + ow]) * double(x[((n * s.Cin + ci) * s.H + ih) * s.W + iw]);
          }
      note(acc, dw[idx]);
    }
    if (db) {
      const int64_t k = int64_t(pick % uint64_t(s.Cout));
      double acc = 0;
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t q = 0; q < s.OH * s.OW; ++q) acc += double(dy[(n * s.Cout + k) * s.OH * s.OW + q]);
      note(acc, db[k]);
    }
  }
  return err / scale;
}

// What a row times: the forward convolution, or after it in a training step the input gradient
// (backward-data), the weight gradient with the bias gradient (backward-weights), or both, as
// conv2dBackward runs them (one plan each, one after the other).
enum class Kind { Forward, Data, Weights, Both };
const char* kind_name(Kind k) {
  return k == Kind::Forward ? "forward" : k == Kind::Data ? "backward_data" : k == Kind::Weights ? "backward_weights" : "backward";
}

// The problems a row of kind k runs, from the forward problem f.
std::vector<cc::ConvProblem> parts_of(const cc::ConvProblem& f, Kind k) {
  cc::ConvProblem d = f, w = f;
  d.direction = cc::Direction::BackwardData;
  d.epilogue = cc::Epilogue{};
  w.direction = cc::Direction::BackwardWeights;
  w.epilogue = cc::Epilogue{true, cc::Activation::None};  // the bias gradient too
  if (k == Kind::Forward) return {f};
  if (k == Kind::Data) return {d};
  if (k == Kind::Weights) return {w};
  return {d, w};
}

// One contender of a shape: ours (an algorithm: 'auto' or forced) or a peer's (oneDNN).
struct Contender {
  std::string api;   // "native" (ours) or the peer's label ("onednn", "onednn blocked", ...)
  cc::ConvProblem problem;  // the shape in this contender's precision
  std::string algorithm, impl;
  std::function<void(int64_t set)> call;
  std::function<void(int64_t set)> finish;  // puts set i's result in our output buffers (peers)
  std::vector<double> ms;
  Timing t;
};

// Times every contender of shape s's row of kind `kind` (each algorithm and peer in each precision;
// the backward kinds in fp32) on the same rotated inputs, alternating sample by sample (the order
// rotates each round), so a burst of load from other processes hits all of them alike.
std::vector<Contender> time_shape(const cc::ConvProblem& s, Kind kind, int threads, const Options& o,
                                  const std::string& label) {
  const std::vector<cc::ConvProblem> parts = parts_of(s, kind);
  const bool fwd = kind == Kind::Forward, data = kind == Kind::Data || kind == Kind::Both,
             weights = kind == Kind::Weights || kind == Kind::Both;
  const int64_t xin = s.x_elems(), yout = s.y_elems();
  // Per set: x (read by forward and backward-weights), dy (the backward kinds), y or dx (written).
  const int64_t set_bytes = (xin + yout + (data ? xin : 0)) * int64_t(sizeof(float));
  // Rotate enough input/output sets that the footprint exceeds the last-level cache twice over (up to
  // a cap), so back-to-back calls do not find their operands already cached.
  const int64_t target = std::min(2 * l3_bytes(), o.rotate_cap);
  const int64_t sets = std::clamp<int64_t>((target + set_bytes - 1) / set_bytes, 1, 64);

  FloatBuf w(s.w_elems()), bias(s.Cout), dw(s.w_elems()), db(s.Cout);
  fill_random(w.get(), s.w_elems(), 2);
  fill_random(bias.get(), s.Cout, 3);
  std::vector<FloatBuf> xs, ys, dxs;  // ys: y (forward) or dy (backward)
  std::vector<std::vector<cc::RunArgs>> args(parts.size());  // per part, per set
  for (int64_t i = 0; i < sets; ++i) {
    xs.emplace_back(xin);
    ys.emplace_back(yout);
    if (i == 0) {
      fill_random(xs[0].get(), xin, 1);
      if (!fwd) fill_random(ys[0].get(), yout, 4);
    } else {
      std::memcpy(xs[i].get(), xs[0].get(), size_t(xin) * sizeof(float));
      if (!fwd) std::memcpy(ys[i].get(), ys[0].get(), size_t(yout) * sizeof(float));
    }
    if (fwd) std::fill(ys[i].get(), ys[i].get() + yout, NAN);  // touches every page before timing
    if (data) {
      dxs.emplace_back(xin);
      std::fill(dxs[i].get(), dxs[i].get() + xin, NAN);
    }
    for (size_t k = 0; k < parts.size(); ++k) {
      cc::RunArgs a;
      switch (parts[k].direction) {
        case cc::Direction::Forward: a.src = xs[i].get(); a.w = w.get(); a.bias = bias.get(); a.dst = ys[i].get(); break;
        case cc::Direction::BackwardData: a.src = ys[i].get(); a.w = w.get(); a.dst = dxs[i].get(); break;
        case cc::Direction::BackwardWeights: a.src = xs[i].get(); a.src2 = ys[i].get(); a.dst = dw.get(); a.dst2 = db.get(); break;
      }
      args[k].push_back(a);
    }
  }
  // Poisons what the row writes, so a stale result cannot pass the check.
  auto poison = [&](int64_t i) {
    if (fwd) std::fill(ys[i].get(), ys[i].get() + yout, NAN);
    if (data) std::fill(dxs[i].get(), dxs[i].get() + xin, NAN);
    if (weights) {
      std::fill(dw.get(), dw.get() + s.w_elems(), NAN);
      std::fill(db.get(), db.get() + s.Cout, NAN);
    }
  };
  auto check = [&](const cc::ConvProblem& p, int64_t i) {
    if (fwd) return spot_check(p, xs[i].get(), w.get(), bias.get(), ys[i].get());
    return spot_check_backward(p, xs[i].get(), ys[i].get(), w.get(), data ? dxs[i].get() : nullptr,
                               weights ? dw.get() : nullptr, weights ? db.get() : nullptr);
  };
  // Ours, planned once with the workspace kept: what the addon does for a repeated call.
  std::vector<Contender> cs;
  auto ws = std::make_shared<std::vector<cc::Workspace>>(o.algorithms.size() * o.precisions.size() * parts.size());
  size_t planned = 0;  // our plans so far: each its own workspace
  for (cc::Precision prec : o.precisions) {
    if (!fwd && prec != cc::Precision::FP32) continue;
    cc::ConvProblem sp = s;
    sp.precision = prec;
    for (size_t k = 0; k < o.algorithms.size(); ++k) {
      cc::PlanOptions po;
      po.threads = threads;
      po.algorithm = o.algorithms[k] == "auto" ? -1 : cc::algorithm_index(o.algorithms[k].c_str());
      std::vector<cc::Plan> pls;
      try {
        for (cc::ConvProblem part : parts) {
          part.precision = prec;
          pls.push_back(cc::plan(part, po));
        }
      } catch (const std::exception&) {
        continue;  // a forced algorithm that cannot run this shape: no row
      }
      std::vector<void*> scratch;
      for (const cc::Plan& pl : pls) scratch.push_back((*ws)[planned++].get(pl.workspace_bytes));
      Contender c;
      c.api = "native";
      c.problem = sp;
      std::string names;
      for (const cc::Plan& pl : pls) names += std::string(names.empty() ? "" : "+") + pl.algorithm->name;
      c.algorithm = o.algorithms[k] == "auto" ? "auto: " + names : o.algorithms[k];
      c.impl = pls[0].kernels->name;
      c.call = [pls, scratch, &args](int64_t i) {
        for (size_t part = 0; part < pls.size(); ++part) cc::run(pls[part], args[part][size_t(i)], scratch[part]);
      };
      c.finish = [](int64_t) {};
      cs.push_back(std::move(c));
    }
    if (o.onednn) {
      // oneDNN's contenders of each part; a row of two parts pairs the cases of the same label.
      std::vector<std::vector<ccbench::OnednnCase>> peer(parts.size());
      for (size_t k = 0; k < parts.size(); ++k) {
        cc::ConvProblem part = parts[k];
        part.precision = prec;
        peer[k] = ccbench::onednn_cases(part, threads, args[k], nullptr);
      }
      for (auto& d : peer[0]) {
        std::vector<ccbench::OnednnCase*> chain{&d};
        for (size_t k = 1; k < parts.size(); ++k)
          for (auto& e : peer[k])
            if (e.label == d.label) chain.push_back(&e);
        if (chain.size() != parts.size()) continue;
        Contender c;
        c.api = d.label;
        c.problem = sp;
        c.algorithm = d.label.find("winograd") != std::string::npos ? "winograd" : "auto";
        c.impl = d.impl;
        if (chain.size() == 1) {
          c.call = std::move(d.call);
          c.finish = std::move(d.finish);
        } else {
          auto a = std::make_shared<ccbench::OnednnCase>(std::move(*chain[0]));
          auto b = std::make_shared<ccbench::OnednnCase>(std::move(*chain[1]));
          c.call = [a, b](int64_t i) { a->call(i); b->call(i); };
          c.finish = [a, b](int64_t i) { a->finish(i); b->finish(i); };
        }
        cs.push_back(std::move(c));
      }
    }
  }

  // Warm-up, which also sizes a sample: tiny calls are timed in batches of at least ~50 us, so the
  // clock's own cost stays negligible.
  std::vector<int64_t> next(cs.size(), 0);
  for (size_t k = 0; k < cs.size(); ++k) {
    Contender& c = cs[k];
    c.t.sets = sets;
    c.t.footprint_mib = double(set_bytes * sets) / double(1 << 20);
    progress(label + " " + c.api + ": warm-up");
    int64_t warm_calls = 0;
    const auto w0 = Clock::now();
    do {
      c.call(next[k]++ % sets);
      ++warm_calls;
    } while (seconds_since(w0) < o.warmup);
    const double per_call = seconds_since(w0) / double(warm_calls);
    c.t.calls_per_sample = std::max<int64_t>(1, int64_t(50e-6 / per_call));
    // Check what the contender wrote (poisoned again first, so a stale result cannot pass; the
    // weight gradient is one buffer for every set: checked after each set's call).
    const int64_t checked = std::min<int64_t>(sets, next[k]);
    for (int64_t i = 0; i < checked; ++i) poison(i);
    for (int64_t i = 0; i < checked; ++i) {
      if (weights) poison(i);
      c.call(i);
      if (weights || i == checked - 1)
        for (int64_t j = weights ? i : 0; j <= i; ++j) {
          c.finish(j);
          c.t.check_error = std::max(c.t.check_error, check(c.problem, j));
        }
    }
  }

  const auto t0 = Clock::now();
  const double budget = o.budget * double(std::max<size_t>(1, cs.size()));
  for (int64_t round = 0;; ++round) {
    bool enough = seconds_since(t0) >= budget;
    for (const auto& c : cs) enough = enough && int64_t(c.ms.size()) >= o.min_reps;
    if (enough || round >= 100000) break;
    for (size_t j = 0; j < cs.size(); ++j) {
      const size_t k = (j + size_t(round)) % cs.size();
      Contender& c = cs[k];
      const auto c0 = Clock::now();
      for (int64_t r = 0; r < c.t.calls_per_sample; ++r) c.call(next[k]++ % sets);
      c.ms.push_back(seconds_since(c0) * 1e3 / double(c.t.calls_per_sample));
    }
    if (round % 8 == 0) progress(label + ": " + std::to_string(round) + " rounds");
  }
  for (auto& c : cs) {
    std::sort(c.ms.begin(), c.ms.end());
    c.t.samples = int64_t(c.ms.size());
    const size_t m = c.ms.size();
    c.t.median_ms = m % 2 ? c.ms[m / 2] : 0.5 * (c.ms[m / 2 - 1] + c.ms[m / 2]);
    c.t.min_ms = c.ms.front();
    c.t.max_ms = c.ms.back();
  }
  return cs;
}

// ---- output ---------------------------------------------------------------------------------------

std::string jstr(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else o += c;
  }
  return o + "\"";
}

std::string jnum(double v) {
  if (!std::isfinite(v)) return "null";
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

// The accuracy table (docs/PERF.md, "Winograd"): for stride-1 3x3 and 5x5 layers with K = Cg*KH*KW
// multiply-adds per output from 27 to 4608, every forward algorithm that can run them, inputs and
// weights uniform in [-1, 1] (as the native tests' sweep draws them), against the float64 reference:
// the relative L2 error ||y - ref|| / ||ref|| (the accuracy contract) and the max-norm error the tests
// bound (max |y - ref| / max(1, max |ref|)), the worst of 3 seeds. N = 1, 14 x 14 (padding 1 / 2),
// 16 output channels, bias; 1 thread (the sums do not depend on the thread count).
int accuracy_table() {
  std::printf("%-14s %6s %6s %14s %14s\n", "algorithm", "kernel", "K", "rel L2 error", "max-norm error");
  const auto& names = cc::algorithm_names();
  for (int64_t k : {3, 5})
    for (int64_t cg : {3, 8, 16, 32, 64, 128, 256, 512}) {
      if (k == 5 && cg > 184) continue;  // K <= 4608
      cc::ConvRequest r;
      for (auto& p : r.pad) p = k / 2;
      r.epilogue.bias = true;
      cc::set_sizes(r, 1, cg, 14, 14, 16, k, k);
      const cc::ConvProblem p = cc::resolve(r);
      for (size_t a = 0; a < names.size(); ++a) {
        double l2 = 0, mx = 0;
        bool ran = false;
        for (uint64_t seed = 1; seed <= 3; ++seed) {
          std::vector<float> x(size_t(p.x_elems())), w(size_t(p.w_elems())), b(size_t(p.Cout)), y(size_t(p.y_elems()), NAN);
          fill_random(x.data(), p.x_elems(), seed * 10 + 1);
          fill_random(w.data(), p.w_elems(), seed * 10 + 2);
          fill_random(b.data(), p.Cout, seed * 10 + 3);
          std::vector<double> ref(size_t(p.y_elems()));
          cc::conv2d_reference(p, x.data(), w.data(), b.data(), ref.data());
          cc::PlanOptions po;
          po.threads = 1;
          po.algorithm = int(a);
          cc::RunArgs args;
          args.src = x.data();
          args.w = w.data();
          args.bias = b.data();
          args.dst = y.data();
          try {
            cc::compute(p, args, po);
          } catch (const std::exception&) {
            break;  // this algorithm cannot run the layer
          }
          ran = true;
          double num = 0, den = 0, emax = 0, rmax = 1;
          for (size_t i = 0; i < y.size(); ++i) {
            const double e = double(y[i]) - ref[i];
            num += e * e;
            den += ref[i] * ref[i];
            emax = std::isnan(e) ? INFINITY : std::max(emax, std::fabs(e));
            rmax = std::max(rmax, std::fabs(ref[i]));
          }
          l2 = std::max(l2, std::sqrt(num / den));
          mx = std::max(mx, emax / rmax);
        }
        if (ran)
          std::printf("%-14s %3lldx%-2lld %6lld %14.3g %14.3g\n", names[a], (long long)k, (long long)k,
                      (long long)(cg * k * k), l2, mx);
      }
    }
  return 0;
}

struct Result {
  const BenchShape* shape;
  Kind kind;
  cc::ConvProblem cs;
  int threads;
  std::string api, algorithm, impl;
  Timing t;
  double gflops, peak_fraction;
  double vs_ours;  // this row's median over our first contender's (the 'auto' row of the first
                   // precision listed) in the same run
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.accuracy) return accuracy_table();
  try {
    // Peak: every supported probe at 1 thread and at each thread count used.
    std::vector<int> peak_threads{1};
    for (int t : o.threads)
      if (std::find(peak_threads.begin(), peak_threads.end(), t) == peak_threads.end()) peak_threads.push_back(t);
    const bool bf16 = std::count(o.precisions.begin(), o.precisions.end(), cc::Precision::BF16) > 0;
    std::vector<PeakPoint> points;
    for (const cc::KernelSet* k : supported_sets())
      for (const char* prec : {"fp32", "bf16"}) {
        if (std::string(prec) == "bf16" && (!bf16 || !probe_of(*k, prec).peak)) continue;
        for (int t : peak_threads) {
          progress(std::string("peak probe ") + k->name + " " + prec + ", " + std::to_string(t) + " thread(s)");
          points.push_back({k->name, prec, t, probe_rate(probe_of(*k, prec), t, o.probe_seconds)});
        }
      }
    // The best probe at t threads for a precision: bf16 without a native probe is held to fp32's.
    auto peak_at = [&](int t, cc::Precision prec, std::string* isa) {
      double best = 0;
      for (int pass = 0; pass < 2 && best == 0; ++pass) {
        const std::string want = prec == cc::Precision::BF16 && pass == 0 ? "bf16" : "fp32";
        for (const auto& p : points)
          if (p.threads == t && p.precision == want && p.gflops > best) best = p.gflops, *isa = p.isa;
      }
      return best;
    };

    // "results": the forward rows; "backward": the backward rows (their own list, so readers of the
    // forward rows see one row per shape and contender as before).
    std::vector<Result> results, backward;
    std::vector<Kind> kinds{Kind::Forward};
    if (o.backward) kinds.insert(kinds.end(), {Kind::Data, Kind::Weights, Kind::Both});
    size_t done = 0, total = 0;
    for (const BenchShape* b : o.shapes) total += o.threads.size() * (b->tiny ? 1 : kinds.size());
    for (const BenchShape* b : o.shapes)
      for (Kind kind : kinds)
        for (int t : o.threads) {
          if (b->tiny && kind != Kind::Forward) continue;
          ++done;
          const std::string label = "[" + std::to_string(done) + "/" + std::to_string(total) + "] " + b->id + " " +
                                    (kind == Kind::Forward ? "" : std::string(kind_name(kind)) + " ") + std::to_string(t) + "T";
          const cc::ConvProblem cs = to_problem(*b);
          const std::vector<Contender> timed = time_shape(cs, kind, t, o, label);
          for (const Contender& c : timed) {
            Result r{b, kind, c.problem, t, c.api, c.algorithm, c.impl, c.t, 0, 0, 0};
            if (!(r.t.check_error <= 1e-3)) {
              progress_done();
              std::fprintf(stderr, "channelconv_bench: %s %s %s %s output is wrong (spot-check relative error %g)\n",
                           b->id, kind_name(kind), c.api.c_str(), c.algorithm.c_str(), r.t.check_error);
              return 1;
            }
            const double macs = r.cs.macs() * (kind == Kind::Both ? 2 : 1);
            r.gflops = 2.0 * macs / (r.t.median_ms * 1e-3) / 1e9;
            r.vs_ours = timed.empty() ? 1.0 : r.t.median_ms / timed[0].t.median_ms;
            (kind == Kind::Forward ? results : backward).push_back(r);
          }
        }
    // Probe again after the shapes and keep the better figure: on a shared machine a burst of other
    // work during one probe would otherwise understate the peak and overstate every fraction.
    for (auto& pt : points)
      for (const cc::KernelSet* k : supported_sets())
        if (pt.isa == k->name) {
          progress(std::string("peak probe (again) ") + k->name + " " + pt.precision + ", " +
                   std::to_string(pt.threads) + " thread(s)");
          pt.gflops = std::max(pt.gflops, probe_rate(probe_of(*k, pt.precision), pt.threads, o.probe_seconds));
        }
    for (auto* list : {&results, &backward})
      for (auto& r : *list) {
        std::string isa;
        r.peak_fraction = r.gflops / peak_at(r.threads, r.cs.precision, &isa);
      }
    progress_done();

    std::string peak_isa, single_isa;
    const int peak_threads_n = *std::max_element(o.threads.begin(), o.threads.end());
    const double peak = peak_at(peak_threads_n, cc::Precision::FP32, &peak_isa);
    const double single = peak_at(1, cc::Precision::FP32, &single_isa);

    std::ostringstream js;
    js << "{\n  \"tool\": \"channelconv_bench\",\n";
    js << "  \"machine\": {\"cpu\": " << jstr(cpu_model()) << ", \"logicalCpus\": " << std::thread::hardware_concurrency()
       << ", \"l3Bytes\": " << l3_bytes() << "},\n";
    js << "  \"isa\": " << jstr(cc::kernels().name) << ",\n";
    js << "  \"defaultThreads\": " << cc::default_threads() << ",\n";
    js << "  \"onednn\": " << (ccbench::onednn_version() ? jstr(ccbench::onednn_version()) : "null") << ",\n";
    js << "  \"quick\": " << (o.quick ? "true" : "false") << ", \"budgetSeconds\": " << jnum(o.budget) << ",\n";
    js << "  \"peak\": {\"gflops\": " << jnum(peak) << ", \"threads\": " << peak_threads_n
       << ", \"isa\": " << jstr(peak_isa) << ", \"singleThreadGflops\": " << jnum(single)
       << ", \"flopsPerMultiplyAdd\": 2,\n    \"probes\": [";
    for (size_t i = 0; i < points.size(); ++i)
      js << (i ? ", " : "") << "{\"isa\": " << jstr(points[i].isa) << ", \"precision\": " << jstr(points[i].precision)
         << ", \"threads\": " << points[i].threads
         << ", \"gflops\": " << jnum(points[i].gflops) << "}";
    for (const auto* list : {&results, &backward}) {
    js << (list == &results ? "]},\n  \"results\": [\n" : ",\n  \"backward\": [\n");
    for (size_t i = 0; i < list->size(); ++i) {
      const Result& r = (*list)[i];
      js << "    {\"shape\": " << jstr(r.shape->id) << ", \"name\": " << jstr(r.shape->name)
         << ", \"direction\": " << jstr(kind_name(r.kind))
         << ", \"device\": \"cpu\", \"api\": " << jstr(r.api) << ", \"algorithm\": " << jstr(r.algorithm)
         << ", \"impl\": " << jstr(r.impl) << ", \"vsOurs\": " << jnum(r.vs_ours) << ", \"isa\": " << jstr(cc::kernels().name)
         << ", \"precision\": " << jstr(precision_name(r.cs.precision))
         << ", \"threads\": " << r.threads << ", \"ms\": " << jnum(r.t.median_ms) << ", \"msMin\": "
         << jnum(r.t.min_ms) << ", \"msMax\": " << jnum(r.t.max_ms) << ", \"samples\": " << r.t.samples
         << ", \"callsPerSample\": " << r.t.calls_per_sample
         << ", \"macs\": " << jnum(r.cs.macs() * (r.kind == Kind::Both ? 2 : 1))
         << ", \"gflops\": " << jnum(r.gflops) << ", \"peakFraction\": " << jnum(r.peak_fraction)
         << ", \"rotatedSets\": " << r.t.sets << ", \"footprintMiB\": " << jnum(r.t.footprint_mib)
         << ", \"checkError\": " << jnum(r.t.check_error) << "}" << (i + 1 < list->size() ? "," : "") << "\n";
    }
    js << "  ]";
    }
    js << "\n}\n";

    if (o.json == "-") {
      std::fputs(js.str().c_str(), stdout);
      return 0;
    }
    if (!o.json.empty()) {
      std::ofstream f(o.json);
      f << js.str();
      if (!f) {
        std::fprintf(stderr, "channelconv_bench: could not write %s\n", o.json.c_str());
        return 1;
      }
    }
    std::printf("channelconv native benchmark: %s, GEMM %s\n", cpu_model().c_str(), cc::kernels().name);
    std::printf("peak (measured; fp32: FMA, bf16: dot product):");
    for (const auto& p : points)
      std::printf("  %s %s %dT %.1f", p.isa.c_str(), p.precision.c_str(), p.threads, p.gflops);
    std::printf(" GFLOP/s\n");
    if (ccbench::onednn_version()) std::printf("peer: %s (x = its time / ours)\n", ccbench::onednn_version());
    std::printf("\n%-4s %-42s %-36s %3s %12s %21s %9s %7s %6s %7s\n", "id", "layer", "contender", "T", "median",
                "min - max", "GFLOP/s", "% peak", "n", "x ours");
    if (!backward.empty())
      std::printf("(backward rows after the forward ones: gradInput = backward_data, gradWeight + gradBias = "
                  "backward_weights, both = backward; x fwd: over our forward 'auto' row of the shape)\n");
    std::vector<Result> rows = results;
    rows.insert(rows.end(), backward.begin(), backward.end());
    for (const Result& r : rows) {
      const double u = r.shape->tiny ? 1e3 : 1.0;
      const char* unit = r.shape->tiny ? "us" : "ms";
      char med[32], range[48];
      std::snprintf(med, sizeof med, "%.3f %s", r.t.median_ms * u, unit);
      std::snprintf(range, sizeof range, "%.3f - %.3f", r.t.min_ms * u, r.t.max_ms * u);
      std::string who = std::string(precision_name(r.cs.precision)) + " " +
                        (r.api == "native" ? r.algorithm : r.api + " (" + r.impl + ")");
      if (r.kind != Kind::Forward) {
        double fwd = 0;  // our forward 'auto' row of this shape and thread count
        for (const Result& f : results)
          if (f.shape == r.shape && f.threads == r.threads && f.api == "native" && fwd == 0) fwd = f.t.median_ms;
        char x[48];
        std::snprintf(x, sizeof x, " [%.2fx fwd]", fwd > 0 ? r.t.median_ms / fwd : 0.0);
        who = std::string(kind_name(r.kind)) + " " + who + x;
      }
      std::printf("%-4s %-42s %-52s %3d %12s %21s %9.2f %6.1f%% %6lld %7.2f\n", r.shape->id, r.shape->name,
                  who.c_str(), r.threads, med, range, r.gflops, 100 * r.peak_fraction,
                  (long long)(r.t.samples * r.t.calls_per_sample), r.vs_ours);
    }
    return 0;
  } catch (const std::exception& e) {
    progress_done();
    std::fprintf(stderr, "channelconv_bench: %s\n", e.what());
    return 1;
  }
}
