// The fast path of conv2dSync (one native call: plan + checks + run, the parameters packed in a
// Float64Array instead of an object) and prepared layers (weights packed once, PreparedConv).
// Desc layout: see binding.d.ts (NativeDesc); lib/desc.ts writes it.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "../core/conv.h"
#include "args.h"

namespace ccjs {
namespace {

enum : int {  // Float64Array slots
  kRankIn = 0, kIn = 1, kW = 5, kStride = 9, kDil = 11, kPadMode = 13, kPad = 14, kGroups = 18,
  kLayout = 19, kWeightLayout = 20, kThreads = 21, kRelu = 22,
  kRankOut = 24, kOut = 25, kMacs = 29, kWorkspace = 30, kPadOut = 31, kDescLen = 40
};

[[noreturn]] void type_error(Napi::Env env, const std::string& msg) {
  throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, msg);
}

struct Desc {
  double* d;
  ConvParams p;
  int rank_in;
};

int64_t slot_int(Napi::Env env, const double* d, int i, int64_t lo, int64_t hi, const char* code) {
  const double v = d[i];
  if (!std::isfinite(v) || std::floor(v) != v || v < double(lo) || v > double(hi))
    throw_js(env, cc::ErrorKind::Range, code,
             "descriptor slot " + std::to_string(i) + " must be an integer in [" + std::to_string(lo) + ", " +
                 std::to_string(hi) + "], got " + std::to_string(v));
  return int64_t(v);
}

// Reads and range-checks a descriptor; with_input = false for a prepared layer's weight-only desc.
Desc read_desc(Napi::Env env, Napi::Value v) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      v.As<Napi::Float64Array>().ElementLength() < kDescLen)
    type_error(env, "desc must be a Float64Array of at least " + std::to_string(kDescLen) + " elements");
  Desc r;
  r.d = v.As<Napi::Float64Array>().Data();
  const double* d = r.d;
  const char* shape = cc::codes::kInvalidShape;
  const char* opt = cc::codes::kInvalidOption;
  constexpr int64_t kBig = int64_t(1) << 53;
  r.rank_in = int(slot_int(env, d, kRankIn, 3, 4, shape));
  cc::ConvDesc& c = r.p.desc;
  c.layout = slot_int(env, d, kLayout, 0, 1, opt) ? cc::Layout::NHWC : cc::Layout::NCHW;
  c.weight_layout = slot_int(env, d, kWeightLayout, 0, 1, opt) ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
  int64_t in[4], w[4];
  for (int i = 0; i < 4; ++i) {
    in[i] = i < r.rank_in ? slot_int(env, d, kIn + i, 1, kBig, shape) : 1;
    w[i] = slot_int(env, d, kW + i, 1, kBig, shape);
  }
  const int o = r.rank_in == 4 ? 1 : 0;
  c.N = o ? in[0] : 1;
  if (c.layout == cc::Layout::NCHW) { c.C = in[o]; c.H = in[o + 1]; c.W = in[o + 2]; }
  else { c.H = in[o]; c.W = in[o + 1]; c.C = in[o + 2]; }
  if (c.weight_layout == cc::WeightLayout::OIHW) { c.K = w[0]; c.Cg = w[1]; c.KH = w[2]; c.KW = w[3]; }
  else { c.KH = w[0]; c.KW = w[1]; c.Cg = w[2]; c.K = w[3]; }
  c.stride_h = slot_int(env, d, kStride, -kBig, kBig, opt);
  c.stride_w = slot_int(env, d, kStride + 1, -kBig, kBig, opt);
  c.dil_h = slot_int(env, d, kDil, -kBig, kBig, opt);
  c.dil_w = slot_int(env, d, kDil + 1, -kBig, kBig, opt);
  c.pad_mode = cc::PadMode(slot_int(env, d, kPadMode, 0, 3, opt));
  c.pad_t = slot_int(env, d, kPad, -kBig, kBig, opt);
  c.pad_b = slot_int(env, d, kPad + 1, -kBig, kBig, opt);
  c.pad_l = slot_int(env, d, kPad + 2, -kBig, kBig, opt);
  c.pad_r = slot_int(env, d, kPad + 3, -kBig, kBig, opt);
  c.groups = slot_int(env, d, kGroups, -kBig, kBig, opt);
  r.p.threads = int(slot_int(env, d, kThreads, 0, 1024, opt));
  r.p.relu = slot_int(env, d, kRelu, 0, 1, opt) == 1;
  return r;
}

