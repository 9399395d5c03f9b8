// The CUDA path through N-API: device status, device-resident buffers (an External holding a
// shared_ptr to device memory, freed by dispose() or, as a backstop, by the GC finalizer), and
// conv2d on the GPU, sync or on the libuv pool (the pool thread waits for its own CUDA stream, never
// the event loop). Without CUDA in the build every entry point but the status throws NO_CUDA.
#include "cuda_binding.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#ifdef CHANNELCONV_HAS_CUDA
#include "../core/layout.h"
#include "../cuda/cuda_conv.h"
#endif

namespace ccjs {

#ifdef CHANNELCONV_HAS_CUDA

namespace {

// A device buffer as JS sees it. count: floats. buf is reset by cudaFree(); work in flight holds
// its own reference, so memory is released only when both are done.
struct DeviceHandle {
  cc::cuda::BufferPtr buf;
  size_t count = 0;
};
const napi_type_tag kHandleTag = {0x6368616e6e656c63ULL, 0x6f6e762d63756461ULL};  // "channelconv-cuda"

Napi::Value wrap_handle(Napi::Env env, cc::cuda::BufferPtr buf, size_t count) {
  auto ext = Napi::External<DeviceHandle>::New(env, new DeviceHandle{std::move(buf), count},
                                               [](Napi::Env, DeviceHandle* h) { delete h; });
  ext.TypeTag(&kHandleTag);
  return ext;
}

bool is_handle(Napi::Value v) {
  return v.IsExternal() && v.As<Napi::External<DeviceHandle>>().CheckTypeTag(&kHandleTag);
}

DeviceHandle* handle_arg(Napi::Env env, Napi::Value v, const char* name) {
  if (!is_handle(v))
    throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, std::string(name) + " must be a device handle");
  DeviceHandle* h = v.As<Napi::External<DeviceHandle>>().Data();
  if (!h->buf)
    throw_js(env, cc::ErrorKind::Generic, cc::codes::kDisposed, std::string(name) + " was disposed");
  return h;
}

template <class F>
auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const cc::Error& e) {
    throw_js(env, e);
  } catch (const std::bad_alloc&) {
    throw_js(env, cc::ErrorKind::Range, cc::codes::kOutOfMemory, "out of host memory");
  }
}

// Runs `work` on the libuv pool; resolves with `done()` built on the main thread.
class CudaWorker : public Napi::AsyncWorker {
 public:
  CudaWorker(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done,
             std::vector<Napi::Object> keep)
      : Napi::AsyncWorker(env, "channelconv:cuda"), work_(std::move(work)), done_(std::move(done)), deferred_(env) {
    for (auto& o : keep)
      if (!o.IsEmpty()) keep_.push_back(Napi::Persistent(o));
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {  // pool thread: no N-API here
    try {
      work_();
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
    else deferred_.Resolve(done_(env));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> keep_;
  bool failed_ = false;
  cc::ErrorKind kind_ = cc::ErrorKind::Generic;
  std::string code_ = cc::codes::kInternal;
  std::string message_;
};

Napi::Value CudaProbed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), cc::cuda::probed()); }

Napi::Value CudaStatus(const Napi::CallbackInfo& info) { return cuda_status_object(info.Env()); }

// (data: Float32Array) -> handle. Synchronous: the copy is done when it returns.
Napi::Value CudaUpload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const FloatView v = float_array(env, info[0], "data");
  return guard(env, [&] {
    auto buf = std::make_shared<cc::cuda::Buffer>(v.length * sizeof(float));
    cc::cuda::upload(buf->data(), v.data, v.length);
    return wrap_handle(env, std::move(buf), v.length);
  });
}

// (handle, out: Float32Array) -> Promise<void>
Napi::Value CudaDownload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceHandle* h = handle_arg(env, info[0], "handle");
  const FloatView out = float_array(env, info[1], "out");
  if (out.length != h->count)
    throw_js(env, cc::ErrorKind::Range, cc::codes::kOutMismatch,
             "out has " + std::to_string(out.length) + " elements, the device tensor " + std::to_string(h->count));
  cc::cuda::BufferPtr buf = h->buf;
  float* dst = out.data;
  const size_t n = h->count;
  auto* w = new CudaWorker(
      env, [buf, dst, n] { cc::cuda::download(dst, buf->data(), n); },
      [](Napi::Env e) { return e.Undefined(); }, {out.object});
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// (handle) -> undefined. Idempotent.
Napi::Value CudaFree(const Napi::CallbackInfo& info) {
  if (is_handle(info[0])) info[0].As<Napi::External<DeviceHandle>>().Data()->buf.reset();
  return info.Env().Undefined();
}

