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
  // One napi_get_typedarray_info answers the type, length and data (byte offset included); the
  // detached check is needed only when the length reads 0 (a detached buffer's view has length 0).
  FloatView out;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) == napi_ok && type == napi_float32_array) {
    bool detached = false;
    if (length == 0 && napi_is_detached_arraybuffer(env, ab, &detached) == napi_ok && detached)
      throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, name + " is backed by a detached ArrayBuffer");
    out.data = static_cast<float*>(data);
    out.length = length;
    out.object = v.As<Napi::Object>();
    return out;
  }
  if (allow_null && (v.IsNull() || v.IsUndefined())) return out;
  throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, name + " must be a Float32Array, got " + type_name(v));
}

bool overlaps(const FloatView& a, const FloatView& b) {
  if (!a.data || !b.data || a.length == 0 || b.length == 0) return false;
  const char* a0 = reinterpret_cast<const char*>(a.data);
  const char* b0 = reinterpret_cast<const char*>(b.data);
  return a0 < b0 + b.length * sizeof(float) && b0 < a0 + a.length * sizeof(float);
}

}  // namespace ccjs
