#pragma once
#include <napi.h>

namespace ccjs {
// backendInfo().cuda: { compiled, available, reason?, devices }. Probes the driver (once per process)
// when the build has CUDA.
Napi::Object cuda_status_object(Napi::Env env);
// cudaStatus, cudaProbed, cudaUpload, cudaDownload, cudaFree, cudaConv2dSync, cudaConv2dAsync.
void init_cuda(Napi::Env env, Napi::Object exports);
}  // namespace ccjs
