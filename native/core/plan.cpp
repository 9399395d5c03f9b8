#include "plan.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "../cpu/kernels.h"
#include "error.h"
#include "layout.h"
#include "registry.h"
#include "threads.h"

namespace cc {
namespace {

constexpr size_t kAlign = 64;
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// The workspace, in this order: the OIHW copy of HWIO weights; the packed weights; dw in OIHW before
// it is written out as HWIO; the algorithm's scratch. Each part 64-byte aligned.
struct Layout3 {
  size_t w_oihw = 0, packed = 0, dw_oihw = 0, scratch = 0;
  size_t total() const { return w_oihw + packed + dw_oihw + scratch; }
};

Layout3 workspace_layout(const Plan& pl) {
  const ConvProblem& p = pl.problem;
  const bool hwio = p.weight_layout == WeightLayout::HWIO;
  const bool bwd_w = p.direction == Direction::BackwardWeights;
  Layout3 l;
  if (hwio && !bwd_w && !pl.prepacked) l.w_oihw = aligned(size_t(p.w_elems()) * 4);
  if (pl.pack_format && !pl.prepacked) l.packed = aligned(pl.packed_bytes);
  if (hwio && bwd_w) l.dw_oihw = aligned(size_t(p.w_elems()) * 4);
  l.scratch = aligned(pl.scratch_bytes);
  return l;
}

// Plans `a` for pl.problem into pl; false when the algorithm refuses the problem's size.
bool try_plan(const Algorithm* a, Plan& pl, int threads) {
  pl.algorithm = a;
  pl.threads = threads;
  pl.scratch_bytes = 0;
  std::memset(pl.blocking, 0, sizeof pl.blocking);
  if (!a->plan(pl)) return false;
  pl.threads = std::max(1, pl.threads);
  pl.pack_format = a->pack_format ? a->pack_format(pl.problem) : nullptr;
  pl.packed_bytes = pl.pack_format ? a->packed_bytes(pl) : 0;
  pl.workspace_bytes = workspace_layout(pl).total();
  return true;
}

// The names of the entries that can compute pl.problem, for error messages.
std::string runnable_names(const Plan& base, int threads) {
  size_t n = 0;
  const Algorithm* const* list = algorithms(&n);
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (list[i]->direction != base.problem.direction || list[i]->unsupported(base.problem)) continue;
    Plan probe = base;
    if (try_plan(list[i], probe, threads)) s += std::string(s.empty() ? "" : ", ") + list[i]->name;
  }
  return s.empty() ? "'auto'" : "'auto', " + s;
}

void run_impl(const Plan& pl, const RunArgs& args, void* workspace, const class PreparedWeights* pw);

// Backward-weights' bias gradient, whatever the algorithm: db[k] = sum of dy[:, k, :, :], each
// channel summed in float64 in one fixed order (the same bits for any thread count). NHWC sums
// blocks of 16 channels at a time so each cache line of dy is read once.
void bias_gradient(const ConvProblem& p, const float* dy, float* db, int threads) {
  const bool nhwc = p.layout == Layout::NHWC;
  const int64_t cb = nhwc ? 16 : 1, pix = p.OH * p.OW, blocks = (p.Cout + cb - 1) / cb;
  if (p.y_elems() < (int64_t(1) << 16)) threads = 1;
  parallel_for(threads, blocks, [&](int64_t blk, int) {
    const int64_t k0 = blk * cb, k1 = std::min(p.Cout, k0 + cb);
    double acc[16] = {};
    if (nhwc) {
      for (int64_t i = 0; i < p.N * pix; ++i)
        for (int64_t k = k0; k < k1; ++k) acc[k - k0] += double(dy[i * p.Cout + k]);
    } else {  // 8 partial sums (a dependency chain of float64 adds was 9% of S3's weight gradient)
      double part[8] = {};
      for (int64_t n = 0; n < p.N; ++n) {
        const float* d = dy + (n * p.Cout + k0) * pix;
        int64_t q = 0;
        for (; q + 8 <= pix; q += 8)
          for (int j = 0; j < 8; ++j) part[j] += double(d[q + j]);
        for (; q < pix; ++q) part[q % 8] += double(d[q]);
      }
      for (int j = 0; j < 8; ++j) acc[0] += part[j];
    }
    for (int64_t k = k0; k < k1; ++k) db[k] = float(acc[k - k0]);
  });
}

// A pointwise problem (1x1, stride 1, no padding) treats each pixel on its own, so when its pixels
// lie channel-innermost one after the other (NHWC, or NCHW with one pixel per image: [N, C, 1, 1],
// a dense layer) the batch is one image of N*H*W pixels: one GEMM instead of N thin ones (a dense
// layer's batch of 64 would otherwise be 64 matrix-vector products). Same memory, same result, in
// every direction (backward-weights sums over all the pixels either way).
ConvProblem fold_batch(const ConvProblem& p) {
  if (p.N == 1 || !p.is_pointwise() || (p.layout != Layout::NHWC && p.H * p.W != 1)) return p;
  ConvProblem q = p;
  q.layout = Layout::NHWC;
  q.W = q.OW = p.N * p.H * p.W;
  q.N = q.H = q.OH = 1;
  return q;
}

}  // namespace

