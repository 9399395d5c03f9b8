#pragma once
#include <napi.h>

namespace ccjs {
void init_conv(Napi::Env env, Napi::Object exports);
}
