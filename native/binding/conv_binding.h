#pragma once
#include <napi.h>

namespace ccjs {
// plan, run, runAsync, Layer, backendInfo, externalMemory (conv_binding.cpp).
void init_conv(Napi::Env env, Napi::Object exports);
}  // namespace ccjs
