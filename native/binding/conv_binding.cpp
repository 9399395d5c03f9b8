// The convolution entry points: plan, run (sync), runAsync, the prepared Layer class, and the
// accounting of native memory reported to V8. CPU and CUDA, plain and prepared calls all go through
// plan_call / check_arrays (call.h) and, for async calls, the one Worker (worker.h).
#include "conv_binding.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "../core/registry.h"
#include "../core/threads.h"
#include "../cpu/cpu_info.h"
#include "../cpu/kernels.h"
#include "block_cache.h"
#include "call.h"
#include "cuda_binding.h"
#include "worker.h"

#ifndef CHANNELCONV_VERSION
#define CHANNELCONV_VERSION "0.0.0"
#endif

namespace ccjs {
namespace {

// Per environment (the addon is context-aware: main thread and each worker_thread).
struct AddonData {
  Napi::FunctionReference layer_class;
  int64_t reported = 0;  // bytes this addon has reported to V8 in this environment
};

AddonData& data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// Native memory V8 cannot see, reported with AdjustExternalMemory so its GC heuristics account for
// it, for as long as this object lives (main thread only).
class Reported {
 public:
  Reported() = default;
  Reported(Napi::Env env, int64_t bytes) { set(env, bytes); }
  Reported(const Reported&) = delete;
  Reported& operator=(const Reported&) = delete;
  ~Reported() { set(env_, 0); }
  void set(Napi::Env env, int64_t bytes) {
    if (bytes == bytes_ || env == nullptr) return;
    env_ = env;
    Napi::MemoryManagement::AdjustExternalMemory(env, bytes - bytes_);
    data(env).reported += bytes - bytes_;
    bytes_ = bytes;
  }

 private:
  Napi::Env env_ = Napi::Env(nullptr);
  int64_t bytes_ = 0;
};

[[noreturn]] void out_of_memory(Napi::Env env, size_t bytes, const std::string& what) {
  throw_js(env, cc::ErrorKind::Generic, cc::codes::kOutOfMemory,
           "could not allocate " + std::to_string(bytes) + " bytes for " + what);
}

// ----- prepared layers -------------------------------------------------------------------------------

std::atomic<uint64_t> g_layer_serial{0};

class Layer : public Napi::ObjectWrap<Layer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Layer",
                       {InstanceMethod<&Layer::Dispose>("dispose"), InstanceAccessor<&Layer::Bytes>("bytes")});
  }

  // (weight, bias | null, desc): desc holds the weight shape and options, and an input the layer accepts.
  explicit Layer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Layer>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3) throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, "Layer expects (weight, bias, desc)");
    double* d = desc_arg(env, info[2]);
    if (d[kDirection] != 0 || d[kOp] != 0 || d[kDevice] != 0)
      throw_js(env, cc::ErrorKind::Range, cc::codes::kInvalidOption, "a prepared layer is a forward convolution on the CPU");
    const Planned& c = plan_call(env, d, nullptr);
    const FloatView w = float_array(env, info[0], "weight.data");
    const FloatView bias = float_array(env, info[1], "options.bias", /*allow_null=*/true);
    if (int64_t(w.length) != c.problem.w_elems())
      throw_js(env, cc::ErrorKind::Range, cc::codes::kInvalidShape,
               "weight.data has " + std::to_string(w.length) + " elements, expected " + std::to_string(c.problem.w_elems()));
    if (bias.present() && int64_t(bias.length) != c.problem.Cout)
      throw_js(env, cc::ErrorKind::Range, cc::codes::kInvalidShape,
               "options.bias has " + std::to_string(bias.length) + " elements, expected " +
                   std::to_string(c.problem.Cout) + " (one per output channel, weight.shape[" +
                   (c.problem.weight_layout == cc::WeightLayout::HWIO ? "3" : "0") + "])");
    state_.request = layer_request(env, d);
    state_.request.epilogue.bias = bias.present();
    state_.weights = guard(env, [&] { return std::make_shared<const cc::PreparedWeights>(c.problem, w.data, bias.data); });
    state_.serial = ++g_layer_serial;
    sync_memory(env);
  }

  // The layer's state; throws ERR_CHANNELCONV_DISPOSED after dispose().
  const LayerState& state(Napi::Env env) const {
    if (!state_.weights)
      throw_js(env, cc::ErrorKind::Generic, cc::codes::kDisposed,
               "this prepared convolution was disposed; create a new one with createConv2d");
    return state_;
  }
  // Reports what the weights hold now (lazy packing adds to it).
  void sync_memory(Napi::Env env) { reported_.set(env, state_.weights ? int64_t(state_.weights->bytes()) : 0); }

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    state_.weights.reset();  // runs in flight keep their own reference
    sync_memory(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), state_.weights ? double(state_.weights->bytes()) : 0.0);
  }

  LayerState state_;
  Reported reported_;
};

