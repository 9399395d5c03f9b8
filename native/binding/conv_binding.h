#pragma once
#include <napi.h>

namespace ccjs {
void init_conv(Napi::Env env, Napi::Object exports);
}
namespace ccjs {
// conv2dSyncPacked, planPacked and the PreparedConv class (fast_binding.cpp).
void init_fast(Napi::Env env, Napi::Object exports);
}
