// Plan, then run (MLAS's prepare/run): plan() fixes the algorithm and its blocking once and reports
// the workspace and packed-weight bytes; run() executes it with tensors and a workspace the caller
// owns. The algorithm is chosen here and nowhere else: in the order of the registry (registry.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "problem.h"

namespace cc {

struct Algorithm;
struct KernelSet;

struct PlanOptions {
  int threads = 0;         // <= 0: default_threads(); run() leases at most this many
  int algorithm = -1;      // index into algorithm_names(), or -1: 'auto'
  bool prepacked = false;  // run() gets the weights already packed (a prepared layer, prepack())
};

struct Plan {
  ConvProblem problem;
  const Algorithm* algorithm = nullptr;
  const KernelSet* kernels = nullptr;  // the CPU kernel set the blocking is for
  int threads = 1;                     // what run() asks the thread budget for
  bool prepacked = false;
  size_t workspace_bytes = 0;  // scratch run() needs, 64-byte aligned, owned by the caller
  const void* pack_format = nullptr;  // the algorithm's packed weight layout for this problem, or null
  size_t packed_bytes = 0;     // of this algorithm's prepacked weights (0: it packs nothing)
  size_t scratch_bytes = 0;    // the algorithm's own part of the workspace (set by Algorithm::plan)
  // The algorithm's own blocking (trivially copyable; see get()).
  alignas(16) unsigned char blocking[256];

  template <class T>
  T& get() {
    static_assert(sizeof(T) <= sizeof blocking && alignof(T) <= 16, "blocking too large");
    return *reinterpret_cast<T*>(blocking);
  }
  template <class T>
  const T& get() const {
    static_assert(sizeof(T) <= sizeof blocking && alignof(T) <= 16, "blocking too large");
    return *reinterpret_cast<const T*>(blocking);
  }
};

// Plans `p` (pl.problem may be an equivalent problem over the same memory: a pointwise batch folded
// into one image). Throws cc::Error: ERR_CHANNELCONV_INVALID_OPTION (RangeError) when a forced algorithm
// cannot run p, listing those that can; ERR_CHANNELCONV_INVALID_ISA when the kernel set is unusable.
Plan plan(const ConvProblem& p, const PlanOptions& opt = {});

// The tensors of one run. Activations in p.layout, weights in p.weight_layout.
//   forward:          src = x,  w,        bias [Cout] (epilogue), dst = y
//   backward-data:    src = dy, w,        bias [Cin]  (epilogue), dst = dx
//   backward-weights: src = x,  src2 = dy,                         dst = dw, dst2 = dbias [Cout] or null
//                     (dst null: the bias gradient alone)
// `packed` (instead of w): weights packed by prepack() for this plan's algorithm and kernel set.
// dst must not overlap the inputs; it is fully overwritten.
struct RunArgs {
  const float* src = nullptr;
  const float* src2 = nullptr;
  const float* w = nullptr;
  const float* packed = nullptr;
  const float* bias = nullptr;
  float* dst = nullptr;
  float* dst2 = nullptr;
};

// Executes `pl`. workspace: pl.workspace_bytes, 64-byte aligned (null when 0). Allocates nothing.
// Throws cc::Error only before writing any output.
void run(const Plan& pl, const RunArgs& args, void* workspace);

// Weights (and bias) held for many calls: a prepared layer. Any problem whose weight side matches
// may use it (N, H, W free). Packs lazily, once per packed format and kernel set, thread-safely;
// immutable otherwise, so calls may share it.
class PreparedWeights {
 public:
  // p: a problem of this layer (its weight side and direction matter). w in p.weight_layout.
  // Throws cc::Error (OUT_OF_MEMORY) when the copy cannot be allocated.
  PreparedWeights(const ConvProblem& p, const float* w, const float* bias);
  const float* weights() const { return w_.get(); }  // in the layer's weight layout
  const float* bias() const { return bias_.get(); }
  // The weights packed for pl's algorithm and kernel set (packed on first use), or null when that
  // algorithm packs nothing.
  const float* packed(const Plan& pl) const;
  size_t bytes() const;  // memory held now

 private:
  struct Packed {
    const void* format;
    const KernelSet* kernels;
    std::unique_ptr<float[]> data;
    size_t bytes;
  };
  ConvProblem problem_;
  std::unique_ptr<float[]> w_, bias_;
  size_t base_bytes_ = 0;
  mutable std::mutex mu_;
  mutable std::vector<Packed> packed_;
};

// Runs pl (planned with prepacked = true) with a prepared layer's weights and bias in place of
// args.w, args.packed and args.bias.
void run_prepared(const Plan& pl, const PreparedWeights& pw, RunArgs args, void* workspace);

// Allocates floats, or throws cc::Error ERR_CHANNELCONV_OUT_OF_MEMORY naming `what`.
std::unique_ptr<float[]> alloc_floats(int64_t n, const char* what);

// Caller-owned scratch memory, 64-byte aligned, grown on demand and kept (a thread's sync calls
// reuse it). get() throws cc::Error ERR_CHANNELCONV_OUT_OF_MEMORY when it cannot grow.
class Workspace {
 public:
  void* get(size_t bytes);
  size_t capacity() const { return capacity_; }
  void release() { data_.reset(); capacity_ = 0; }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, Free> data_;
  size_t capacity_ = 0;
};

// plan() + a workspace + run(), in one call: for the native tests, benchmarks and the fuzzer.
void compute(const ConvProblem& p, const RunArgs& args, const PlanOptions& opt = {});

}  // namespace cc
