// Module entry: registers each binding group. Context-aware (NODE_API_MODULE), so it loads in
// worker_threads; it keeps no per-environment state.
#include <napi.h>

#include "../core/threads.h"
#include "../cpu/gemm.h"
#include "args.h"
#include "conv_binding.h"
#include "cuda_binding.h"

#ifndef CHANNELCONV_VERSION
#define CHANNELCONV_VERSION "0.0.0"
#endif

namespace ccjs {
namespace {

Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("isa", cc::gemm_isa());
  cpu.Set("threads", cc::default_threads());
  Napi::Object cuda = cuda_status_object(env);  // probes the driver once per process
  Napi::Object r = Napi::Object::New(env);
  r.Set("version", CHANNELCONV_VERSION);
  r.Set("cpu", cpu);
  r.Set("cuda", cuda);
  return r;
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  // An unusable CHANNELCONV_ISA fails the load itself, with a message listing the valid values.
  try {
    cc::gemm_kernels();
  } catch (const cc::Error& e) {
    throw_js(env, e);
  }
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo, "backendInfo"));
  init_conv(env, exports);
  init_cuda(env, exports);
  init_fast(env, exports);
  return exports;
}

}  // namespace
}  // namespace ccjs

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return ccjs::InitModule(env, exports); }

NODE_API_MODULE(channelconv, Init)
