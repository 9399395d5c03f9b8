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

#include "../core/problem.h"

namespace cc {
namespace cuda {

enum class Algo {
  Auto,        // Cin/groups == 1: Direct; 1x1 stride 1 unpadded: GEMM on the input; else Implicit
  Im2colGemm,  // im2col into a workspace, then the tiled GEMM
  Implicit,    // the GEMM gathers its B tiles straight from the input (no workspace)
  Direct,      // one thread per output element; only for Cin/groups == 1 (depthwise)
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

// The problem carries the precision (FP32: plain float32 FMAs; TF32: tensor cores, 10-bit mantissa,
// on compute capability 8.0+, else FP32) and the epilogue (bias, relu: in the GEMM epilogue).
struct ConvOptions {
  Algo algo = Algo::Auto;
  // A cudaStream_t to enqueue on: conv2d_device then returns without waiting (the benchmark times
  // it with events). Null: a private stream, waited for.
  void* stream = nullptr;
};

// Device pointers only. x: [N, C, H, W], w: [K, Cg, KH, KW] (NCHW / OIHW: the layout fields of `s`
// are ignored), bias: [K] or null, y: [N, K, OH, OW], fully overwritten. Unless opt.stream is set,
// runs on its own stream and returns when the result is in y (call it from a worker thread).
void conv2d_device(const ConvProblem& s, const float* x, const float* w, const float* bias, float* y,
                   const ConvOptions& opt = {});

// Host pointers, in the layouts `s` names (NHWC / HWIO converted on the host): uploads, runs
// conv2d_device, downloads into y.
void conv2d_host(const ConvProblem& s, const float* x, const float* w, const float* bias, float* y,
                 const ConvOptions& opt = {});

// Device workspace conv2d_device allocates for this shape and algorithm, in bytes.
size_t workspace_bytes(const ConvProblem& s, const ConvOptions& opt);

}  // namespace cuda
}  // namespace cc