// Writes the plan's results into the descriptor's output slots; returns the output element count.
int64_t write_plan(const Desc& r, const cc::ConvShape& s, bool prepared) {
  double* d = r.d;
  const bool nhwc = s.layout == cc::Layout::NHWC;
  int i = kOut;
  d[kRankOut] = r.rank_in;
  if (r.rank_in == 4) d[i++] = double(s.N);
  const int64_t dims[3] = {nhwc ? s.OH : s.K, nhwc ? s.OW : s.OH, nhwc ? s.K : s.OW};
  for (int64_t v : dims) d[i++] = double(v);
  d[kMacs] = s.macs();
  d[kWorkspace] = double(cc::workspace_bytes(s, r.p.threads, prepared));
  const int64_t pads[4] = {s.pad_t, s.pad_b, s.pad_l, s.pad_r};
  for (int j = 0; j < 4; ++j) d[kPadOut + j] = double(pads[j]);
  return s.output_elems();
}

std::string out_shape_text(const Desc& r) {
  std::string t = "[";
  for (int i = 0; i < r.rank_in; ++i) t += (i ? ", " : "") + std::to_string(int64_t(r.d[kOut + i]));
  return t + "]";
}

void check_length(Napi::Env env, const FloatView& v, int64_t expected, const char* name) {
  if (int64_t(v.length) != expected)
    throw_js(env, cc::ErrorKind::Range, cc::codes::kInvalidShape,
             std::string(name) + " has " + std::to_string(v.length) + " elements, expected " +
                 std::to_string(expected) + " for its shape");
}

bool overlaps(const FloatView& a, const FloatView& b) {
  if (!a.data || !b.data || a.length == 0 || b.length == 0) return false;
  const char* a0 = reinterpret_cast<const char*>(a.data);
  const char* b0 = reinterpret_cast<const char*>(b.data);
  return a0 < b0 + b.length * sizeof(float) && b0 < a0 + a.length * sizeof(float);
}

// The output array: `out` checked (message as lib/conv.ts words it), or a new one.
FloatView output(Napi::Env env, Napi::Value v, const Desc& r, int64_t size) {
  if (v.IsNull() || v.IsUndefined()) {
    FloatView f;
    Napi::Float32Array a = Napi::Float32Array::New(env, size_t(size));
    f.data = a.Data();
    f.length = size_t(size);
    f.object = a;
    return f;
  }
  FloatView f = float_array(env, v, "options.out");
  if (int64_t(f.length) != size)
    throw_js(env, cc::ErrorKind::Range, cc::codes::kOutMismatch,
             "options.out has " + std::to_string(f.length) + " elements, expected " + std::to_string(size) +
                 " for output shape " + out_shape_text(r));
  return f;
}

void check_alias(Napi::Env env, const FloatView& y, std::initializer_list<const FloatView*> ins) {
  for (const FloatView* v : ins)
    if (overlaps(y, *v))
      throw_js(env, cc::ErrorKind::Range, cc::codes::kAlias,
               "options.out must not share memory with the input, the weight or the bias");
}

cc::ConvShape shape_of(Napi::Env env, const Desc& r) {
  try {
    return cc::make_shape(r.p.desc);
  } catch (const cc::Error& e) {
    throw_js(env, e);
  }
}

// (input, weight, bias|null, out|null, desc) -> out. Plans into desc's output slots, checks, runs.
Napi::Value Conv2dSyncPacked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5)
    type_error(env, "conv2dSyncPacked expects 5 arguments (input, weight, bias, out, desc), got " +
                        std::to_string(info.Length()));
  const Desc r = read_desc(env, info[4]);
  const cc::ConvShape s = shape_of(env, r);
  const int64_t size = write_plan(r, s, false);
  const FloatView x = float_array(env, info[0], "input.data");
  const FloatView w = float_array(env, info[1], "weight.data");
  const FloatView bias = float_array(env, info[2], "options.bias", /*allow_null=*/true);
  check_length(env, x, s.input_elems(), "input.data");
  check_length(env, w, s.weight_elems(), "weight.data");
  if (bias.data || !bias.object.IsEmpty()) check_length(env, bias, s.K, "options.bias");
  const FloatView y = output(env, info[3], r, size);
  check_alias(env, y, {&x, &w, &bias});
  cc::RunOptions opt;
  opt.threads = r.p.threads;
  opt.relu = r.p.relu;
  try {
    cc::conv2d(s, x.data, w.data, bias.data, y.data, opt);
  } catch (const cc::Error& e) {
    throw_js(env, e);
  }
  return y.object;
}

// (desc) -> undefined: the plan alone (convCost), into desc's output slots.
Napi::Value PlanPacked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Desc r = read_desc(env, info[0]);
  write_plan(r, shape_of(env, r), info.Length() > 1 && info[1].ToBoolean());
  return env.Undefined();
}

// ----- prepared layers -----------------------------------------------------------------------------