struct CudaCall {
  cc::ConvShape shape;
  cc::cuda::ConvOptions opt;
  cc::cuda::BufferPtr x_dev;  // device input, or null when x is a host array
  FloatView x, w, bias, y;
};

void check_length(Napi::Env env, size_t got, int64_t expected, const char* name, const char* code) {
  if (int64_t(got) != expected)
    throw_js(env, cc::ErrorKind::Range, code,
             std::string(name) + " has " + std::to_string(got) + " elements, expected " + std::to_string(expected) +
                 " for its shape");
}

// (input: Float32Array | handle, inputShape, weight, weightShape, bias | null, params, out | null, { precision })
CudaCall unwrap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 8)
    throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType,
             "cudaConv2d expects 8 arguments, got " + std::to_string(info.Length()));
  CudaCall c;
  const bool on_device = is_handle(info[0]);
  size_t x_len = 0;
  if (on_device) {
    DeviceHandle* h = handle_arg(env, info[0], "input");
    c.x_dev = h->buf;
    x_len = h->count;
  } else {
    c.x = float_array(env, info[0], "input.data");
    x_len = c.x.length;
  }
  c.w = float_array(env, info[2], "weight.data");
  c.bias = float_array(env, info[4], "options.bias", true);
  const auto p = conv_params(env, shape_arg(env, info[1], "input.shape"), shape_arg(env, info[3], "weight.shape"), info[5]);
  c.shape = resolve_shape(env, p);
  if (on_device && c.shape.layout != cc::Layout::NCHW)
    throw_js(env, cc::ErrorKind::Range, cc::codes::kInvalidOption, "device tensors are NCHW: layout must be 'NCHW'");
  check_length(env, x_len, c.shape.input_elems(), "input.data", cc::codes::kInvalidShape);
  check_length(env, c.w.length, c.shape.weight_elems(), "weight.data", cc::codes::kInvalidShape);
  if (!c.bias.object.IsEmpty()) check_length(env, c.bias.length, c.shape.K, "options.bias", cc::codes::kInvalidShape);
  if (!on_device) {
    c.y = float_array(env, info[6], "options.out");
    check_length(env, c.y.length, c.shape.output_elems(), "options.out", cc::codes::kOutMismatch);
  }
  Napi::Value o = info[7];
  if (!o.IsObject()) throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, "cuda options must be an object");
  Napi::Value prec = o.As<Napi::Object>().Get("precision");
  const std::string ps = prec.IsString() ? prec.As<Napi::String>().Utf8Value() : "";
  if (ps == "fp32") c.opt.precision = cc::cuda::Precision::FP32;
  else if (ps == "tf32") c.opt.precision = cc::cuda::Precision::TF32;
  else throw_js(env, cc::ErrorKind::Range, cc::codes::kInvalidOption, "precision must be 'fp32' or 'tf32'");
  return c;
}

// Runs the call; for a device input returns the new device output buffer.
cc::cuda::BufferPtr run(const CudaCall& c) {
  const cc::ConvShape& s = c.shape;
  if (!c.x_dev) {
    cc::cuda::conv2d_host(s, c.x.data, c.w.data, c.bias.data, c.y.data, c.opt);
    return nullptr;
  }
  // Weights arrive from the host each call (OIHW or HWIO); they are small next to activations.
  std::vector<float> oihw;
  const float* w = c.w.data;
  if (s.weight_layout == cc::WeightLayout::HWIO) {
    oihw.resize(size_t(s.weight_elems()));
    cc::hwio_to_oihw(w, oihw.data(), s.K, s.Cg, s.KH, s.KW);
    w = oihw.data();
  }
  cc::cuda::Buffer dw(size_t(s.weight_elems()) * sizeof(float));
  cc::cuda::upload(dw.data(), w, size_t(s.weight_elems()));
  std::unique_ptr<cc::cuda::Buffer> db;
  if (c.bias.data) {
    db.reset(new cc::cuda::Buffer(size_t(s.K) * sizeof(float)));
    cc::cuda::upload(db->data(), c.bias.data, size_t(s.K));
  }
  auto y = std::make_shared<cc::cuda::Buffer>(size_t(s.output_elems()) * sizeof(float));
  cc::cuda::conv2d_device(s, c.x_dev->data(), dw.data(), db ? db->data() : nullptr, y->data(), c.opt);
  return y;
}

