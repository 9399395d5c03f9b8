// The CUDA side of the binding (cuda_binding.h). The GPU run itself is called from the one run path
// in conv_binding.cpp, sync or inside the one async Worker.
#include "cuda_binding.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "errors.h"
#include "worker.h"
#ifdef CHANNELCONV_HAS_CUDA
#include "../core/layout.h"
#include "../cuda/cuda_conv.h"
#endif

namespace ccjs {
namespace {

// A device buffer as JS sees it. buf is reset by cudaFree(); work in flight holds its own reference,
// so memory is released only when both are done.
struct DeviceHandle {
  DeviceRef ref;
};
const napi_type_tag kHandleTag = {0x6368616e6e656c63ULL, 0x6f6e762d63756461ULL};  // "channelconv-cuda"

#ifdef CHANNELCONV_HAS_CUDA
using Buffer = cc::cuda::Buffer;
Buffer* buffer(const DeviceRef& r) { return static_cast<Buffer*>(r.buf.get()); }
#endif

}  // namespace

bool is_device_handle(Napi::Value v) {
  return v.IsExternal() && v.As<Napi::External<DeviceHandle>>().CheckTypeTag(&kHandleTag);
}

DeviceRef device_ref(Napi::Env env, Napi::Value v, const char* name) {
  if (!is_device_handle(v))
    throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, std::string(name) + " must be a device handle");
  DeviceHandle* h = v.As<Napi::External<DeviceHandle>>().Data();
  if (!h->ref.buf) throw_js(env, cc::ErrorKind::Generic, cc::codes::kDisposed, std::string(name) + " was disposed");
  return h->ref;
}

Napi::Value wrap_device(Napi::Env env, DeviceRef ref) {
  auto ext = Napi::External<DeviceHandle>::New(env, new DeviceHandle{std::move(ref)},
                                               [](Napi::Env, DeviceHandle* h) { delete h; });
  ext.TypeTag(&kHandleTag);
  return ext;
}

#ifdef CHANNELCONV_HAS_CUDA

namespace {

// backendInfo().cuda.directions: what cuda_computes says, by direction name.
Napi::Array directions_array(Napi::Env env) {
  Napi::Array a = Napi::Array::New(env);
  uint32_t n = 0;
  for (int d = 0; d < cc::kDirections; ++d)
    if (cuda_computes(cc::Direction(d))) a.Set(n++, cc::direction_name(cc::Direction(d)));
  return a;
}

Napi::Value CudaProbed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), cc::cuda::probed()); }

// (data: Float32Array) -> handle. Synchronous: the copy is done when it returns.
Napi::Value CudaUpload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const FloatView v = float_array(env, info[0], "data");
  return guard(env, [&] {
    auto buf = std::make_shared<Buffer>(v.length * sizeof(float));
    cc::cuda::upload(buf->data(), v.data, v.length);
    return wrap_device(env, DeviceRef{std::move(buf), v.length});
  });
}

// Copies a device buffer into a private host block on the pool, then into `out` on the main thread.
class DownloadJob {
 public:
  DownloadJob(DeviceRef src, Napi::Object out) : src_(std::move(src)), host_(src_.count), out_(Napi::Persistent(out)) {}
  void execute() { cc::cuda::download(host_.data(), buffer(src_)->data(), src_.count); }
  Napi::Value result(Napi::Env env) {
    Napi::Float32Array out = out_.Value().As<Napi::Float32Array>();
    if (out.ArrayBuffer().IsDetached() || out.ElementLength() != src_.count)
      throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, "out was detached or resized while the copy ran");
    std::copy(host_.begin(), host_.end(), out.Data());
    return env.Undefined();
  }

 private:
  DeviceRef src_;
  std::vector<float> host_;
  Napi::ObjectReference out_;
};

// (handle, out: Float32Array) -> Promise<void>
Napi::Value CudaDownload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceRef ref = device_ref(env, info[0], "handle");
  const FloatView out = float_array(env, info[1], "out");
  if (out.length != ref.count)
    throw_js(env, cc::ErrorKind::Range, cc::codes::kOutMismatch,
             "out has " + std::to_string(out.length) + " elements, the device tensor " + std::to_string(ref.count));
  return queue(env, "channelconv:download", std::make_unique<DownloadJob>(std::move(ref), out.object));
}

}  // namespace

void require_cuda() { cc::cuda::require_available(); }

size_t cuda_workspace_bytes(const cc::ConvProblem& p) {
  return p.direction == cc::Direction::Forward ? cc::cuda::workspace_bytes(p, {}) : 0;
}

// The GPU kernels compute the forward direction (native/cuda); the backward directions plug in here
// and in cuda_computes when they land.
bool cuda_computes(cc::Direction d) { return d == cc::Direction::Forward; }

