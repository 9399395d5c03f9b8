#include "errors.h"

namespace ccjs {

Napi::Error make_js_error(Napi::Env env, const Failure& f) {
  Napi::Error err = f.kind == cc::ErrorKind::Type    ? Napi::TypeError::New(env, f.message)
                    : f.kind == cc::ErrorKind::Range ? Napi::RangeError::New(env, f.message)
                                                     : Napi::Error::New(env, f.message);
  err.Set("code", Napi::String::New(env, f.code));
  return err;
}

void throw_js(Napi::Env env, cc::ErrorKind kind, const std::string& code, const std::string& message) {
  Failure f;
  f.failed = true;
  f.kind = kind;
  f.code = code;
  f.message = message;
  throw make_js_error(env, f);
}

std::string type_name(Napi::Value v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint8_array: return "a Uint8Array";
      default: return "a typed array of another type";
    }
  }
  if (v.IsArray()) return "an Array";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsSymbol()) return "a symbol";
  if (v.IsFunction()) return "a function";
  if (v.IsArrayBuffer()) return "an ArrayBuffer";
  if (v.IsExternal()) return "an External";
  if (v.Type() == napi_bigint) return "a bigint";
  return "an object";
}

FloatView float_array(Napi::Env env, Napi::Value v, const std::string& name, bool allow_null) {
  FloatView out;
  if (allow_null && (v.IsNull() || v.IsUndefined())) return out;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, name + " must be a Float32Array, got " + type_name(v));
  Napi::Float32Array arr = v.As<Napi::Float32Array>();
  if (arr.ArrayBuffer().IsDetached())
    throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, name + " is backed by a detached ArrayBuffer");
  out.data = arr.Data();  // Data() already includes the byte offset
  out.length = arr.ElementLength();
  out.object = arr;
  return out;
}

bool overlaps(const FloatView& a, const FloatView& b) {
  if (!a.data || !b.data || a.length == 0 || b.length == 0) return false;
  const char* a0 = reinterpret_cast<const char*>(a.data);
  const char* b0 = reinterpret_cast<const char*>(b.data);
  return a0 < b0 + b.length * sizeof(float) && b0 < a0 + a.length * sizeof(float);
}

}  // namespace ccjs