std::unique_ptr<float[]> alloc_floats(int64_t n, const char* what) {
  float* p = new (std::nothrow) float[size_t(std::max<int64_t>(n, 1))];
  if (!p)
    throw Error(ErrorKind::Generic, codes::kOutOfMemory,
                std::string("could not allocate ") + std::to_string(n * 4) + " bytes for " + what);
  return std::unique_ptr<float[]>(p);
}

Plan plan(const ConvProblem& p, const PlanOptions& opt) {
  Plan pl;
  pl.problem = fold_batch(p);
  const ConvProblem& q = pl.problem;  // what the algorithms see
  pl.kernels = &kernels();
  pl.prepacked = opt.prepacked;
  const int threads = opt.threads > 0 ? opt.threads : default_threads();
  size_t n = 0;
  const Algorithm* const* list = algorithms(&n);
  if (opt.algorithm < 0) {
    // 'auto': the first entry that can run p and prefers it; failing that, the first that can.
    for (int pass = 0; pass < 2; ++pass)
      for (size_t i = 0; i < n; ++i) {
        const Algorithm* a = list[i];
        if (a->direction != q.direction || a->unsupported(q)) continue;
        if (pass == 0 && !a->preferred(q, *pl.kernels)) continue;
        if (try_plan(a, pl, threads)) return pl;
      }
    throw_range(codes::kInvalidOption, std::string("no algorithm of this build computes the ") +
                                           direction_name(p.direction) + " direction of this problem (" + describe(p) + ")");
  }
  const auto& names = algorithm_names();
  if (size_t(opt.algorithm) >= names.size())
    throw_range(codes::kInvalidOption, "algorithm index " + std::to_string(opt.algorithm) + " is out of range");
  const char* name = names[size_t(opt.algorithm)];
  const Algorithm* chosen = nullptr;
  for (size_t i = 0; i < n; ++i)
    if (list[i]->direction == p.direction && std::strcmp(list[i]->name, name) == 0) chosen = list[i];
  // A forced entry that cannot run the folded problem runs the problem as given (direct is NCHW-only).
  if (chosen && chosen->unsupported(q) && !chosen->unsupported(p)) pl.problem = p;
  std::string why;
  if (!chosen) why = std::string("it has no ") + direction_name(p.direction) + " implementation";
  else if (const char* u = chosen->unsupported(q)) why = u;
  else if (!try_plan(chosen, pl, threads)) why = "its per-thread buffers would pass their cap for this size";
  else return pl;
  throw_range(codes::kInvalidOption, std::string("options.algorithm '") + name + "' cannot run this problem: " + why +
                                         "; valid here: " + runnable_names(pl, threads));
}