// The Layer passed in place of the weight, or null.
Layer* layer_arg(Napi::Env env, Napi::Value v) {
  if (v.IsTypedArray() || !v.IsObject()) return nullptr;  // the common case first: one N-API call
  bool is_layer = false;
  if (napi_instanceof(env, v, data(env).layer_class.Value(), &is_layer) != napi_ok) {
    env.GetAndClearPendingException();
    return nullptr;
  }
  return is_layer ? Layer::Unwrap(v.As<Napi::Object>()) : nullptr;
}

// ----- runs ----------------------------------------------------------------------------------------

// The tensors of a run as cc::run takes them (the weight gradient is not written when only the bias
// gradient is asked for).
cc::RunArgs host_args(const Planned& c, const float* src, const float* src2, const float* w, const float* bias,
                      float* dst, float* dst2) {
  cc::RunArgs a;
  a.src = src;
  a.src2 = src2;
  a.w = w;
  a.bias = bias;
  a.dst = c.skip_weights ? nullptr : dst;
  a.dst2 = dst2;
  return a;
}

// layer: a prepared layer's weights, or null.
void run_cpu(const Planned& c, const cc::PreparedWeights* layer, const float* src, const float* src2, const float* w,
             const float* bias, float* dst, float* dst2, void* workspace) {
  const cc::RunArgs a = host_args(c, src, src2, w, bias, dst, dst2);
  if (layer) cc::run_prepared(c.plan, *layer, a, workspace);
  else cc::run(c.plan, a, workspace);
}

// (desc, src, w | layer, bias, dst, src2, dst2) -> undefined, or a device handle for a device input.
Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double* d = desc_arg(env, info[0]);
  Layer* layer = layer_arg(env, info[2]);
  const LayerState* state = layer ? &layer->state(env) : nullptr;
  const Planned& c = plan_call(env, d, state);
  const Arrays a = check_arrays(env, c, info, 1, state != nullptr, false);
  if (c.device == Device::Cuda) {
    const DeviceRef x_dev = a.src_device.IsEmpty() ? DeviceRef{} : device_ref(env, a.src_device, "input");
    const DeviceRef x2_dev = a.src2_device.IsEmpty() ? DeviceRef{} : device_ref(env, a.src2_device, "gradOutput");
    const cc::RunArgs h = host_args(c, a.src.data, a.src2.data, a.w.data, a.bias.data, a.dst.data, a.dst2.data);
    const DeviceRef y = guard(env, [&] { return run_cuda(c.problem, h, x_dev, x2_dev); });
    return y.buf ? wrap_device(env, y) : env.Undefined();
  }
  // The thread's workspace, kept between calls: sync calls on one thread never overlap.
  thread_local cc::Workspace workspace;
  guard(env, [&] {
    run_cpu(c, state ? state->weights.get() : nullptr, a.src.data, a.src2.data, a.w.data, a.bias.data, a.dst.data,
            a.dst2.data, workspace.get(c.plan.workspace_bytes));
  });
  if (layer) layer->sync_memory(env);
  return env.Undefined();
}

// Hands a block to JS without copying: an external ArrayBuffer that gives it back to the block cache
// when collected. Where external buffers are not allowed (some embedders), copies it instead.
Napi::Value adopt(Napi::Env env, Block& b, size_t n) {
  napi_value ab, ta;
  float* raw = b.get();
  if (napi_create_external_arraybuffer(
          env, raw, n * sizeof(float),
          [](napi_env, void* p, void* bytes) { release_block(static_cast<float*>(p), reinterpret_cast<uintptr_t>(bytes)); },
          reinterpret_cast<void*>(uintptr_t(b.get_deleter().bytes)), &ab) == napi_ok) {
    b.release();
  } else {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, n * sizeof(float));
    std::memcpy(copy.Data(), raw, n * sizeof(float));
    ab = copy;
  }
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, napi_float32_array, n, ab, 0, &ta), Napi::Value());
  return Napi::Value(env, ta);
}

