// conv2d through N-API: plan (shapes and cost), conv2dSync, conv2dAsync (an AsyncWorker on the libuv
// pool resolving a Promise).
#include "conv_binding.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

#include "../core/conv.h"
#include "args.h"
#include "block_cache.h"

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

// (input, inputShape, weight, weightShape, bias|null, params, out). `out` may be null only for the
// async call, which then allocates the output itself.
ConvCall unwrap_call(const Napi::CallbackInfo& info, bool allow_null_out = false) {
  Napi::Env env = info.Env();
  if (info.Length() < 7)
    throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType,
             "conv2d expects 7 arguments (input, inputShape, weight, weightShape, bias, params, out), got " +
                 std::to_string(info.Length()));
  ConvCall c;
  c.x = float_array(env, info[0], "input.data");
  c.w = float_array(env, info[2], "weight.data");
  c.bias = float_array(env, info[4], "options.bias", /*allow_null=*/true);
  c.y = float_array(env, info[6], "options.out", allow_null_out);
  const auto p = conv_params(env, shape_arg(env, info[1], "input.shape"),
                             shape_arg(env, info[3], "weight.shape"), info[5]);
  c.shape = resolve_shape(env, p);
  c.run.threads = p.threads;
  c.run.relu = p.relu;
  check_length(env, c.x, c.shape.input_elems(), "input.data", cc::codes::kInvalidShape);
  check_length(env, c.w, c.shape.weight_elems(), "weight.data", cc::codes::kInvalidShape);
  if (!c.bias.object.IsEmpty()) check_length(env, c.bias, c.shape.K, "options.bias", cc::codes::kInvalidShape);
  if (!c.y.object.IsEmpty()) check_length(env, c.y, c.shape.output_elems(), "options.out", cc::codes::kOutMismatch);
  if (overlaps(c.y, c.x) || overlaps(c.y, c.w) || overlaps(c.y, c.bias))
    throw_js(env, cc::ErrorKind::Range, cc::codes::kAlias,
             "options.out must not share memory with the input, the weight or the bias");
  return c;
}

void run_call(const ConvCall& c) {
  cc::conv2d(c.shape, c.x.data, c.w.data, c.bias.data, c.y.data, c.run);
}

[[noreturn]] void throw_out_of_memory(Napi::Env env, int64_t bytes, const char* what) {
  throw_js(env, cc::ErrorKind::Generic, cc::codes::kOutOfMemory,
           "could not allocate " + std::to_string(bytes) + " bytes for " + what);
}

Napi::Value Conv2dSync(const Napi::CallbackInfo& info) {
  ConvCall c = unwrap_call(info);
  try {
    run_call(c);
  } catch (const cc::Error& e) {
    throw_js(info.Env(), e);
  } catch (const std::bad_alloc&) {  // a C++ exception must never cross into N-API (abort)
    throw_js(info.Env(), cc::ErrorKind::Generic, cc::codes::kOutOfMemory, "could not allocate the memory conv2d needs");
  } catch (const std::exception& e) {
    throw_js(info.Env(), cc::ErrorKind::Generic, cc::codes::kInternal, e.what());
  }
  return info.Env().Undefined();
}

Block alloc_copy(Napi::Env env, const FloatView& v, const char* what) {
  if (v.object.IsEmpty()) return Block(nullptr, BlockRelease{0});
  Block p = acquire_block(v.length);
  if (!p) throw_out_of_memory(env, int64_t(v.length * sizeof(float)), what);
  if (v.length) std::memcpy(p.get(), v.data, v.length * sizeof(float));
  return p;
}

