#include "args.h"

#include <cmath>
#include <cstdio>

namespace ccjs {

Napi::Error make_js_error(Napi::Env env, cc::ErrorKind kind, const std::string& code,
                          const std::string& message) {
  Napi::Error err = kind == cc::ErrorKind::Type    ? Napi::TypeError::New(env, message)
                    : kind == cc::ErrorKind::Range ? Napi::RangeError::New(env, message)
                                                   : Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

void throw_js(Napi::Env env, cc::ErrorKind kind, const std::string& code, const std::string& message) {
  throw make_js_error(env, kind, code, message);
}

namespace {

[[noreturn]] void type_error(Napi::Env env, const std::string& msg) {
  throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, msg);
}
[[noreturn]] void range_error(Napi::Env env, const char* code, const std::string& msg) {
  throw_js(env, cc::ErrorKind::Range, code, msg);
}

std::string type_name(Napi::Value v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float64_array: return "Float64Array";
      case napi_int32_array: return "Int32Array";
      case napi_uint8_array: return "Uint8Array";
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
  if (v.Type() == napi_bigint) return "a bigint";
  return "an object";
}

// An integer-valued JS number within +-2^53.
int64_t int_value(Napi::Env env, Napi::Value v, const std::string& name, const char* range_code) {
  if (!v.IsNumber()) type_error(env, name + " must be a number, got " + type_name(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  char got[32];
  std::snprintf(got, sizeof got, "%.17g", d);
  if (!std::isfinite(d) || std::floor(d) != d)
    range_error(env, range_code, name + " must be an integer, got " + got);
  // Past 2^31 every size is refused later anyway; clamping here keeps int64 arithmetic exact.
  if (std::fabs(d) > 9007199254740991.0)
    range_error(env, cc::codes::kTooLarge, name + " must be at most 2147483647, got " + got);
  return int64_t(d);
}

Napi::Value get(Napi::Object o, const char* key) { return o.Get(key); }

// A user string for a message: at most 40 characters.
std::string clip(const std::string& s) { return s.size() <= 40 ? s : s.substr(0, 40) + "..."; }

std::string str_value(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsString()) type_error(env, name + " must be a string, got " + type_name(v));
  return v.As<Napi::String>().Utf8Value();
}

void int_pair(Napi::Env env, Napi::Object params, const char* key, int64_t* a, int64_t* b) {
  Napi::Value v = get(params, key);
  if (!v.IsArray()) type_error(env, std::string(key) + " must be an array of 2 integers, got " + type_name(v));
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() != 2)
    range_error(env, cc::codes::kInvalidOption,
                std::string(key) + " must have 2 entries, got " + std::to_string(arr.Length()));
  *a = int_value(env, arr.Get(0u), std::string(key) + "[0]", cc::codes::kInvalidOption);
  *b = int_value(env, arr.Get(1u), std::string(key) + "[1]", cc::codes::kInvalidOption);
}

}  // namespace

FloatView float_array(Napi::Env env, Napi::Value v, const char* name, bool allow_null) {
  FloatView out;
  if (allow_null && (v.IsNull() || v.IsUndefined())) return out;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    type_error(env, std::string(name) + " must be a Float32Array, got " + type_name(v));
  Napi::Float32Array arr = v.As<Napi::Float32Array>();
  if (arr.ArrayBuffer().IsDetached())
    type_error(env, std::string(name) + " is backed by a detached ArrayBuffer");
  out.data = arr.Data();  // Data() already includes the byte offset
  out.length = arr.ElementLength();
  out.object = arr;
  return out;
}

std::vector<int64_t> shape_arg(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsArray()) type_error(env, std::string(name) + " must be an array of integers, got " + type_name(v));
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() > 8)
    range_error(env, cc::codes::kInvalidShape,
                std::string(name) + " has rank " + std::to_string(arr.Length()) + ", at most 4 expected");
  std::vector<int64_t> dims(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const std::string dn = std::string(name) + "[" + std::to_string(i) + "]";
    dims[i] = int_value(env, arr.Get(i), dn, cc::codes::kInvalidShape);
    if (dims[i] < 1)
      range_error(env, cc::codes::kInvalidShape, dn + " must be >= 1, got " + std::to_string(dims[i]));
  }
  return dims;
}

