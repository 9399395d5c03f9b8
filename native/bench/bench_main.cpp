// Native benchmark suite (no Node): times cc::run on plans made once (the calls the addon makes), on
// the layer shapes of bench/shapes.json, and measures the machine's fp32 FMA peak with each kernel
// set's probe to report each shape as a fraction of it.
// Usage: channelconv_bench [--shapes S1,S3] [--threads N[,M...]] [--quick] [--budget SECONDS]
//                          [--no-backward] [--json FILE|-]
// Besides the forward rows: the backward pass of each shape but the tiny one (input gradient, weight
// gradient with the bias gradient, and both), unless --no-backward.
// Prints a table on stdout (or JSON with --json -); progress on stderr when it is a terminal.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
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
#include "cpu/kernels.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- shapes ---------------------------------------------------------------------------------------

using BenchShape = ccbench::Shape;

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
  bool quick = false;
  double budget = 2.0;        // timed seconds per shape and thread count
  double warmup = 0.25;       // seconds of untimed calls first
  double probe_seconds = 0.3; // per (ISA, thread count) peak point
  int min_reps = 5;
  int64_t rotate_cap = int64_t{512} << 20;  // most bytes of rotated input/output sets
  bool backward = true;       // also time the backward directions
  std::string json;           // "" table only, "-" JSON on stdout, else a file
};

[[noreturn]] void usage(const std::string& err) {
  std::fprintf(stderr,
               "%s\nusage: channelconv_bench [--shapes S1,S3] [--threads N[,M]] [--quick] "
               "[--budget SECONDS] [--no-backward] [--json FILE|-]\n",
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
    else if (a == "--no-backward") o.backward = false;
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
  int threads;
  double gflops;
};

// Best rate of `threads` threads each running the kernel set's probe; the maximum over trials,
// because noise from other processes only ever lowers it.
double probe_rate(const cc::KernelSet& k, int threads, double seconds) {
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

// Spot-checks output elements against a direct float64 sum, so a broken fast kernel cannot report a
// fantastic rate. Returns max |y - ref| / max(1, max |ref|) over the sampled elements.
double spot_check(const cc::ConvProblem& s, const float* x, const float* w, const float* bias, const float* y) {
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
          acc += double(x[((n * s.Cin + g * s.Cg + c) * s.H + ih) * s.W + iw]) *
                 double(w[((k * s.Cg + c) * s.KH + i2) * s.KW + j]);
        }
    scale = std::max(scale, std::fabs(acc));
    const double e = std::fabs(double(y[idx]) - acc);
    err = std::isnan(e) ? INFINITY : std::max(err, e);
  }
  return err / scale;
}

// Warm-up, which also sizes a sample: tiny calls are timed in batches of at least ~50 us, so the
// clock's own cost stays negligible.
template <class F>
void warm_up(F& call, const Options& o, const std::string& label, Timing& t) {
  progress(label + ": warm-up");
  int64_t warm_calls = 0;
  const auto w0 = Clock::now();
  do {
    call();
    ++warm_calls;
  } while (seconds_since(w0) < o.warmup);
  const double per_call = seconds_since(w0) / double(warm_calls);
  t.calls_per_sample = std::max<int64_t>(1, int64_t(50e-6 / per_call));
}

// Timed samples until the budget is spent (at least min_reps): median, min, max per call.
template <class F>
void sample(F& call, const Options& o, const std::string& label, Timing& t) {
  std::vector<double> ms;
  const auto t0 = Clock::now();
  while ((int64_t(ms.size()) < o.min_reps || seconds_since(t0) < o.budget) && ms.size() < 100000) {
    const auto c0 = Clock::now();
    for (int64_t c = 0; c < t.calls_per_sample; ++c) call();
    ms.push_back(seconds_since(c0) * 1e3 / double(t.calls_per_sample));
    if (ms.size() % 8 == 0)
      progress(label + ": " + std::to_string(ms.size()) + " samples");
  }
  std::sort(ms.begin(), ms.end());
  t.samples = int64_t(ms.size());
  const size_t m = ms.size();
  t.median_ms = m % 2 ? ms[m / 2] : 0.5 * (ms[m / 2 - 1] + ms[m / 2]);
  t.min_ms = ms.front();
  t.max_ms = ms.back();
}

