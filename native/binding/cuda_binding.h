// The CUDA side of the binding: device status, device-resident buffers (an External holding a
// shared_ptr to device memory, freed by cudaFree or, as a backstop, by the GC finalizer), and the
// GPU run of a call. Without CUDA in the build every entry point but the status throws NO_CUDA.
#pragma once
#include <napi.h>

#include <cstddef>
#include <memory>

#include "../core/plan.h"
#include "../core/problem.h"

namespace ccjs {

// backendInfo().cuda: { compiled, available, reason?, devices }. Probes the driver (once per process)
// when the build has CUDA.
Napi::Object cuda_status_object(Napi::Env env);
// cudaStatus, cudaProbed, cudaUpload, cudaDownload, cudaFree.
void init_cuda(Napi::Env env, Napi::Object exports);

// A device buffer of `count` floats; shared so that work in flight keeps it alive after dispose().
struct DeviceRef {
  std::shared_ptr<void> buf;
  size_t count = 0;
};
bool is_device_handle(Napi::Value v);
// The handle's buffer; throws a JS TypeError for a non-handle and ERR_CHANNELCONV_DISPOSED when freed.
DeviceRef device_ref(Napi::Env env, Napi::Value v, const char* name);
Napi::Value wrap_device(Napi::Env env, DeviceRef ref);

// Throws cc::Error ERR_CHANNELCONV_NO_CUDA, with the reason, when no GPU is usable (or the build has
// no CUDA). Probes the driver once per process.
void require_cuda();

// Device workspace the GPU path allocates for p, in bytes (0 without CUDA).
size_t cuda_workspace_bytes(const cc::ConvProblem& p);

// Why the GPU path cannot compute p (a direction it lacks), or null when it can. plan_call refuses
// such a call with ERR_CHANNELCONV_INVALID_OPTION before anything runs.
const char* cuda_unsupported(const cc::ConvProblem& p);

// The directions the GPU path computes (backendInfo().cuda.directions).
bool cuda_computes(cc::Direction d);

// Runs p on the GPU with the tensors of cc::run (`host`: host memory, p's layouts). A device input
// (NCHW) replaces host.src (src_dev) and, for backward-weights, host.src2 (src2_dev). Forward and
// backward-data with a device input return their output as a new device buffer (host.dst unused);
// every other call writes host.dst (and host.dst2). Throws cc::Error (ERR_CHANNELCONV_NO_CUDA without
// a usable GPU, ERR_CHANNELCONV_CUDA on a CUDA failure). Call it off the main thread for anything
// large: it waits for the GPU.
DeviceRef run_cuda(const cc::ConvProblem& p, const cc::RunArgs& host, const DeviceRef& src_dev,
                   const DeviceRef& src2_dev);

}  // namespace ccjs