// One async run. Execute() never touches memory JS can reach: while it runs, JS may transfer
// (detach) or shrink the arrays it passed, and their memory is then freed. So every host input is
// copied here, on the main thread, into blocks of the cache (block_cache.h); the outputs are blocks
// too, handed to JS without a copy when the call completes.
class RunJob {
 public:
  RunJob(Napi::Env env, const Planned& c, const Arrays& a, Layer* layer) : call_(c) {
    src_ = copy(env, a.src, "the input copy of an async call");
    src2_ = copy(env, a.src2, "the second input copy of an async call");
    w_ = copy(env, a.w, "the weight copy of an async call");
    bias_ = copy(env, a.bias, "the bias copy of an async call");
    const cc::ConvProblem& p = call_.problem;
    if (!a.src_device.IsEmpty()) x_dev_ = device_ref(env, a.src_device, "input");
    if (!a.src2_device.IsEmpty()) x2_dev_ = device_ref(env, a.src2_device, "gradOutput");
    const bool bwd_w = p.direction == cc::Direction::BackwardWeights;
    int64_t bytes = int64_t(src_.get_deleter().bytes + src2_.get_deleter().bytes + w_.get_deleter().bytes +
                            bias_.get_deleter().bytes);
    if ((!x_dev_.buf || bwd_w) && !(bwd_w && call_.skip_weights)) {  // backward-weights: host outputs
      dst_ = block(env, size_t(p.dst_elems()), "the output buffer of an async call");
      bytes += int64_t(dst_.get_deleter().bytes);
    }
    if (bwd_w && p.epilogue.bias) {
      dst2_ = block(env, size_t(p.Cout), "the bias gradient of an async call");
      bytes += int64_t(dst2_.get_deleter().bytes);
    }
    if (call_.device == Device::Cpu && call_.plan.workspace_bytes) {
      ws_ = block(env, call_.plan.workspace_bytes / sizeof(float), "the workspace of an async call");
      bytes += int64_t(ws_.get_deleter().bytes);
    }
    if (layer) {
      layer_ = Napi::Persistent(layer->Value());
      weights_ = layer->state(env).weights;  // kept until the call ends, even if the layer is disposed
    }
    reported_.set(env, bytes);
  }

  void execute() {
    if (call_.device == Device::Cuda) {
      y_dev_ = run_cuda(call_.problem, host_args(call_, src_.get(), src2_.get(), w_.get(), bias_.get(), dst_.get(), dst2_.get()),
                        x_dev_, x2_dev_);
      return;
    }
    run_cpu(call_, weights_.get(), src_.get(), src2_.get(), w_.get(), bias_.get(), dst_.get(), dst2_.get(), ws_.get());
  }

  // The output array, [gradWeight, gradBias] for backward-weights, or a device handle.
  Napi::Value result(Napi::Env env) {
    if (!layer_.IsEmpty()) Layer::Unwrap(layer_.Value())->sync_memory(env);
    if (y_dev_.buf) return wrap_device(env, y_dev_);
    const cc::ConvProblem& p = call_.problem;
    if (p.direction != cc::Direction::BackwardWeights) return adopt(env, dst_, size_t(p.dst_elems()));
    Napi::Array r = Napi::Array::New(env, 2);
    r.Set(0u, dst_ ? adopt(env, dst_, size_t(p.dst_elems())) : env.Null());
    r.Set(1u, dst2_ ? adopt(env, dst2_, size_t(p.Cout)) : env.Null());
    return r;
  }

 private:
  static Block block(Napi::Env env, size_t elems, const char* what) {
    Block b = acquire_block(elems);
    if (!b) out_of_memory(env, elems * sizeof(float), what);
    return b;
  }
  static Block copy(Napi::Env env, const FloatView& v, const char* what) {
    if (!v.present()) return Block(nullptr, BlockRelease{0});
    Block b = block(env, v.length, what);
    if (v.length) std::memcpy(b.get(), v.data, v.length * sizeof(float));
    return b;
  }