Timing time_shape(const cc::ConvProblem& s, int threads, const Options& o, const std::string& label) {
  Timing t;
  const int64_t xin = s.x_elems(), yout = s.y_elems();
  const int64_t set_bytes = (xin + yout) * int64_t(sizeof(float));
  // Rotate enough input/output sets that the footprint exceeds the last-level cache twice over (up to
  // a cap), so back-to-back calls do not find their operands already cached.
  const int64_t target = std::min(2 * l3_bytes(), o.rotate_cap);
  t.sets = std::clamp<int64_t>((target + set_bytes - 1) / set_bytes, 1, 64);
  t.footprint_mib = double(set_bytes * t.sets) / double(1 << 20);

  FloatBuf w(s.w_elems()), bias(s.Cout);
  fill_random(w.get(), s.w_elems(), 2);
  fill_random(bias.get(), s.Cout, 3);
  std::vector<FloatBuf> xs, ys;
  for (int64_t i = 0; i < t.sets; ++i) {
    xs.emplace_back(xin);
    ys.emplace_back(yout);
    if (i == 0) fill_random(xs[0].get(), xin, 1);
    else std::memcpy(xs[i].get(), xs[0].get(), size_t(xin) * sizeof(float));
    std::fill(ys[i].get(), ys[i].get() + yout, NAN);  // touches every page before timing
  }
  // Planned once, with the workspace kept: what the addon does for a repeated call.
  cc::PlanOptions po;
  po.threads = threads;
  const cc::Plan pl = cc::plan(s, po);
  cc::Workspace ws;
  void* scratch = ws.get(pl.workspace_bytes);
  int64_t next = 0;
  auto call = [&] {
    const int64_t i = next++ % t.sets;
    cc::RunArgs a;
    a.src = xs[i].get();
    a.w = w.get();
    a.bias = bias.get();
    a.dst = ys[i].get();
    cc::run(pl, a, scratch);
  };

  warm_up(call, o, label, t);
  for (int64_t i = 0; i < std::min<int64_t>(t.sets, next); ++i)
    t.check_error = std::max(t.check_error, spot_check(s, xs[i].get(), w.get(), bias.get(), ys[i].get()));
  sample(call, o, label, t);
  return t;
}


// ---- backward -------------------------------------------------------------------------------------

// What a training step computes after the forward pass: the input gradient, the weight gradient (with
// the bias gradient), or both, as conv2dBackward runs them (one plan per direction).
enum class Backward { Data, Weights, Both };
const char* backward_name(Backward b) {
  return b == Backward::Data ? "backward_data" : b == Backward::Weights ? "backward_weights" : "backward";
}

// Spot-checks sampled elements of dx, dw and db (each may be null) against float64 sums (NCHW, OIHW).
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