namespace {

void run_impl(const Plan& pl, const RunArgs& args, void* workspace, const PreparedWeights* pw) {
  const ConvProblem& p = pl.problem;
  const Algorithm& algo = *pl.algorithm;
  const bool bias_alone = p.direction == Direction::BackwardWeights && !args.dst;
  std::optional<ThreadLease> lease;
  if (pl.threads > 1) lease.emplace(pl.threads);
  const int threads = lease ? lease->count() : 1;
  if (p.direction == Direction::BackwardWeights && args.dst2) bias_gradient(p, args.src2, args.dst2, threads);
  if (bias_alone) return;  // no workspace needed (the binding passes none)
  const Layout3 l = workspace_layout(pl);
  char* ws = static_cast<char*>(workspace);
  float* w_oihw = l.w_oihw ? reinterpret_cast<float*>(ws) : nullptr;
  float* packed = l.packed ? reinterpret_cast<float*>(ws + l.w_oihw) : nullptr;
  float* dw_oihw = l.dw_oihw ? reinterpret_cast<float*>(ws + l.w_oihw + l.packed) : nullptr;
  float* scratch = l.scratch ? reinterpret_cast<float*>(ws + l.w_oihw + l.packed + l.dw_oihw) : nullptr;

  RunArgs a = args;
  if (pw) {
    a.w = pw->weights();
    a.bias = p.epilogue.bias && p.direction != Direction::BackwardWeights ? pw->bias() : nullptr;
    a.packed = pl.pack_format ? pw->packed(pl) : nullptr;
  } else {
    if (w_oihw) {
      hwio_to_oihw(args.w, w_oihw, p.Cout, p.Cg, p.KH, p.KW);
      a.w = w_oihw;
    }
    if (packed) {
      algo.prepack(pl, a.w, packed, threads);
      a.packed = packed;
    }
  }
  if (dw_oihw) a.dst = dw_oihw;
  algo.run(pl, a, scratch, threads);
  if (dw_oihw) oihw_to_hwio(dw_oihw, args.dst, p.Cout, p.Cg, p.KH, p.KW);
}

}  // namespace

void run(const Plan& pl, const RunArgs& args, void* workspace) { run_impl(pl, args, workspace, nullptr); }

void Workspace::Free::operator()(void* p) const { std::free(p); }

void* Workspace::get(size_t bytes) {
  if (bytes == 0) return nullptr;
  if (bytes > capacity_) {
    data_.reset();
    capacity_ = 0;
    void* p = std::aligned_alloc(kAlign, aligned(bytes));
    if (!p)
      throw Error(ErrorKind::Generic, codes::kOutOfMemory,
                  "could not allocate " + std::to_string(bytes) + " bytes for the workspace");
    data_.reset(p);
    capacity_ = aligned(bytes);
  }
  return data_.get();
}

void compute(const ConvProblem& p, const RunArgs& args, const PlanOptions& opt) {
  const Plan pl = plan(p, opt);
  Workspace ws;
  run(pl, args, ws.get(pl.workspace_bytes));
}

PreparedWeights::PreparedWeights(const ConvProblem& p, const float* w, const float* bias) : problem_(p) {
  const int64_t n = p.w_elems();
  w_ = alloc_floats(n, "the prepared weights");
  if (p.weight_layout == WeightLayout::HWIO) hwio_to_oihw(w, w_.get(), p.Cout, p.Cg, p.KH, p.KW);
  else std::copy(w, w + n, w_.get());
  const int64_t nb = p.bias_elems();
  if (bias) {
    bias_ = alloc_floats(nb, "the prepared bias");
    std::copy(bias, bias + nb, bias_.get());
  }
  base_bytes_ = size_t(n + (bias ? nb : 0)) * sizeof(float);
}

const float* PreparedWeights::packed(const Plan& pl) const {
  const Algorithm& a = *pl.algorithm;
  if (!pl.pack_format) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Packed& k : packed_)
    if (k.format == pl.pack_format && k.kernels == pl.kernels) return k.data.get();
  // Packed on first use, for this format and kernel set (a prepared layer whose inputs all take the
  // direct kernel never packs). The packing of a plan does not depend on the input size.
  const size_t bytes = pl.packed_bytes;
  Packed k{pl.pack_format, pl.kernels, alloc_floats(int64_t(bytes / 4), "the packed weights"), bytes};
  a.prepack(pl, w_.get(), k.data.get(), 1);
  packed_.push_back(std::move(k));
  return packed_.back().data.get();
}

size_t PreparedWeights::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t b = base_bytes_;
  for (const Packed& k : packed_) b += k.bytes;
  return b;
}

void run_prepared(const Plan& pl, const PreparedWeights& pw, RunArgs args, void* workspace) {
  run_impl(pl, args, workspace, &pw);
}

}  // namespace cc