  Planned call_;
  std::shared_ptr<const cc::PreparedWeights> weights_;  // a prepared layer's, or null
  Block src_, src2_, w_, bias_, dst_, dst2_, ws_;
  DeviceRef x_dev_, x2_dev_, y_dev_;
  Napi::ObjectReference layer_;  // keeps the layer alive (its weights are shared by call_ anyway)
  Reported reported_;
};

// As run, on the libuv pool: resolves with the output (see RunJob::result). Argument errors throw
// synchronously; the TS layer turns them into rejections. (desc, src, w | layer, bias, out, src2, dst2)
Napi::Value RunAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double* d = desc_arg(env, info[0]);
  Layer* layer = layer_arg(env, info[2]);
  const Planned& c = plan_call(env, d, layer ? &layer->state(env) : nullptr);
  const Arrays a = check_arrays(env, c, info, 1, layer != nullptr, true);
  return queue(env, "channelconv:run", std::make_unique<RunJob>(env, c, a, layer));
}

// (desc, layer?) -> undefined: resolves and plans the request, writing the results into desc.
Napi::Value Plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double* d = desc_arg(env, info[0]);
  Layer* layer = info.Length() > 1 ? layer_arg(env, info[1]) : nullptr;
  plan_call(env, d, layer ? &layer->state(env) : nullptr);
  return env.Undefined();
}

// () -> bytes of native memory this addon has reported to V8 in this environment (what async calls
// and layers hold); the tests check it returns to where it was.
Napi::Value ExternalMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(data(info.Env()).reported));
}

Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("isa", guard(env, [] { return cc::kernels().name; }));
  size_t n = 0;
  const cc::KernelEntry* table = cc::kernel_table(&n);
  Napi::Array isas = Napi::Array::New(env, n), supported = Napi::Array::New(env);
  for (size_t i = 0, j = 0; i < n; ++i) {
    isas.Set(uint32_t(i), table[i].set->name);
    if (table[i].supported()) supported.Set(uint32_t(j++), table[i].set->name);
  }
  cpu.Set("isas", isas);
  cpu.Set("supportedIsas", supported);
  cpu.Set("threads", cc::default_threads());
  // The CPU as detected and the blocking configuration chosen for it (with the block sizes the
  // kernel set in use runs with).
  const cc::CpuInfo& ci = cc::cpu_info();
  Napi::Object core = Napi::Object::New(env);
  core.Set("vendor", ci.vendor);
  core.Set("family", ci.family);
  core.Set("model", ci.model);
  core.Set("uarch", ci.uarch);
  core.Set("avx512", cc::avx512_width_name(ci.avx512));
  core.Set("l1d", double(ci.l1d));
  core.Set("l2", double(ci.l2));
  core.Set("l3", double(ci.l3));
  cpu.Set("core", core);
  Napi::Object config = guard(env, [&] {
    const cc::KernelSet& k = cc::kernels();
    Napi::Object c = Napi::Object::New(env);
    c.Set("name", cc::cpu_config().name);
    c.Set("mr", k.mr);
    c.Set("nr", k.nr);
    c.Set("kc", k.kc);
    c.Set("nc", k.nc);
    c.Set("tileBytes", double(k.tile_bytes));
    c.Set("winogradTile", k.winograd_m);
    return c;
  });
  cpu.Set("config", config);
  cpu.Set("parallel", cc::parallel_runtime());
  const auto& names = cc::algorithm_names();
  Napi::Array algos = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) algos.Set(uint32_t(i), names[i]);
  Napi::Object r = Napi::Object::New(env);
  r.Set("version", CHANNELCONV_VERSION);
  r.Set("cpu", cpu);
  r.Set("algorithms", algos);
  return r;  // without CUDA's status: cudaStatus() probes the driver, backendInfo() must not

}

}  // namespace

void init_conv(Napi::Env env, Napi::Object exports) {
  auto* d = new AddonData;
  Napi::Function layer = Layer::Define(env);
  d->layer_class = Napi::Persistent(layer);
  env.SetInstanceData<AddonData>(d);
  exports.Set("Layer", layer);
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo, "backendInfo"));
  exports.Set("plan", Napi::Function::New(env, Plan, "plan"));
  exports.Set("run", Napi::Function::New(env, Run, "run"));
  exports.Set("runAsync", Napi::Function::New(env, RunAsync, "runAsync"));
  exports.Set("externalMemory", Napi::Function::New(env, ExternalMemory, "externalMemory"));
}

}  // namespace ccjs