// Times one backward kind of the forward problem `f` (NCHW, OIHW) with planned calls and kept
// workspaces, rotating (x, dy, dx) sets as time_shape rotates (x, y).
Timing time_backward(const cc::ConvProblem& f, Backward kind, int threads, const Options& o, const std::string& label) {
  Timing t;
  cc::ConvProblem pd = f, pw = f;
  pd.direction = cc::Direction::BackwardData;
  pd.epilogue = cc::Epilogue{};
  pw.direction = cc::Direction::BackwardWeights;
  pw.epilogue = cc::Epilogue{true, cc::Activation::None};  // the bias gradient too
  const bool data = kind != Backward::Weights, weights = kind != Backward::Data;
  const int64_t xin = f.x_elems(), yout = f.y_elems();
  const int64_t set_bytes = (xin * (data ? 2 : 1) + yout) * int64_t(sizeof(float));
  const int64_t target = std::min(2 * l3_bytes(), o.rotate_cap);
  t.sets = std::clamp<int64_t>((target + set_bytes - 1) / set_bytes, 1, 64);
  t.footprint_mib = double(set_bytes * t.sets) / double(1 << 20);
  FloatBuf w(f.w_elems()), dw(f.w_elems()), db(f.Cout);
  fill_random(w.get(), f.w_elems(), 2);
  std::fill(dw.get(), dw.get() + f.w_elems(), NAN);
  std::fill(db.get(), db.get() + f.Cout, NAN);
  std::vector<FloatBuf> xs, dys, dxs;
  for (int64_t i = 0; i < t.sets; ++i) {
    xs.emplace_back(xin);
    dys.emplace_back(yout);
    if (i == 0) {
      fill_random(xs[0].get(), xin, 1);
      fill_random(dys[0].get(), yout, 4);
    } else {
      std::memcpy(xs[i].get(), xs[0].get(), size_t(xin) * sizeof(float));
      std::memcpy(dys[i].get(), dys[0].get(), size_t(yout) * sizeof(float));
    }
    if (data) {
      dxs.emplace_back(xin);
      std::fill(dxs[i].get(), dxs[i].get() + xin, NAN);
    }
  }
  cc::PlanOptions po;
  po.threads = threads;
  const cc::Plan pld = cc::plan(pd, po), plw = cc::plan(pw, po);
  cc::Workspace ws;
  void* scratch = ws.get(std::max(data ? pld.workspace_bytes : 0, weights ? plw.workspace_bytes : 0));
  int64_t next = 0;
  auto call = [&] {
    const int64_t i = next++ % t.sets;
    if (data) {
      cc::RunArgs a;
      a.src = dys[i].get();
      a.w = w.get();
      a.dst = dxs[i].get();
      cc::run(pld, a, scratch);
    }
    if (weights) {
      cc::RunArgs a;
      a.src = xs[i].get();
      a.src2 = dys[i].get();
      a.dst = dw.get();
      a.dst2 = db.get();
      cc::run(plw, a, scratch);
    }
  };
  warm_up(call, o, label, t);
  t.check_error = spot_check_backward(f, xs[0].get(), dys[0].get(), w.get(), data ? dxs[0].get() : nullptr,
                                      weights ? dw.get() : nullptr, weights ? db.get() : nullptr);
  sample(call, o, label, t);
  return t;
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

struct Result {
  const BenchShape* shape;
  cc::ConvProblem cs;
  int threads;
  Timing t;
  double gflops, peak_fraction;
  const char* direction = "forward";
  double macs = 0;  // of everything the call computes (the backward pass: both directions)
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    // Peak: every supported probe at 1 thread and at each thread count used.
    std::vector<int> peak_threads{1};
    for (int t : o.threads)
      if (std::find(peak_threads.begin(), peak_threads.end(), t) == peak_threads.end()) peak_threads.push_back(t);
    std::vector<PeakPoint> points;
    for (const cc::KernelSet* k : supported_sets())
      for (int t : peak_threads) {
        progress(std::string("peak probe ") + k->name + ", " + std::to_string(t) + " thread(s)");
        points.push_back({k->name, t, probe_rate(*k, t, o.probe_seconds)});
      }
    auto peak_at = [&](int t, std::string* isa) {
      double best = 0;
      for (const auto& p : points)
        if (p.threads == t && p.gflops > best) best = p.gflops, *isa = p.isa;
      return best;
    };

    std::vector<Result> results;
    size_t done = 0;
    for (const BenchShape* b : o.shapes)
      for (int t : o.threads) {
        ++done;
        const std::string label = "[" + std::to_string(done) + "/" +
                                  std::to_string(o.shapes.size() * o.threads.size()) + "] " + b->id +
                                  " " + std::to_string(t) + "T";
        Result r{b, to_problem(*b), t, {}, 0, 0};
        r.t = time_shape(r.cs, t, o, label);
        if (!(r.t.check_error <= 1e-3)) {
          progress_done();
          std::fprintf(stderr, "channelconv_bench: %s output is wrong (spot-check relative error %g)\n", b->id,
                       r.t.check_error);
          return 1;
        }
        r.macs = r.cs.macs();
        r.gflops = 2.0 * r.macs / (r.t.median_ms * 1e-3) / 1e9;
        results.push_back(r);
      }
    std::vector<Result> backward;
    if (o.backward)
      for (const BenchShape* b : o.shapes)
        for (int t : o.threads)
          for (Backward kind : {Backward::Data, Backward::Weights, Backward::Both}) {
            if (b->tiny) continue;
            const std::string label = std::string(b->id) + " " + backward_name(kind) + " " + std::to_string(t) + "T";
            Result r{b, to_problem(*b), t, {}, 0, 0};
            r.direction = backward_name(kind);
            r.t = time_backward(r.cs, kind, t, o, label);
            if (!(r.t.check_error <= 1e-3)) {
              progress_done();
              std::fprintf(stderr, "channelconv_bench: %s %s output is wrong (spot-check relative error %g)\n", b->id,
                           r.direction, r.t.check_error);
              return 1;
            }
            r.macs = r.cs.macs() * (kind == Backward::Both ? 2 : 1);
            r.gflops = 2.0 * r.macs / (r.t.median_ms * 1e-3) / 1e9;
            backward.push_back(r);
          }
    // Probe again after the shapes and keep the better figure: on a shared machine a burst of other
    // work during one probe would otherwise understate the peak and overstate every fraction.
    for (auto& pt : points)
      for (const cc::KernelSet* k : supported_sets())
        if (pt.isa == k->name) {
          progress(std::string("peak probe (again) ") + k->name + ", " + std::to_string(pt.threads) + " thread(s)");
          pt.gflops = std::max(pt.gflops, probe_rate(*k, pt.threads, o.probe_seconds));
        }
    for (auto* list : {&results, &backward})
      for (auto& r : *list) {
        std::string isa;
        r.peak_fraction = r.gflops / peak_at(r.threads, &isa);
      }
    progress_done();

    std::string peak_isa, single_isa;
    const int peak_threads_n = *std::max_element(o.threads.begin(), o.threads.end());
    const double peak = peak_at(peak_threads_n, &peak_isa);
    const double single = peak_at(1, &single_isa);

    std::ostringstream js;
    js << "{\n  \"tool\": \"channelconv_bench\",\n";
    js << "  \"machine\": {\"cpu\": " << jstr(cpu_model()) << ", \"logicalCpus\": " << std::thread::hardware_concurrency()
       << ", \"l3Bytes\": " << l3_bytes() << "},\n";
    js << "  \"isa\": " << jstr(cc::kernels().name) << ",\n";
    js << "  \"defaultThreads\": " << cc::default_threads() << ",\n";
    js << "  \"quick\": " << (o.quick ? "true" : "false") << ", \"budgetSeconds\": " << jnum(o.budget) << ",\n";
    js << "  \"peak\": {\"gflops\": " << jnum(peak) << ", \"threads\": " << peak_threads_n
       << ", \"isa\": " << jstr(peak_isa) << ", \"singleThreadGflops\": " << jnum(single)
       << ", \"flopsPerMultiplyAdd\": 2,\n    \"probes\": [";
    for (size_t i = 0; i < points.size(); ++i)
      js << (i ? ", " : "") << "{\"isa\": " << jstr(points[i].isa) << ", \"threads\": " << points[i].threads
         << ", \"gflops\": " << jnum(points[i].gflops) << "}";
    // "results": the forward rows; "backward": the backward rows (direction backward_data,
    // backward_weights or backward = both; macs of everything the row computes).
    for (const auto* list : {&results, &backward}) {
      js << (list == &results ? "]},\n  \"results\": [\n" : ",\n  \"backward\": [\n");
      for (size_t i = 0; i < list->size(); ++i) {
        const Result& r = (*list)[i];
        js << "    {\"shape\": " << jstr(r.shape->id) << ", \"name\": " << jstr(r.shape->name)
           << ", \"direction\": " << jstr(r.direction)
           << ", \"device\": \"cpu\", \"api\": \"native\", \"isa\": " << jstr(cc::kernels().name)
           << ", \"threads\": " << r.threads << ", \"ms\": " << jnum(r.t.median_ms) << ", \"msMin\": "
           << jnum(r.t.min_ms) << ", \"msMax\": " << jnum(r.t.max_ms) << ", \"samples\": " << r.t.samples
           << ", \"callsPerSample\": " << r.t.calls_per_sample << ", \"macs\": " << jnum(r.macs)
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
    std::printf("fp32 FMA peak (measured):");
    for (const auto& p : points) std::printf("  %s %dT %.1f", p.isa.c_str(), p.threads, p.gflops);
    std::printf(" GFLOP/s\n\n%-4s %-42s %3s %12s %21s %9s %7s %6s\n", "id", "layer", "T", "median",
                "min - max", "GFLOP/s", "% peak", "n");
    for (const Result& r : results) {
      const double u = r.shape->tiny ? 1e3 : 1.0;
      const char* unit = r.shape->tiny ? "us" : "ms";
      char med[32], range[48];
      std::snprintf(med, sizeof med, "%.3f %s", r.t.median_ms * u, unit);
      std::snprintf(range, sizeof range, "%.3f - %.3f", r.t.min_ms * u, r.t.max_ms * u);
      std::printf("%-4s %-42s %3d %12s %21s %9.2f %6.1f%% %6lld\n", r.shape->id, r.shape->name, r.threads, med,
                  range, r.gflops, 100 * r.peak_fraction, (long long)(r.t.samples * r.t.calls_per_sample));
    }
    if (!backward.empty()) {
      std::printf("\nbackward pass (NCHW, OIHW; backward_weights includes the bias gradient)\n%-4s %-17s %3s %12s %21s %9s %7s %12s\n",
                  "id", "direction", "T", "median", "min - max", "GFLOP/s", "% peak", "x forward");
      for (const Result& r : backward) {
        double fwd = 0;
        for (const Result& f : results)
          if (f.shape == r.shape && f.threads == r.threads) fwd = f.t.median_ms;
        char med[32], range[48];
        std::snprintf(med, sizeof med, "%.3f ms", r.t.median_ms);
        std::snprintf(range, sizeof range, "%.3f - %.3f", r.t.min_ms, r.t.max_ms);
        std::printf("%-4s %-17s %3d %12s %21s %9.2f %6.1f%% %12.2f\n", r.shape->id, r.direction, r.threads, med, range,
                    r.gflops, 100 * r.peak_fraction, fwd > 0 ? r.t.median_ms / fwd : 0.0);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    progress_done();
    std::fprintf(stderr, "channelconv_bench: %s\n", e.what());
    return 1;
  }
}
