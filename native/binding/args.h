// Unwrapping JS arguments into core types, and turning core errors into JS errors. Every check here
// repeats one the TypeScript layer already made: the binding must be safe when called directly.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/shape.h"

namespace ccjs {

// Throws a JS TypeError / RangeError / Error with `code` (a C++ exception: NAPI_CPP_EXCEPTIONS).
[[noreturn]] void throw_js(Napi::Env env, cc::ErrorKind kind, const std::string& code,
                           const std::string& message);
[[noreturn]] inline void throw_js(Napi::Env env, const cc::Error& e) {
  throw_js(env, e.kind(), e.code(), e.what());
}
Napi::Error make_js_error(Napi::Env env, cc::ErrorKind kind, const std::string& code,
                          const std::string& message);

// A Float32Array argument: its data pointer (byte offset included) and element count.
struct FloatView {
  float* data = nullptr;
  size_t length = 0;
  Napi::Object object;  // the typed array, kept alive by async calls
};
FloatView float_array(Napi::Env env, Napi::Value v, const char* name, bool allow_null = false);

// A shape: an array of positive integers (rank checked by the caller).
std::vector<int64_t> shape_arg(Napi::Env env, Napi::Value v, const char* name);

// conv2d's scalar options from the params object: see binding.d.ts NativeConvParams.
struct ConvParams {
  cc::ConvDesc desc;
  int threads = 0;
  bool relu = false;  // activation: 'relu'
};
ConvParams conv_params(Napi::Env env, const std::vector<int64_t>& in_shape,
                       const std::vector<int64_t>& w_shape, Napi::Value params);

// Validated shape (throws JS errors) from (inputShape, weightShape, params) arguments.
cc::ConvShape resolve_shape(Napi::Env env, const ConvParams& p);

}  // namespace ccjs
