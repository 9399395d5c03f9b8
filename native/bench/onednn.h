// oneDNN as a peer of the native benchmark suite (built when CMake finds libdnnl, e.g. Debian's
// libdnnl-dev; never part of the addon or the npm package). One place for everything oneDNN: the
// bench asks for the contenders of a problem and times their call() like its own.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/plan.h"
#include "core/problem.h"

namespace ccbench {

// One oneDNN contender for a problem, set up once (primitive descriptor, primitive, weights
// reordered, blocked copies of the inputs); call(i) computes rotated set i.
struct OnednnCase {
  std::string label;  // "onednn" (our layouts in and out, its reorders timed) or "onednn blocked"
                      // (its own layouts, inputs reordered at setup: the primitive alone); a forced
                      // algorithm adds its name ("onednn winograd")
  std::string impl;   // oneDNN's implementation (pd.impl_info_str(): "jit:avx512_core", ...)
  std::function<void(int64_t set)> call;
  // After the timed calls: puts set i's result into sets[i].dst / dst2 in our layout (a blocked case
  // reorders it back; the others wrote it there already), so the caller can check it.
  std::function<void(int64_t set)> finish;
};

// "oneDNN 2.6.3 (cpu runtime omp)" or null when this build has no oneDNN.
const char* onednn_version();

// oneDNN's contenders for p (every direction; FP32, and BF16 where oneDNN has bf16 kernels for this
// CPU): convolution_auto in our layouts (end-to-end) and in its blocked layouts (primitive only),
// and the same with convolution_winograd wherever oneDNN has a Winograd implementation for p. sets:
// the caller's rotated tensors, with plan.h's RunArgs meaning per direction (w and bias the same in
// every set). Threads: oneDNN's OpenMP team is set to `threads` before each call. Problems oneDNN
// cannot express here give no case (an empty list without oneDNN); `skipped` gets the reason.
std::vector<OnednnCase> onednn_cases(const cc::ConvProblem& p, int threads, const std::vector<cc::RunArgs>& sets,
                                     std::string* skipped);

}  // namespace ccbench
