// The binding's one mapping from native failures to JS errors, and the reading of typed-array
// arguments. Every check here repeats one the TypeScript layer already made: the binding must be
// safe when called directly.
#pragma once
#include <napi.h>

#include <string>

#include "../core/error.h"

namespace ccjs {

// A failure on its way to JS: kind (TypeError / RangeError / Error), stable code, message.
struct Failure {
  bool failed = false;
  cc::ErrorKind kind = cc::ErrorKind::Generic;
  std::string code = cc::codes::kInternal;
  std::string message;
};

// Runs f; whatever it throws becomes a Failure: cc::Error keeps its kind and code, std::bad_alloc is
// ERR_CHANNELCONV_OUT_OF_MEMORY, anything else ERR_CHANNELCONV_INTERNAL. Never throws. Safe off the
// main thread (touches no N-API value).
template <class F>
Failure capture(F&& f) noexcept {
  Failure r;
  try {
    f();
    return r;
  } catch (const cc::Error& e) {
    r.kind = e.kind();
    r.code = e.code();
    r.message = e.what();
  } catch (const std::bad_alloc&) {
    r.code = cc::codes::kOutOfMemory;
    r.message = "could not allocate the memory the call needs";
  } catch (const std::exception& e) {
    r.message = e.what();
  } catch (...) {
    r.message = "unknown native error";
  }
  r.failed = true;
  return r;
}

Napi::Error make_js_error(Napi::Env env, const Failure& f);
[[noreturn]] void throw_js(Napi::Env env, cc::ErrorKind kind, const std::string& code, const std::string& message);
[[noreturn]] inline void throw_js(Napi::Env env, const Failure& f) { throw make_js_error(env, f); }

// Runs f on the main thread, turning native failures into a thrown JS error (a C++ exception must
// never cross into N-API: NAPI_CPP_EXCEPTIONS rethrows Napi::Error only).
template <class F>
auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  using R = decltype(f());
  if constexpr (std::is_void_v<R>) {
    const Failure r = capture(f);
    if (r.failed) throw_js(env, r);
  } else {
    R out{};
    const Failure r = capture([&] { out = f(); });
    if (r.failed) throw_js(env, r);
    return out;
  }
}

// "a Float64Array", "null", "a number"... for messages.
std::string type_name(Napi::Value v);

// A Float32Array argument: its data pointer (byte offset included) and element count.
struct FloatView {
  float* data = nullptr;
  size_t length = 0;
  Napi::Object object;  // the typed array; empty when the argument was null / undefined
  bool present() const { return !object.IsEmpty(); }
};
FloatView float_array(Napi::Env env, Napi::Value v, const std::string& name, bool allow_null = false);

// Whether two arrays share memory.
bool overlaps(const FloatView& a, const FloatView& b);

}  // namespace ccjs
