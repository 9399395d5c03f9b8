// Module entry: registers each binding group. Context-aware (NODE_API_MODULE), so it loads in
// worker_threads; per-environment state lives in the environment's instance data.
#include <napi.h>

#include "../cpu/kernels.h"
#include "conv_binding.h"
#include "cuda_binding.h"
#include "errors.h"

namespace ccjs {
namespace {

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  // An unusable CHANNELCONV_ISA fails the load itself, with a message listing the valid values.
  guard(env, [] { cc::kernels(); });
  init_conv(env, exports);
  init_cuda(env, exports);
  return exports;
}

}  // namespace
}  // namespace ccjs

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return ccjs::InitModule(env, exports); }

NODE_API_MODULE(channelconv, Init)
