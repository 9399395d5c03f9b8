// Shared by the .cu files: error checking (every CUDA call and every launch) and small helpers.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "../core/error.h"

namespace cc {
namespace cuda {

// Turns a CUDA error into cc::Error: out of memory keeps its own code, anything else is
// ERR_CHANNELCONV_CUDA with the call, the place and CUDA's own name and text.
[[noreturn]] inline void throw_cuda(cudaError_t e, const char* what, const char* file, int line) {
  // Reset the thread's last-error slot (non-sticky errors such as a failed cudaMalloc stay there
  // and would otherwise be reported again by the next launch check).
  cudaGetLastError();
  const std::string msg = std::string("CUDA error ") + cudaGetErrorName(e) + " (" + std::to_string(int(e)) +
                          "): " + cudaGetErrorString(e) + " in " + what + " at " + file + ":" +
                          std::to_string(line);
  if (e == cudaErrorMemoryAllocation) throw Error(ErrorKind::Range, codes::kOutOfMemory, msg);
  throw Error(ErrorKind::Generic, codes::kCuda, msg);
}

#define CC_CUDA_CHECK(call)                                                          \
  do {                                                                               \
    const cudaError_t cc_err_ = (call);                                              \
    if (cc_err_ != cudaSuccess) ::cc::cuda::throw_cuda(cc_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After every launch: a bad configuration shows here; a fault inside the kernel shows at the next
// synchronising call, which is checked too (Caffe's CUDA_POST_KERNEL_CHECK).
#define CC_CUDA_LAUNCH_CHECK(name) CC_CUDA_CHECK(cudaGetLastError())

// Kernel launch, written as CC_LAUNCH(kernel, grid, block, smem, stream)(args...). Under
// CC_CUDA_EMULATE (the CPU emulation test, native/cuda/tests/emu) the shim defines it instead.
#ifndef CC_LAUNCH
#define CC_LAUNCH(kernel, grid, block, smem, stream) kernel<<<grid, block, smem, stream>>>
#endif

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Grid dimensions y and z are limited to 65535; kernels loop over the remainder.
inline unsigned clamp_grid(int64_t n, int64_t limit = 65535) {
  return unsigned(n < 1 ? 1 : (n > limit ? limit : n));
}

// A stream for one call, destroyed (after the caller synchronised) on scope exit.
class Stream {
 public:
  Stream() { CC_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(s_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

}  // namespace cuda
}  // namespace cc

namespace cc {
namespace cuda {
__host__ __device__ inline int64_t ceil_div_d(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Sum of v over the block's 256 threads, always added in the same tree order (the same bits on every
// run); every thread of the block must call it; the result is returned to all of them.
__device__ inline double block_sum256(double v) {
  __shared__ double part[256];
  part[threadIdx.x] = v;
  __syncthreads();
  for (unsigned w = 128; w > 0; w >>= 1) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  const double r = part[0];
  __syncthreads();  // part is reused by the next call
  return r;
}
// f rounded to bfloat16 (to nearest, ties to even, as __float2bfloat16; NaN stays NaN), as a float.
__device__ inline float bf16_round(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return f;
  u += 0x7fffu + ((u >> 16) & 1u);
  return __uint_as_float(u & 0xffff0000u);
}
}  // namespace cuda
}  // namespace cc
