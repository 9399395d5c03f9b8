// One call as the binding sees it: the descriptor (a Float64Array every entry point shares, written
// by lib/desc.ts), the resolved problem and its plan (cached per thread), and the checked arrays.
// One validator (prepare_call) serves plan, run, runAsync, CPU and CUDA, plain and prepared calls.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "../core/plan.h"
#include "../core/problem.h"
#include "errors.h"

namespace ccjs {

// Descriptor slots; lib/desc.ts writes the same numbers. [0, kRequestLen): the request, written by
// TS; the rest: the plan's results, written back by plan / run.
enum Slot : int {
  kOp = 0,             // 0 conv, 1 transposed conv
  kDirection = 1,      // 0 forward, 1 backward-data, 2 backward-weights (a transposed conv: 1)
  kRank = 2,           // input rank, 3 or 4
  kInput = 3,          // 4 slots: the input shape as given (rank 3: the last one unused)
  kWeight = 7,         // 4 slots: the weight shape as given
  kStride = 11,        // 2
  kDilation = 13,      // 2
  kPadMode = 15,       // 0 explicit, 1 valid, 2 same, 3 same_lower
  kPad = 16,           // 4: top, bottom, left, right
  kOutputPadding = 20, // 2 (transposed conv)
  kGroups = 22,
  kLayout = 23,        // 0 NCHW, 1 NHWC
  kWeightLayout = 24,  // 0 OIHW (transposed: IOHW), 1 HWIO (transposed: HWOI)
  kBias = 25,          // 0/1: a bias is added (forward, backward-data) or its gradient wanted (backward-weights)
  kActivation = 26,    // 0 none, 1 relu
  kPrecision = 27,     // 0 fp32, 1 tf32, 2 bf16
  kDevice = 28,        // 0 cpu, 1 cuda
  kThreads = 29,       // 0: default
  kAlgorithm = 30,     // -1 auto, else an index into backendInfo().algorithms
  kSkipWeights = 31,   // backward-weights: 1 = only the bias gradient
  kRequestLen = 32,
  // results
  kDstRank = 32,       // the output of this direction: y, dx or dw, as the caller sees it
  kDst = 33,           // 4
  kMacs = 37,
  kWorkspace = 38,     // bytes of scratch a call allocates (CPU plan, or the CUDA path's device workspace)
  kAlgorithmOut = 39,  // index of the algorithm planned, -1 on the GPU
  kPadOut = 40,        // 4: padding applied, of the forward geometry
  kPackedBytes = 44,   // prepacked weights of that algorithm (what a prepared layer adds)
  kYRank = 45,         // the forward output's shape (the gradOutput a backward call expects)
  kY = 46,             // 4
  kDescLen = 50
};

enum class Device { Cpu, Cuda };

// A prepared layer's native side (the Layer class in conv_binding.cpp): its request (weight shape,
// options) and its weights. Calls through a layer take only the input, direction and run options
// from the descriptor.
struct LayerState {
  cc::ConvRequest request;
  std::shared_ptr<const cc::PreparedWeights> weights;
  uint64_t serial = 0;  // unique per layer, never reused (keys the plan cache)
};

// The request of a descriptor without a layer: what a new layer keeps (its weight and options).
cc::ConvRequest layer_request(Napi::Env env, const double* desc);

// The plan of a request: immutable once made, cached per thread.
struct Planned {
  cc::ConvProblem problem;
  cc::Plan plan;  // Device::Cpu only
  Device device = Device::Cpu;
  bool skip_weights = false;
  bool transpose = false;  // a transposed convolution's request (for the arrays' names)
  int rank = 4;
};

// The arrays of one run, checked against its plan.
struct Arrays {
  FloatView src, src2, w, bias, dst, dst2;
  Napi::Value src_device;   // a device handle input (Device::Cuda), else empty
  Napi::Value src2_device;  // backward-weights' gradOutput as a device handle (with src_device)
};

// The descriptor argument: a Float64Array of at least kDescLen elements.
double* desc_arg(Napi::Env env, Napi::Value v);

// Resolves and plans the request in `desc` (from the thread's plan cache when it repeats) and writes
// the results into desc. layer: a prepared layer's state, or null. The reference stays valid until
// the next plan_call on this thread.
const Planned& plan_call(Napi::Env env, double* desc, const LayerState* layer);

// Reads and checks the arrays of a run, (src, w, bias, dst, src2, dst2) from info[first] on, as
// Binding.run documents them; `layer`: the weight argument was a prepared layer. `async`: the outputs
// may be null (the call makes its own; given ones are only checked).
Arrays check_arrays(Napi::Env env, const Planned& c, const Napi::CallbackInfo& info, int first, bool layer,
                    bool async);

}  // namespace ccjs
