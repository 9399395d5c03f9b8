// The CPU convolution entry point the addon, the native tests and the benchmarks all call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "shape.h"

namespace cc {

struct RunOptions {
  int threads = 0;  // <= 0: default_threads(); the call leases at most this many from the budget
  bool relu = false;  // y = max(conv + bias, 0), fused into the kernels' epilogue
};

// Scratch memory a call allocates, in bytes: the packed weights plus one packed-input block
// (K block x tile width, at most a few hundred KB) per thread; an HWIO weight copy. Independent of
// N, H and W beyond the tile width. prepared: a call on PreparedWeights (no weight packing or copy).
size_t workspace_bytes(const ConvShape& s, int threads, bool prepared = false);

// y = conv2d(x, w) + bias. x: input in s.layout, w: weight in s.weight_layout, bias: [K] or null,
// y: output [N, K, OH, OW] (or [N, OH, OW, K] for NHWC), fully overwritten. y must not overlap x or w.
// Throws cc::Error only before any output is written (allocation failure).
void conv2d(const ConvShape& s, const float* x, const float* w, const float* bias, float* y,
            const RunOptions& opt = {});

// Weights (and bias) copied and packed once for many calls: a prepared layer. Any input whose
// channels match may use it (N, H, W free; same options). Immutable, so calls may share it.
class PreparedWeights {
 public:
  // s: the layer's shape for some input (only its weight side and options matter). Throws cc::Error
  // on allocation failure.
  PreparedWeights(const ConvShape& s, const float* w, const float* bias);
  // Whether `s` (a shape built with this layer's weight shape and options) can run on these weights.
  bool compatible(const ConvShape& s) const;
  bool has_bias() const { return bool(bias_); }
  size_t bytes() const { return bytes_; }  // memory held

 private:
  friend void conv2d_prepared(const ConvShape&, const PreparedWeights&, const float*, float*,
                              const RunOptions&);
  ConvShape shape_;
  const char* isa_;                  // kernel set the panels were packed for
  std::unique_ptr<float[]> oihw_;    // OIHW copy (direct kernel; repacking if the ISA changed)
  std::unique_ptr<float[]> packed_;  // GEMM A panels, or null when every input takes the direct path
  std::unique_ptr<float[]> bias_;
  size_t bytes_ = 0;
};

// As conv2d, with the weights and bias of `pw`. Throws cc::Error (RangeError) if !pw.compatible(s).
void conv2d_prepared(const ConvShape& s, const PreparedWeights& pw, const float* x, float* y,
                     const RunOptions& opt = {});

}  // namespace cc
