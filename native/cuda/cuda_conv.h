// The CUDA convolution as the rest of the code sees it: pure C++ (no cuda_runtime.h), so core, the
// binding and the native tests include it with any compiler. Implemented in native/cuda/*.cu, which
// are compiled only when CMake finds nvcc (CHANNELCONV_HAS_CUDA). Every function throws cc::Error
// (code ERR_CHANNELCONV_CUDA, or ERR_CHANNELCONV_NO_CUDA when there is no usable GPU) on failure.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/plan.h"
#include "../core/problem.h"

namespace cc {
namespace cuda {

// How a direction computes (ConvOptions::algo; the tests and the benchmark force each):
enum class Algo {
  Auto,        // Cin/groups == 1: Direct; backward-data with a stride > 1: Im2colGemm; else Implicit
  Im2colGemm,  // forward: im2col into a workspace, then the GEMM; backward-data: the GEMM into columns,
               // then col2im; backward-weights has none (runs Implicit)
  Implicit,    // the GEMM gathers its operands straight from the tensors (backward-data: every stride
               // phase, so a stride s does s_h*s_w times the multiply-adds)
  Direct,      // one thread per output element (backward-weights: one block per weight); only for
               // Cin/groups == 1 (depthwise), else Auto
};

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t memory_bytes = 0;
};

struct Status {
  bool available = false;
  std::string reason;  // why not, when !available
  std::vector<DeviceInfo> devices;
};

// Probes the driver once per process (cudaGetDeviceCount + properties; any error means "no GPU",
// with the CUDA error text as the reason) and caches the answer. Thread-safe.
const Status& status();
// Whether status() has run in this process: lets tests check that CPU-only calls never touch CUDA.
bool probed();
// Throws ERR_CHANNELCONV_NO_CUDA with the reason when no GPU is usable.
void require_available();

// Device memory owned by a shared_ptr, so work in flight keeps a buffer alive after dispose().
class Buffer {
 public:
  explicit Buffer(size_t bytes);  // cudaMalloc on the current device
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* data() const { return static_cast<float*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};
using BufferPtr = std::shared_ptr<Buffer>;

// Host <-> device copies; synchronous with respect to the host (they return when the copy is done).
void upload(float* dst_dev, const float* src_host, size_t count);
void download(float* dst_host, const float* src_dev, size_t count);

// The problem carries the direction, the precision and the epilogue. Precision: FP32 exact float32;
// TF32 tensor cores with 10-bit mantissa operands on compute capability 8.0+, exact float32 before;
// BF16 bfloat16 operands (round to nearest even) with float32 sums, on tensor cores from 8.0, by
// rounding in the float32 kernels before. The epilogue (bias, relu) is fused where the output is
// written.
struct ConvOptions {
  Algo algo = Algo::Auto;
  // A cudaStream_t to enqueue on: run_device then returns without waiting (the benchmark times it with
  // events), unless it had to allocate a workspace. Null: a private stream, waited for.
  void* stream = nullptr;
  // Device memory of at least workspace_bytes(p, opt) bytes, 16-byte aligned; null: allocated per call.
  void* workspace = nullptr;
  // False: the float32 kernels even where tensor cores exist (TF32 then computes exact float32, BF16
  // rounds its operands), as on a GPU older than 8.0. For the tests and the benchmark.
  bool tensor_cores = true;
};

// Device pointers only, NCHW / OIHW (the layout fields of p are ignored). The tensors of each
// direction as RunArgs documents them (core/plan.h; `packed` unused):
//   forward:          src = x [N, Cin, H, W], w, bias [Cout] or null  -> dst = y [N, Cout, OH, OW]
//   backward-data:    src = dy [N, Cout, OH, OW], w, bias [Cin] or null -> dst = dx [N, Cin, H, W]
//   backward-weights: src = x, src2 = dy -> dst = dw [Cout, Cg, KH, KW] (null: skipped),
//                     dst2 = db [Cout] (null: skipped)
// Outputs are fully overwritten. Unless opt.stream is set, runs on its own stream and returns when the
// results are written (call it from a worker thread).
void run_device(const ConvProblem& p, const RunArgs& a, const ConvOptions& opt = {});

// Host pointers, in the layouts p names (NHWC / HWIO converted on the host): uploads, runs run_device,
// downloads the outputs.
void run_host(const ConvProblem& p, const RunArgs& a, const ConvOptions& opt = {});

// Device workspace run_device needs for p and opt.algo, in bytes.
size_t workspace_bytes(const ConvProblem& p, const ConvOptions& opt = {});

}  // namespace cuda
}  // namespace cc