const char* cuda_unsupported(const cc::ConvProblem& p) {
  if (cuda_computes(p.direction)) return nullptr;
  return p.direction == cc::Direction::BackwardData
             ? "this build's GPU path has no backward-data kernels (conv2dTranspose, the input gradient): use device 'cpu'"
             : "this build's GPU path has no backward-weights kernels (the weight and bias gradients): use device 'cpu'";
}

DeviceRef run_cuda(const cc::ConvProblem& p, const cc::RunArgs& host, const DeviceRef& src_dev, const DeviceRef& src2_dev) {
  if (const char* why = cuda_unsupported(p)) throw cc::Error(cc::ErrorKind::Range, cc::codes::kInvalidOption, why);
  (void)src2_dev;
  const float* w = host.w;
  const float* bias = host.bias;
  if (!src_dev.buf) {
    cc::cuda::conv2d_host(p, host.src, w, bias, host.dst);
    return {};
  }
  const DeviceRef& x_dev = src_dev;
  // Weights arrive from the host each call (OIHW or HWIO); they are small next to activations.
  std::vector<float> oihw;
  if (p.weight_layout == cc::WeightLayout::HWIO) {
    oihw.resize(size_t(p.w_elems()));
    cc::hwio_to_oihw(w, oihw.data(), p.Cout, p.Cg, p.KH, p.KW);
    w = oihw.data();
  }
  Buffer dw(size_t(p.w_elems()) * sizeof(float));
  cc::cuda::upload(dw.data(), w, size_t(p.w_elems()));
  std::unique_ptr<Buffer> db;
  if (bias) {
    db.reset(new Buffer(size_t(p.Cout) * sizeof(float)));
    cc::cuda::upload(db->data(), bias, size_t(p.Cout));
  }
  auto y = std::make_shared<Buffer>(size_t(p.y_elems()) * sizeof(float));
  cc::cuda::conv2d_device(p, buffer(x_dev)->data(), dw.data(), db ? db->data() : nullptr, y->data());
  return DeviceRef{std::move(y), size_t(p.y_elems())};
}

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
  o.Set("directions", directions_array(env));
  return o;
}

#else  // no CUDA in this build

namespace {
const char* kNotBuilt = "this build of channelconv has no CUDA support (built without nvcc, or with CHANNELCONV_CUDA=OFF)";
Napi::Value CudaProbed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), false); }
Napi::Value NotBuilt(const Napi::CallbackInfo& info) {
  throw_js(info.Env(), cc::ErrorKind::Generic, cc::codes::kNoCuda, std::string("CUDA is not available: ") + kNotBuilt);
}
}  // namespace

size_t cuda_workspace_bytes(const cc::ConvProblem&) { return 0; }

void require_cuda() {
  throw cc::Error(cc::ErrorKind::Generic, cc::codes::kNoCuda, std::string("CUDA is not available: ") + kNotBuilt);
}

bool cuda_computes(cc::Direction) { return false; }
const char* cuda_unsupported(const cc::ConvProblem&) { return kNotBuilt; }

DeviceRef run_cuda(const cc::ConvProblem&, const cc::RunArgs&, const DeviceRef&, const DeviceRef&) {
  throw cc::Error(cc::ErrorKind::Generic, cc::codes::kNoCuda, std::string("CUDA is not available: ") + kNotBuilt);
}

Napi::Object cuda_status_object(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", false);
  o.Set("available", false);
  o.Set("reason", kNotBuilt);
  o.Set("devices", Napi::Array::New(env));
  o.Set("directions", Napi::Array::New(env));
  return o;
}

#endif

namespace {
Napi::Value CudaStatus(const Napi::CallbackInfo& info) { return cuda_status_object(info.Env()); }
// (handle) -> undefined. Idempotent.
Napi::Value CudaFree(const Napi::CallbackInfo& info) {
  if (is_device_handle(info[0])) info[0].As<Napi::External<DeviceHandle>>().Data()->ref.buf.reset();
  return info.Env().Undefined();
}
}  // namespace

void init_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaStatus", Napi::Function::New(env, CudaStatus, "cudaStatus"));
  exports.Set("cudaProbed", Napi::Function::New(env, CudaProbed, "cudaProbed"));
  exports.Set("cudaFree", Napi::Function::New(env, CudaFree, "cudaFree"));
#ifdef CHANNELCONV_HAS_CUDA
  exports.Set("cudaUpload", Napi::Function::New(env, CudaUpload, "cudaUpload"));
  exports.Set("cudaDownload", Napi::Function::New(env, CudaDownload, "cudaDownload"));
#else
  for (const char* name : {"cudaUpload", "cudaDownload"}) exports.Set(name, Napi::Function::New(env, NotBuilt, name));
#endif
}

}  // namespace ccjs
