// conv2d through N-API: plan (shapes and cost), conv2dSync, conv2dAsync (an AsyncWorker on the libuv
// pool resolving a Promise).
#include "conv_binding.h"

#include <utility>

#include "../core/conv.h"
#include "args.h"

namespace ccjs {
namespace {

// Everything one conv call needs, unwrapped and checked on the main thread.
struct ConvCall {
  cc::ConvShape shape;
  cc::RunOptions run;
  FloatView x, w, bias, y;
};

bool overlaps(const FloatView& a, const FloatView& b) {
  if (!a.data || !b.data || a.length == 0 || b.length == 0) return false;
  const char* a0 = reinterpret_cast<const char*>(a.data);
  const char* b0 = reinterpret_cast<const char*>(b.data);
  return a0 < b0 + b.length * sizeof(float) && b0 < a0 + a.length * sizeof(float);
}

void check_length(Napi::Env env, const FloatView& v, int64_t expected, const char* name, const char* code) {
  if (int64_t(v.length) != expected)
    throw_js(env, cc::ErrorKind::Range, code,
             std::string(name) + " has " + std::to_string(v.length) + " elements, expected " +
                 std::to_string(expected) + " for its shape");
}

// (input, inputShape, weight, weightShape, bias|null, params, out)
ConvCall unwrap_call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7)
    throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType,
             "conv2d expects 7 arguments (input, inputShape, weight, weightShape, bias, params, out), got " +
                 std::to_string(info.Length()));
  ConvCall c;
  c.x = float_array(env, info[0], "input.data");
  c.w = float_array(env, info[2], "weight.data");
  c.bias = float_array(env, info[4], "options.bias", /*allow_null=*/true);
  c.y = float_array(env, info[6], "options.out");
  const auto p = conv_params(env, shape_arg(env, info[1], "input.shape"),
                             shape_arg(env, info[3], "weight.shape"), info[5]);
  c.shape = resolve_shape(env, p);
  c.run.threads = p.threads;
  c.run.relu = p.relu;
  check_length(env, c.x, c.shape.input_elems(), "input.data", cc::codes::kInvalidShape);
  check_length(env, c.w, c.shape.weight_elems(), "weight.data", cc::codes::kInvalidShape);
  if (!c.bias.object.IsEmpty()) check_length(env, c.bias, c.shape.K, "options.bias", cc::codes::kInvalidShape);
  check_length(env, c.y, c.shape.output_elems(), "options.out", cc::codes::kOutMismatch);
  if (overlaps(c.y, c.x) || overlaps(c.y, c.w) || overlaps(c.y, c.bias))
    throw_js(env, cc::ErrorKind::Range, cc::codes::kAlias,
             "options.out must not share memory with the input, the weight or the bias");
  return c;
}

void run_call(const ConvCall& c) {
  cc::conv2d(c.shape, c.x.data, c.w.data, c.bias.data, c.y.data, c.run);
}

Napi::Value Conv2dSync(const Napi::CallbackInfo& info) {
  ConvCall c = unwrap_call(info);
  try {
    run_call(c);
  } catch (const cc::Error& e) {
    throw_js(info.Env(), e);
  }
  return info.Env().Undefined();
}

// Runs one call on the libuv pool. The typed arrays are held by persistent references until the
// worker is destroyed (on the main thread), so their memory stays valid while Execute() runs.
class ConvWorker : public Napi::AsyncWorker {
 public:
  ConvWorker(Napi::Env env, ConvCall call)
      : Napi::AsyncWorker(env, "channelconv:conv2d"), call_(std::move(call)), deferred_(env) {
    for (const FloatView* v : {&call_.x, &call_.w, &call_.bias, &call_.y})
      if (!v->object.IsEmpty()) keep_.push_back(Napi::Persistent(v->object));
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {  // libuv pool thread: no N-API calls here
    try {
      run_call(call_);
    } catch (const cc::Error& e) {
      failed_ = true;
      kind_ = e.kind();
      code_ = e.code();
      message_ = e.what();
    } catch (const std::exception& e) {
      failed_ = true;
      message_ = e.what();
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (failed_) deferred_.Reject(make_js_error(env, kind_, code_, message_).Value());
    else deferred_.Resolve(env.Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  ConvCall call_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> keep_;
  bool failed_ = false;
  cc::ErrorKind kind_ = cc::ErrorKind::Generic;
  std::string code_ = cc::codes::kInternal;
  std::string message_;
};

Napi::Value Conv2dAsync(const Napi::CallbackInfo& info) {
  // Argument errors throw synchronously here; the TS layer turns them into rejections.
  auto* worker = new ConvWorker(info.Env(), unwrap_call(info));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

// (inputShape, weightShape, params) -> { outputShape, macs, workspaceBytes, padding }
Napi::Value Plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto p = conv_params(env, shape_arg(env, info[0], "input.shape"),
                             shape_arg(env, info[1], "weight.shape"), info[2]);
  const cc::ConvShape s = resolve_shape(env, p);
  const bool nhwc = s.layout == cc::Layout::NHWC;
  const bool batched = info[0].As<Napi::Array>().Length() == 4;
  std::vector<int64_t> out;
  if (batched) out.push_back(s.N);
  if (nhwc) out.insert(out.end(), {s.OH, s.OW, s.K});
  else out.insert(out.end(), {s.K, s.OH, s.OW});
  Napi::Array shape = Napi::Array::New(env, out.size());
  for (uint32_t i = 0; i < out.size(); ++i) shape.Set(i, Napi::Number::New(env, double(out[i])));
  Napi::Array pad = Napi::Array::New(env, 4);
  const int64_t pads[4] = {s.pad_t, s.pad_b, s.pad_l, s.pad_r};
  for (uint32_t i = 0; i < 4; ++i) pad.Set(i, Napi::Number::New(env, double(pads[i])));
  Napi::Object r = Napi::Object::New(env);
  r.Set("outputShape", shape);
  r.Set("macs", Napi::Number::New(env, s.macs()));
  r.Set("workspaceBytes", Napi::Number::New(env, double(cc::workspace_bytes(s, p.threads))));
  r.Set("padding", pad);
  return r;
}

}  // namespace

void init_conv(Napi::Env env, Napi::Object exports) {
  exports.Set("plan", Napi::Function::New(env, Plan, "plan"));
  exports.Set("conv2dSync", Napi::Function::New(env, Conv2dSync, "conv2dSync"));
  exports.Set("conv2dAsync", Napi::Function::New(env, Conv2dAsync, "conv2dAsync"));
}

}  // namespace ccjs
