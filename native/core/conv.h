// The CPU convolution entry point the addon, the native tests and the benchmarks all call.
#pragma once
#include <cstddef>
#include <cstdint>

#include "shape.h"

namespace cc {

struct RunOptions {
  int threads = 0;  // <= 0: default_threads(); the call leases at most this many from the budget
  bool relu = false;  // y = max(conv + bias, 0), fused into the kernels' epilogue
};

// Scratch memory a call allocates, in bytes: the packed weights plus one packed-input block
// (K block x tile width, at most a few hundred KB) per thread; an HWIO weight copy. Independent of
// N, H and W beyond the tile width.
size_t workspace_bytes(const ConvShape& s, int threads);

// y = conv2d(x, w) + bias. x: input in s.layout, w: weight in s.weight_layout, bias: [K] or null,
// y: output [N, K, OH, OW] (or [N, OH, OW, K] for NHWC), fully overwritten. y must not overlap x or w.
// Throws cc::Error only before any output is written (allocation failure).
void conv2d(const ConvShape& s, const float* x, const float* w, const float* bias, float* y,
            const RunOptions& opt = {});

}  // namespace cc