ConvParams conv_params(Napi::Env env, const std::vector<int64_t>& in, const std::vector<int64_t>& w,
                       Napi::Value pv) {
  if (!pv.IsObject() || pv.IsArray()) type_error(env, "params must be an object, got " + type_name(pv));
  Napi::Object params = pv.As<Napi::Object>();
  ConvParams p;
  cc::ConvDesc& d = p.desc;

  const std::string layout = str_value(env, get(params, "layout"), "layout");
  if (layout == "NCHW") d.layout = cc::Layout::NCHW;
  else if (layout == "NHWC") d.layout = cc::Layout::NHWC;
  else range_error(env, cc::codes::kInvalidOption, "layout must be 'NCHW' or 'NHWC', got '" + clip(layout) + "'");
  const std::string wl = str_value(env, get(params, "weightLayout"), "weightLayout");
  if (wl == "OIHW") d.weight_layout = cc::WeightLayout::OIHW;
  else if (wl == "HWIO") d.weight_layout = cc::WeightLayout::HWIO;
  else range_error(env, cc::codes::kInvalidOption, "weightLayout must be 'OIHW' or 'HWIO', got '" + clip(wl) + "'");

  if (in.size() != 3 && in.size() != 4)
    range_error(env, cc::codes::kInvalidShape,
                "input.shape must have rank 3 or 4, got rank " + std::to_string(in.size()));
  if (w.size() != 4)
    range_error(env, cc::codes::kInvalidShape,
                "weight.shape must have rank 4, got rank " + std::to_string(w.size()));
  const size_t o = in.size() == 4 ? 1 : 0;
  d.N = o ? in[0] : 1;
  if (d.layout == cc::Layout::NCHW) { d.C = in[o]; d.H = in[o + 1]; d.W = in[o + 2]; }
  else { d.H = in[o]; d.W = in[o + 1]; d.C = in[o + 2]; }
  if (d.weight_layout == cc::WeightLayout::OIHW) { d.K = w[0]; d.Cg = w[1]; d.KH = w[2]; d.KW = w[3]; }
  else { d.KH = w[0]; d.KW = w[1]; d.Cg = w[2]; d.K = w[3]; }

  int_pair(env, params, "stride", &d.stride_h, &d.stride_w);
  int_pair(env, params, "dilation", &d.dil_h, &d.dil_w);
  d.groups = int_value(env, get(params, "groups"), "groups", cc::codes::kInvalidOption);

  const std::string mode = str_value(env, get(params, "padMode"), "padMode");
  if (mode == "explicit") {
    d.pad_mode = cc::PadMode::Explicit;
    Napi::Value pad = get(params, "padding");
    if (!pad.IsArray()) type_error(env, "padding must be an array of 4 integers, got " + type_name(pad));
    Napi::Array pa = pad.As<Napi::Array>();
    if (pa.Length() != 4)
      range_error(env, cc::codes::kInvalidOption,
                  "padding must have 4 entries [top, bottom, left, right], got " + std::to_string(pa.Length()));
    int64_t* dst[4] = {&d.pad_t, &d.pad_b, &d.pad_l, &d.pad_r};
    for (uint32_t i = 0; i < 4; ++i)
      *dst[i] = int_value(env, pa.Get(i), "padding[" + std::to_string(i) + "]", cc::codes::kInvalidOption);
  } else if (mode == "valid") d.pad_mode = cc::PadMode::Valid;
  else if (mode == "same") d.pad_mode = cc::PadMode::SameUpper;
  else if (mode == "same_lower") d.pad_mode = cc::PadMode::SameLower;
  else range_error(env, cc::codes::kInvalidOption,
                   "padMode must be 'explicit', 'valid', 'same' or 'same_lower', got '" + clip(mode) + "'");

  Napi::Value act = get(params, "activation");
  if (!act.IsUndefined()) {
    const std::string a = str_value(env, act, "activation");
    if (a == "relu") p.relu = true;
    else if (a != "none") range_error(env, cc::codes::kInvalidOption, "activation must be 'none' or 'relu', got '" + a + "'");
  }
  Napi::Value th = get(params, "threads");
  if (!th.IsUndefined()) {
    const int64_t t = int_value(env, th, "threads", cc::codes::kInvalidOption);
    if (t < 0 || t > 1024)
      range_error(env, cc::codes::kInvalidOption,
                  "threads must be between 1 and 1024 (0 = default), got " + std::to_string(t));
    p.threads = int(t);
  }
  return p;
}

cc::ConvShape resolve_shape(Napi::Env env, const ConvParams& p) {
  try {
    return cc::make_shape(p.desc);
  } catch (const cc::Error& e) {
    throw_js(env, e);
  }
}

}  // namespace ccjs
