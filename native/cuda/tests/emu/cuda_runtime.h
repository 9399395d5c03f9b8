// A CPU stand-in for the CUDA runtime, so the real kernel sources (native/cuda/*.cu, included as
// C++) run without a GPU: each block's threads run as cooperative fibers (ucontext), switching at
// __syncthreads, `__shared__` arrays are function statics shared by the block's threads (blocks run
// one after another), device memory is host memory. Enough for every kernel (wmma: mma.h here). It checks indexing, tiling, remainders and barriers; it says nothing
// about speed, the memory model of a real GPU, or alignment faults.
#pragma once
#ifndef CC_CUDA_EMULATE
#error "this header is only for the CPU emulation build (CC_CUDA_EMULATE)"
#endif
#include <ucontext.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

namespace ccemu {
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

// Cooperative scheduler: a block's threads are ucontext fibers on the calling thread. Each round
// resumes every live fiber until it reaches __syncthreads or returns; a round in which some
// fibers returned while others waited at a barrier is a divergent barrier (undefined in CUDA):
// the emulation aborts on it.
struct Sched {
  ucontext_t main;
  std::vector<ucontext_t> ctx;
  std::vector<std::vector<char>> stacks;
  std::vector<char> done;
  unsigned cur = 0;
  const std::function<void()>* body = nullptr;
};
inline Sched& sched() {
  static Sched s;
  return s;
}
inline void fiber_entry() {
  Sched& s = sched();
  (*s.body)();
  s.done[s.cur] = 1;  // returning resumes uc_link (the scheduler)
}
inline void run_block(unsigned n, const dim3& block, const std::function<void()>& body) {
  Sched& s = sched();
  s.body = &body;
  s.ctx.resize(n);
  s.stacks.resize(n);
  s.done.assign(n, 0);
  for (unsigned i = 0; i < n; ++i) {
    s.stacks[i].resize(256 * 1024);
    getcontext(&s.ctx[i]);
    s.ctx[i].uc_stack.ss_sp = s.stacks[i].data();
    s.ctx[i].uc_stack.ss_size = s.stacks[i].size();
    s.ctx[i].uc_link = &s.main;
    makecontext(&s.ctx[i], fiber_entry, 0);
  }
  for (;;) {
    unsigned finished = 0, waiting = 0;
    for (unsigned i = 0; i < n; ++i) {
      if (s.done[i]) continue;
      s.cur = i;
      threadIdx = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
      swapcontext(&s.main, &s.ctx[i]);
      if (s.done[i]) ++finished;
      else ++waiting;
    }
    if (waiting == 0) return;
    if (finished != 0) {
      std::fprintf(stderr, "CUDA emulation: divergent __syncthreads (%u threads returned, %u waiting)\n", finished, waiting);
      std::abort();
    }
  }
}
}  // namespace ccemu
using ccemu::blockDim;
using ccemu::blockIdx;
using ccemu::gridDim;
using ccemu::threadIdx;

template <class T>
inline T __ldg(const T* p) { return *p; }
inline uint32_t __float_as_uint(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline void __syncthreads() {
  ccemu::Sched& s = ccemu::sched();
  swapcontext(&s.ctx[s.cur], &s.main);
}
// A scheduling point too (stronger than the real one: it waits for the whole block), so that lanes
// see each other's shared-memory writes; every thread of a block must reach it equally often.
inline void __syncwarp() { __syncthreads(); }
[[noreturn]] inline void __trap() { std::abort(); }

namespace ccemu {
// Runs kernel(args...) over the grid, one block after another. One launch at a time in the process
// (the scheduler, the thread indices and the shared arrays are global): the emulated addon runs
// async calls on several threads of the libuv pool.
inline std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}
template <class... P>
struct Launch {
  void (*kernel)(P...);
  dim3 grid, block;
  template <class... A>
  void operator()(A&&... args) const {
    const std::lock_guard<std::mutex> lock(launch_mutex());
    const unsigned nthreads = block.x * block.y * block.z;
    const std::function<void()> body = [&] { kernel(args...); };
    gridDim = grid;
    blockDim = block;
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          blockIdx = dim3(bx, by, bz);
          run_block(nthreads, block, body);
        }
  }
};
template <class... P>
Launch<P...> launch(void (*k)(P...), dim3 g, dim3 b) { return {k, g, b}; }
}  // namespace ccemu
#define CC_LAUNCH(kernel, grid, block, smem, stream) ::ccemu::launch(kernel, dim3(grid), dim3(block))

// ---- runtime API: host memory, no streams, one emulated device of compute capability 8.0 ----------
enum cudaError_t { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInsufficientDriver = 35, cudaErrorNoDevice = 100 };
#define CUDART_VERSION 13000
typedef void* cudaStream_t;
enum { cudaStreamNonBlocking = 1 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
struct cudaDeviceProp {
  char name[256];
  int major, minor, multiProcessorCount;
  size_t totalGlobalMem;
};
inline const char* cudaGetErrorName(cudaError_t e) {
  return e == cudaErrorMemoryAllocation ? "cudaErrorMemoryAllocation" : e ? "cudaErrorEmulated" : "cudaSuccess";
}
inline const char* cudaGetErrorString(cudaError_t e) { return e ? "emulated error" : "no error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::strcpy(p->name, "CPU emulation");
  p->major = 8;  // 8.0: the launcher uses the TF32 kernels (wmma emulated in mma.h)
  p->minor = 0;
  p->multiProcessorCount = 1;
  p->totalGlobalMem = size_t(1) << 32;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (bytes > (size_t(1) << 40)) return cudaErrorMemoryAllocation;
  *p = std::malloc(bytes);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
template <class T>
inline cudaError_t cudaMalloc(T** p, size_t bytes) { return cudaMalloc(reinterpret_cast<void**>(p), bytes); }
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { std::memcpy(d, s, n); return cudaSuccess; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { *s = nullptr; return cudaSuccess; }
inline cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
// Events: every interval reads 1 ms (the emulation says nothing about time).
typedef struct CUevent_emu* cudaEvent_t;
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { *e = nullptr; return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = nullptr) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) { *ms = 1.f; return cudaSuccess; }
