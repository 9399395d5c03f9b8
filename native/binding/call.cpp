#include "call.h"

#include <cmath>
#include <cstring>

#include "../core/registry.h"
#include "../cpu/kernels.h"
#include "cuda_binding.h"

namespace ccjs {
namespace {

[[noreturn]] void type_error(Napi::Env env, const std::string& msg) {
  throw_js(env, cc::ErrorKind::Type, cc::codes::kInvalidType, msg);
}
[[noreturn]] void range_error(Napi::Env env, const char* code, const std::string& msg) {
  throw_js(env, cc::ErrorKind::Range, code, msg);
}

int64_t slot_int(Napi::Env env, const double* d, int i, int64_t lo, int64_t hi, const char* code) {
  const double v = d[i];
  if (!std::isfinite(v) || std::floor(v) != v || v < double(lo) || v > double(hi))
    range_error(env, code, "descriptor slot " + std::to_string(i) + " must be an integer in [" + std::to_string(lo) +
                               ", " + std::to_string(hi) + "], got " + std::to_string(v));
  return int64_t(v);
}

// The request part of the descriptor, range-checked (the resolver checks the rest).
struct Request {
  cc::ConvRequest req;
  int threads = 0, algorithm = -1;
  Device device = Device::Cpu;
  bool skip_weights = false;
};

Request read_request(Napi::Env env, const double* d, const LayerState* layer) {
  const char* shape = cc::codes::kInvalidShape;
  const char* opt = cc::codes::kInvalidOption;
  constexpr int64_t kBig = int64_t(1) << 53;
  Request r;
  cc::ConvRequest& q = r.req;
  const auto dir = cc::Direction(slot_int(env, d, kDirection, 0, 2, opt));
  q.rank = int(slot_int(env, d, kRank, 3, 4, shape));
  for (int i = 0; i < 4; ++i) q.input[i] = i < q.rank ? slot_int(env, d, kInput + i, 1, kBig, shape) : 1;
  r.threads = int(slot_int(env, d, kThreads, 0, 1024, opt));
  r.algorithm = int(slot_int(env, d, kAlgorithm, -1, int64_t(cc::algorithm_names().size()) - 1, opt));
  r.device = Device(slot_int(env, d, kDevice, 0, 1, opt));
  r.skip_weights = slot_int(env, d, kSkipWeights, 0, 1, opt) == 1;
  const bool bias = slot_int(env, d, kBias, 0, 1, opt) == 1;
  if (layer) {  // the layer's own weight and options; from the descriptor only what varies per call
    const int rank = q.rank;
    int64_t input[4];
    std::memcpy(input, q.input, sizeof input);
    q = layer->request;
    q.rank = rank;
    std::memcpy(q.input, input, sizeof input);
    q.direction = dir;
    q.prepared = true;
    if (dir != cc::Direction::Forward) q.epilogue = cc::Epilogue{};  // the layer's bias and relu are forward's
    if (dir == cc::Direction::BackwardWeights) q.epilogue.bias = bias;
    if (r.device != Device::Cpu) range_error(env, opt, "prepared layers run on the CPU");
    return r;
  }
  q.op = cc::Op(slot_int(env, d, kOp, 0, 1, opt));
  q.direction = q.op == cc::Op::Transpose ? cc::Direction::BackwardData : dir;
  for (int i = 0; i < 4; ++i) q.weight[i] = slot_int(env, d, kWeight + i, 1, kBig, shape);
  for (int i = 0; i < 2; ++i) {
    q.stride[i] = slot_int(env, d, kStride + i, -kBig, kBig, opt);
    q.dilation[i] = slot_int(env, d, kDilation + i, -kBig, kBig, opt);
    q.output_padding[i] = slot_int(env, d, kOutputPadding + i, -kBig, kBig, opt);
  }
  q.pad_mode = cc::PadMode(slot_int(env, d, kPadMode, 0, 3, opt));
  for (int i = 0; i < 4; ++i) q.pad[i] = slot_int(env, d, kPad + i, -kBig, kBig, opt);
  q.groups = slot_int(env, d, kGroups, -kBig, kBig, opt);
  q.layout = slot_int(env, d, kLayout, 0, 1, opt) ? cc::Layout::NHWC : cc::Layout::NCHW;
  q.weight_layout = slot_int(env, d, kWeightLayout, 0, 1, opt) ? cc::WeightLayout::HWIO : cc::WeightLayout::OIHW;
  q.epilogue.bias = bias;
  q.epilogue.act = slot_int(env, d, kActivation, 0, 1, opt) ? cc::Activation::Relu : cc::Activation::None;
  q.precision = cc::Precision(slot_int(env, d, kPrecision, 0, 2, opt));
  return r;
}

// The plans of this thread's recent calls, keyed by the request slots (and the layer): a call
// repeated with the same shapes and options is planned once.
struct CacheEntry {
  bool valid = false;
  double key[kRequestLen];
  uint64_t layer = 0;  // the layer's serial number (never reused), 0 for plain calls
  const cc::KernelSet* kernels = nullptr;
  Planned planned;
  double results[kDescLen - kRequestLen];  // what write_results wrote
};
constexpr int kCacheEntries = 4;
thread_local CacheEntry t_cache[kCacheEntries];
thread_local int t_next = 0;

void write_shape(double* d, int rank_slot, int first, const int64_t* dims, int rank) {
  d[rank_slot] = rank;
  for (int i = 0; i < 4; ++i) d[first + i] = i < rank ? double(dims[i]) : 0.0;
}

void write_results(double* d, const Planned& c, int rank) {
  const cc::ConvProblem& p = c.problem;
  int64_t dims[4];
  const cc::Tensor dst = p.direction == cc::Direction::Forward        ? cc::Tensor::Y
                         : p.direction == cc::Direction::BackwardData ? cc::Tensor::X
                                                                       : cc::Tensor::W;
  write_shape(d, kDstRank, kDst, dims, cc::shape_of(p, dst, rank, dims));
  write_shape(d, kYRank, kY, dims, cc::shape_of(p, cc::Tensor::Y, rank, dims));
  d[kMacs] = p.macs();
  const int64_t pads[4] = {p.pad_t, p.pad_b, p.pad_l, p.pad_r};
  for (int i = 0; i < 4; ++i) d[kPadOut + i] = double(pads[i]);
  if (c.device == Device::Cpu) {
    d[kWorkspace] = double(c.plan.workspace_bytes);
    d[kAlgorithmOut] = cc::algorithm_index(c.plan.algorithm->name);
    d[kPackedBytes] = double(c.plan.packed_bytes);
  } else {
    d[kWorkspace] = double(cuda_workspace_bytes(p));
    d[kAlgorithmOut] = -1;
    d[kPackedBytes] = 0;
  }
}

std::string dims_text(const cc::ConvProblem& p, cc::Tensor t, int rank) {
  int64_t dims[4];
  const int n = cc::shape_of(p, t, rank, dims);
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

double* desc_arg(Napi::Env env, Napi::Value v) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok || type != napi_float64_array ||
      length < size_t(kDescLen))
    type_error(env, "desc must be a Float64Array of at least " + std::to_string(kDescLen) + " elements, got " +
                        type_name(v));
  return static_cast<double*>(data);
}

cc::ConvRequest layer_request(Napi::Env env, const double* desc) {
  cc::ConvRequest r = read_request(env, desc, nullptr).req;
  r.prepared = true;
  return r;
}

const Planned& plan_call(Napi::Env env, double* d, const LayerState* layer) {
  const cc::KernelSet* kernels = guard(env, [] { return &cc::kernels(); });
  const uint64_t serial = layer ? layer->serial : 0;
  for (CacheEntry& e : t_cache)
    if (e.valid && e.layer == serial && e.kernels == kernels && std::memcmp(e.key, d, sizeof e.key) == 0) {
      std::memcpy(d + kRequestLen, e.results, sizeof e.results);
      return e.planned;
    }
  const Request r = read_request(env, d, layer);
  Planned c;
  c.device = r.device;
  c.skip_weights = r.skip_weights;
  c.transpose = r.req.op == cc::Op::Transpose;
  c.rank = r.req.rank;
  c.problem = guard(env, [&] { return cc::resolve(r.req); });
  if (c.skip_weights && c.problem.direction != cc::Direction::BackwardWeights)
    range_error(env, cc::codes::kInvalidOption, "descriptor slot 31 (skip weights) is for backward-weights only");
  if (c.device == Device::Cpu) {
    cc::PlanOptions o;
    o.threads = r.threads;
    o.algorithm = r.algorithm;
    o.prepacked = layer != nullptr;
    c.plan = guard(env, [&] { return cc::plan(c.problem, o); });
  } else {
    guard(env, require_cuda);
    if (const char* why = cuda_unsupported(c.problem))
      range_error(env, cc::codes::kInvalidOption, std::string("options.device 'cuda' cannot run this call: ") + why);
  }
  // The bias gradient alone runs no algorithm: no workspace.
  if (c.skip_weights) c.plan.workspace_bytes = 0;
  if (c.device == Device::Cuda && r.algorithm >= 0) {
    range_error(env, cc::codes::kInvalidOption,
                std::string("options.algorithm '") + cc::algorithm_names()[size_t(r.algorithm)] +
                    "' names a CPU algorithm; on the GPU use 'auto'");
  }
  write_results(d, c, c.rank);
  CacheEntry& e = t_cache[t_next];
  t_next = (t_next + 1) % kCacheEntries;
  std::memcpy(e.key, d, sizeof e.key);
  std::memcpy(e.results, d + kRequestLen, sizeof e.results);
  e.layer = serial;
  e.kernels = kernels;
  e.planned = c;
  e.valid = true;
  return e.planned;
}

Arrays check_arrays(Napi::Env env, const Planned& c, const Napi::CallbackInfo& info, int first, bool layer,
                    bool async) {
  Arrays a;
  const cc::ConvProblem& p = c.problem;
  const int rank = c.rank;
  const bool bwd_w = p.direction == cc::Direction::BackwardWeights;
  // Names as the public API calls these arrays.
  const bool grad = p.direction != cc::Direction::Forward && !c.transpose;  // conv2dBackward
  const char* src_name = grad && !bwd_w ? "gradOutput.data" : "input.data";
  const char* dst_name = !grad ? "options.out" : bwd_w ? "gradWeight" : "gradInput";
  Napi::Value src = info[first], w = info[first + 1], bias = info[first + 2], dst = info[first + 3];
  Napi::Value src2 = info[first + 4], dst2 = info[first + 5];

  // `why` builds the end of the message, only when it is needed.
  auto check_length = [&](const FloatView& v, int64_t expected, const char* name, const char* code, auto why) {
    if (int64_t(v.length) != expected)
      range_error(env, code, std::string(name) + " has " + std::to_string(v.length) + " elements, expected " +
                                 std::to_string(expected) + " " + why());
  };
  const cc::Tensor src_t = p.direction == cc::Direction::BackwardData ? cc::Tensor::Y : cc::Tensor::X;
  const cc::Tensor dst_t = p.direction == cc::Direction::Forward        ? cc::Tensor::Y
                           : p.direction == cc::Direction::BackwardData ? cc::Tensor::X
                                                                         : cc::Tensor::W;
  if (c.device == Device::Cuda && is_device_handle(src)) {
    const size_t n = device_ref(env, src, "input").count;
    if (n != size_t(p.src_elems()))
      range_error(env, cc::codes::kInvalidShape, "the input DeviceTensor has " + std::to_string(n) +
                                                     " elements, expected " + std::to_string(p.src_elems()));
    a.src_device = src;
  } else {
    a.src = float_array(env, src, src_name);
    check_length(a.src, p.src_elems(), src_name, cc::codes::kInvalidShape,
                 [&] { return "for its shape " + dims_text(p, src_t, rank); });
  }
  if (layer) {
    // the layer holds the weights
  } else if (bwd_w) {
    if (!w.IsNull() && !w.IsUndefined()) type_error(env, "weight must be null for backward-weights, got " + type_name(w));
  } else {
    a.w = float_array(env, w, "weight.data");
    check_length(a.w, p.w_elems(), "weight.data", cc::codes::kInvalidShape,
                 [&] { return "for its shape " + dims_text(p, cc::Tensor::W, 4); });
  }
  if (layer && !bias.IsNull() && !bias.IsUndefined())
    type_error(env, "a prepared layer holds its own bias: bias must be null, got " + type_name(bias));
  if (!bwd_w) {
    a.bias = layer ? FloatView{} : float_array(env, bias, "options.bias", /*allow_null=*/true);
    if (a.bias.present()) {
      const bool hwio = p.weight_layout == cc::WeightLayout::HWIO;
      check_length(a.bias, p.bias_elems(), "options.bias", cc::codes::kInvalidShape, [&] {
        return p.direction == cc::Direction::Forward
                   ? std::string("(one per output channel, weight.shape[") + (hwio ? "3" : "0") + "])"
                   : std::string("(one per output channel, weight.shape[") + (hwio ? "2" : "1") + "]" +
                         (p.groups > 1 ? " x groups " + std::to_string(p.groups) : "") + ")";
      });
    }
    // The request's bias slot planned it; the arrays must say the same.
    if (!layer && a.bias.present() != p.epilogue.bias)
      type_error(env, std::string("descriptor slot 25 (bias) is ") + (p.epilogue.bias ? "1" : "0") +
                          " but options.bias is " + (a.bias.present() ? "a Float32Array" : type_name(bias)));
  } else {
    if (!bias.IsNull() && !bias.IsUndefined()) type_error(env, "bias must be null for backward-weights");
    if (!a.src_device.IsEmpty()) {  // both inputs on the device
      if (!is_device_handle(src2))
        type_error(env, "gradOutput must be a device handle when the input is one, got " + type_name(src2));
      const size_t n = device_ref(env, src2, "gradOutput").count;
      if (n != size_t(p.y_elems()))
        range_error(env, cc::codes::kInvalidShape, "the gradOutput DeviceTensor has " + std::to_string(n) +
                                                       " elements, expected " + std::to_string(p.y_elems()));
      a.src2_device = src2;
    } else {
      a.src2 = float_array(env, src2, "gradOutput.data");
      check_length(a.src2, p.y_elems(), "gradOutput.data", cc::codes::kInvalidShape,
                   [&] { return "for the forward output shape " + dims_text(p, cc::Tensor::Y, rank); });
    }
  }
  if (!bwd_w && !src2.IsNull() && !src2.IsUndefined())
    type_error(env, "the second input is for backward-weights only, got " + type_name(src2));

  // Outputs: required by a sync host call; an async call only checks them (it makes its own and the
  // caller copies them over when it completes).
  const bool device_out = !a.src_device.IsEmpty() && !bwd_w;  // backward-weights writes host outputs
  const bool want_dst = !(bwd_w && c.skip_weights), want_dst2 = bwd_w && p.epilogue.bias;
  if (device_out) {
    if (!dst.IsNull() && !dst.IsUndefined())
      type_error(env, "a device input gives a device output: out must be null, got " + type_name(dst));
  } else if (want_dst) {
    a.dst = float_array(env, dst, dst_name, /*allow_null=*/async);
    if (a.dst.present())
      check_length(a.dst, p.dst_elems(), dst_name, cc::codes::kOutMismatch,
                   [&] { return "for output shape " + dims_text(p, dst_t, rank); });
  }
  if (want_dst2) {
    a.dst2 = float_array(env, dst2, "gradBias", /*allow_null=*/async);
    if (a.dst2.present())
      check_length(a.dst2, p.Cout, "gradBias", cc::codes::kOutMismatch, [] { return std::string("(one per output channel)"); });
  }
  if ((!want_dst && !dst.IsNull() && !dst.IsUndefined()) || (!want_dst2 && !dst2.IsNull() && !dst2.IsUndefined()))
    type_error(env, "an output was given that this call does not compute");
  for (const FloatView* out : {&a.dst, &a.dst2})
    for (const FloatView* in : {&a.src, &a.src2, &a.w, &a.bias})
      if (overlaps(*out, *in))
        range_error(env, cc::codes::kAlias, std::string(out == &a.dst ? dst_name : "gradBias") +
                                                " must not share memory with the input, the weight or the bias");
  if (overlaps(a.dst, a.dst2)) range_error(env, cc::codes::kAlias, "gradWeight and gradBias must not share memory");
  return a;
}

}  // namespace ccjs