class PreparedConv : public Napi::ObjectWrap<PreparedConv> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PreparedConv",
                       {InstanceMethod<&PreparedConv::RunSync>("runSync"),
                        InstanceMethod<&PreparedConv::RunAsync>("runAsync"),
                        InstanceMethod<&PreparedConv::Dispose>("dispose"),
                        InstanceAccessor<&PreparedConv::Bytes>("bytes")});
  }

  // (weight, bias|null, desc): desc holds the weight shape and options; its input slots describe
  // any input the layer accepts (used only to validate the weight side).
  explicit PreparedConv(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PreparedConv>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3) type_error(env, "PreparedConv expects 3 arguments (weight, bias, desc)");
    const Desc r = read_desc(env, info[2]);
    const cc::ConvShape s = shape_of(env, r);
    const FloatView w = float_array(env, info[0], "weight.data");
    const FloatView bias = float_array(env, info[1], "options.bias", /*allow_null=*/true);
    check_length(env, w, s.weight_elems(), "weight.data");
    if (!bias.object.IsEmpty()) check_length(env, bias, s.K, "options.bias");
    try {
      weights_ = std::make_shared<const cc::PreparedWeights>(s, w.data, bias.data);
    } catch (const cc::Error& e) {
      throw_js(env, e);
    }
    accounted_ = int64_t(weights_->bytes());
    Napi::MemoryManagement::AdjustExternalMemory(env, accounted_);
  }
  ~PreparedConv() override { release(); }

 private:
  struct Call {
    std::shared_ptr<const cc::PreparedWeights> weights;  // kept alive by the call, even if disposed
    cc::ConvShape shape;
    cc::RunOptions opt;
    FloatView x, y;
  };

  void release() {
    if (!weights_) return;
    weights_.reset();
    if (accounted_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -accounted_);
    accounted_ = 0;
  }

  // (input, out|null, desc)
  Call unwrap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!weights_)
      throw_js(env, cc::ErrorKind::Generic, cc::codes::kDisposed,
               "this prepared convolution was disposed; create a new one with createConv2d");
    if (info.Length() < 3) type_error(env, "run expects 3 arguments (input, out, desc)");
    const Desc r = read_desc(env, info[2]);
    Call c;
    c.shape = shape_of(env, r);
    if (!weights_->compatible(c.shape))
      throw_js(env, cc::ErrorKind::Range, cc::codes::kInvalidShape,
               "the input does not match this prepared convolution's weight and options");
    const int64_t size = write_plan(r, c.shape, true);
    c.weights = weights_;
    c.x = float_array(env, info[0], "input.data");
    check_length(env, c.x, c.shape.input_elems(), "input.data");
    c.y = output(env, info[1], r, size);
    check_alias(env, c.y, {&c.x});
    c.opt.threads = r.p.threads;
    c.opt.relu = r.p.relu;
    return c;
  }

  Napi::Value RunSync(const Napi::CallbackInfo& info) {
    Call c = unwrap(info);
    try {
      cc::conv2d_prepared(c.shape, *c.weights, c.x.data, c.y.data, c.opt);
    } catch (const cc::Error& e) {
      throw_js(info.Env(), e);
    }
    return c.y.object;
  }

  class Worker : public Napi::AsyncWorker {
   public:
    Worker(Napi::Env env, Call call)
        : Napi::AsyncWorker(env, "channelconv:prepared"), call_(std::move(call)), deferred_(env) {
      keep_x_ = Napi::Persistent(call_.x.object);
      keep_y_ = Napi::Persistent(call_.y.object);
    }
    Napi::Promise promise() { return deferred_.Promise(); }

   protected:
    void Execute() override {
      try {
        cc::conv2d_prepared(call_.shape, *call_.weights, call_.x.data, call_.y.data, call_.opt);
      } catch (const cc::Error& e) {
        failed_ = true; kind_ = e.kind(); code_ = e.code(); message_ = e.what();
      } catch (const std::exception& e) {
        failed_ = true; message_ = e.what();
      }
    }
    void OnOK() override {
      if (failed_) deferred_.Reject(make_js_error(Env(), kind_, code_, message_).Value());
      else deferred_.Resolve(keep_y_.Value());
    }
    void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

   private:
    Call call_;
    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference keep_x_, keep_y_;
    bool failed_ = false;
    cc::ErrorKind kind_ = cc::ErrorKind::Generic;
    std::string code_ = cc::codes::kInternal;
    std::string message_;
  };

  Napi::Value RunAsync(const Napi::CallbackInfo& info) {
    auto* w = new Worker(info.Env(), unwrap(info));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }

  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), weights_ ? double(weights_->bytes()) : 0.0);
  }

  std::shared_ptr<const cc::PreparedWeights> weights_;
  int64_t accounted_ = 0;
};

}  // namespace

void init_fast(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2dSyncPacked", Napi::Function::New(env, Conv2dSyncPacked, "conv2dSyncPacked"));
  exports.Set("planPacked", Napi::Function::New(env, PlanPacked, "planPacked"));
  exports.Set("PreparedConv", PreparedConv::Define(env));
}

}  // namespace ccjs