Napi::Value CudaConv2dSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaCall c = unwrap(info);
  return guard(env, [&]() -> Napi::Value {
    cc::cuda::BufferPtr y = run(c);
    if (!y) return env.Undefined();
    return wrap_handle(env, std::move(y), size_t(c.shape.output_elems()));
  });
}

Napi::Value CudaConv2dAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto c = std::make_shared<CudaCall>(unwrap(info));
  auto result = std::make_shared<cc::cuda::BufferPtr>();
  auto* w = new CudaWorker(
      env, [c, result] { *result = run(*c); },
      [c, result](Napi::Env e) -> Napi::Value {
        if (!*result) return e.Undefined();
        return wrap_handle(e, std::move(*result), size_t(c->shape.output_elems()));
      },
      {c->x.object, c->w.object, c->bias.object, c->y.object});
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace

Napi::Object cuda_status_object(Napi::Env env) {
  const cc::cuda::Status& s = cc::cuda::status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", true);
  o.Set("available", s.available);
  if (!s.available) o.Set("reason", s.reason);
  Napi::Array devs = Napi::Array::New(env, s.devices.size());
  for (uint32_t i = 0; i < s.devices.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", s.devices[i].name);
    d.Set("computeCapability", std::to_string(s.devices[i].major) + "." + std::to_string(s.devices[i].minor));
    d.Set("memoryBytes", double(s.devices[i].memory_bytes));
    devs.Set(i, d);
  }
  o.Set("devices", devs);
  return o;
}

void init_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaStatus", Napi::Function::New(env, CudaStatus, "cudaStatus"));
  exports.Set("cudaProbed", Napi::Function::New(env, CudaProbed, "cudaProbed"));
  exports.Set("cudaUpload", Napi::Function::New(env, CudaUpload, "cudaUpload"));
  exports.Set("cudaDownload", Napi::Function::New(env, CudaDownload, "cudaDownload"));
  exports.Set("cudaFree", Napi::Function::New(env, CudaFree, "cudaFree"));
  exports.Set("cudaConv2dSync", Napi::Function::New(env, CudaConv2dSync, "cudaConv2dSync"));
  exports.Set("cudaConv2dAsync", Napi::Function::New(env, CudaConv2dAsync, "cudaConv2dAsync"));
}

#else  // no CUDA in this build

namespace {
const char* kNotBuilt =
    "this build of channelconv has no CUDA support (built without nvcc, or with CHANNELCONV_CUDA=OFF)";
Napi::Value NotBuilt(const Napi::CallbackInfo& info) {
  throw_js(info.Env(), cc::ErrorKind::Generic, cc::codes::kNoCuda, std::string("CUDA is not available: ") + kNotBuilt);
}
Napi::Value CudaStatus(const Napi::CallbackInfo& info) { return cuda_status_object(info.Env()); }
Napi::Value CudaProbed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), false); }
Napi::Value CudaFree(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }
}  // namespace

Napi::Object cuda_status_object(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", false);
  o.Set("available", false);
  o.Set("reason", kNotBuilt);
  o.Set("devices", Napi::Array::New(env));
  return o;
}

void init_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaStatus", Napi::Function::New(env, CudaStatus, "cudaStatus"));
  exports.Set("cudaProbed", Napi::Function::New(env, CudaProbed, "cudaProbed"));
  exports.Set("cudaFree", Napi::Function::New(env, CudaFree, "cudaFree"));
  for (const char* name : {"cudaUpload", "cudaDownload", "cudaConv2dSync", "cudaConv2dAsync"})
    exports.Set(name, Napi::Function::New(env, NotBuilt, name));
}

#endif

}  // namespace ccjs