// Runs one call on the libuv pool. Execute() never touches memory JS can reach: while it runs, JS may
// transfer (detach) or shrink a resizable ArrayBuffer, or terminate the worker that owns it, and
// the memory behind it is then freed. So input, weight and bias are copied here, on the main thread,
// and the output goes to a native buffer nobody else can see, handed to JS (without a copy) when the
// promise resolves, or copied into the caller's `out` then.
class ConvWorker : public Napi::AsyncWorker {
 public:
  ConvWorker(Napi::Env env, ConvCall call)
      : Napi::AsyncWorker(env, "channelconv:conv2d"), call_(std::move(call)), deferred_(env) {
    x_ = alloc_copy(env, call_.x, "the input copy of an async call");
    w_ = alloc_copy(env, call_.w, "the weight copy of an async call");
    bias_ = alloc_copy(env, call_.bias, "the bias copy of an async call");
    // Not Napi::Float32Array::New: V8 aborts the process when that allocation fails.
    const int64_t out_elems = call_.shape.output_elems();
    y_own_ = acquire_block(size_t(out_elems));
    if (!y_own_) throw_out_of_memory(env, out_elems * 4, "the output buffer of an async call");
    if (!call_.y.object.IsEmpty()) result_ = Napi::Persistent(call_.y.object);
    call_.x.object = call_.w.object = call_.bias.object = call_.y.object = Napi::Object();
    // Tell V8 about native memory it cannot see, so its GC heuristics account for it.
    external_ = int64_t(call_.x.length + call_.w.length + (bias_ ? call_.bias.length : 0)) * 4 +
                out_elems * 4 + int64_t(cc::workspace_bytes(call_.shape, call_.run.threads));
    Napi::MemoryManagement::AdjustExternalMemory(env, external_);
  }
  ~ConvWorker() override {
    if (external_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -external_);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {  // libuv pool thread: no N-API calls, no JS-visible memory
    try {
      cc::conv2d(call_.shape, x_.get(), w_.get(), bias_.get(), y_own_.get(), call_.run);
    } catch (const cc::Error& e) {
      fail(e.kind(), e.code(), e.what());
    } catch (const std::bad_alloc&) {
      fail(cc::ErrorKind::Generic, cc::codes::kOutOfMemory, "could not allocate the workspace of conv2d");
    } catch (const std::exception& e) {
      fail(cc::ErrorKind::Generic, cc::codes::kInternal, e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (failed_) return deferred_.Reject(make_js_error(env, kind_, code_, message_).Value());
    const size_t n = size_t(call_.shape.output_elems());
    if (result_.IsEmpty()) {
      // An exception escaping OnOK would be an uncaught exception in the process: reject instead.
      try {
        return deferred_.Resolve(adopt_output(env, n));
      } catch (const Napi::Error& e) {
        return deferred_.Reject(e.Value());
      }
    }
    // The caller's `out` may have been detached or resized while we ran: check before copying.
    Napi::Float32Array out = result_.Value().As<Napi::Float32Array>();
    if (out.ArrayBuffer().IsDetached() || out.ElementLength() != n)
      return deferred_.Reject(make_js_error(env, cc::ErrorKind::Type, cc::codes::kInvalidType,
                                            "options.out was detached or resized while conv2d ran")
                                  .Value());
    std::memcpy(out.Data(), y_own_.get(), n * sizeof(float));
    deferred_.Resolve(out);
  }

  // Hands the output buffer to JS without copying (an external ArrayBuffer that frees it). Where
  // external buffers are not allowed (some embedders), copies it into a V8-allocated array.
  Napi::Value adopt_output(Napi::Env env, size_t n) {
    napi_value ab, ta;
    float* raw = y_own_.get();
    // The finalizer gets the block's size as its hint: it goes back to the block cache.
    if (napi_create_external_arraybuffer(
            env, raw, n * sizeof(float),
            [](napi_env, void* data, void* bytes) {
              release_block(static_cast<float*>(data), reinterpret_cast<uintptr_t>(bytes));
            },
            reinterpret_cast<void*>(uintptr_t(y_own_.get_deleter().bytes)), &ab) == napi_ok) {
      y_own_.release();
    } else {
      if (env.IsExceptionPending()) env.GetAndClearPendingException();
      Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, n * sizeof(float));
      std::memcpy(copy.Data(), raw, n * sizeof(float));
      ab = copy;
    }
    NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, napi_float32_array, n, ab, 0, &ta), Napi::Value());
    return Napi::Value(env, ta);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  void fail(cc::ErrorKind kind, const std::string& code, const std::string& message) {
    failed_ = true;
    kind_ = kind;
    code_ = code;
    message_ = message;
  }
  ConvCall call_;
  Napi::Promise::Deferred deferred_;
  Block x_, w_, bias_, y_own_;  // from the block cache (block_cache.h), back to it when done
  Napi::ObjectReference result_;  // the caller's `out`, if any
  int64_t external_ = 0;
  bool failed_ = false;
  cc::ErrorKind kind_ = cc::ErrorKind::Generic;
  std::string code_ = cc::codes::kInternal;
  std::string message_;
};

Napi::Value Conv2dAsync(const Napi::CallbackInfo& info) {
  // Argument errors throw synchronously here; the TS layer turns them into rejections. The worker
  // is owned by a unique_ptr until queued, so a failed allocation in its constructor leaks nothing.
  std::unique_ptr<ConvWorker> worker(new ConvWorker(info.Env(), unwrap_call(info, /*allow_null_out=*/true)));
  Napi::Promise p = worker->promise();
  worker->Queue();
  worker.release();  // deleted by node-addon-api after OnOK / OnError
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

// () -> bytes of native memory this environment has reported to V8 (for the tests: what async
// calls add while they run must come back off when they end).
Napi::Value ExternalMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(Napi::MemoryManagement::AdjustExternalMemory(info.Env(), 0)));
}

}  // namespace

void init_conv(Napi::Env env, Napi::Object exports) {
  exports.Set("externalMemory", Napi::Function::New(env, ExternalMemory, "externalMemory"));
  exports.Set("plan", Napi::Function::New(env, Plan, "plan"));
  exports.Set("conv2dSync", Napi::Function::New(env, Conv2dSync, "conv2dSync"));
  exports.Set("conv2dAsync", Napi::Function::New(env, Conv2dAsync, "conv2dAsync"));
}

}  // namespace ccjs
