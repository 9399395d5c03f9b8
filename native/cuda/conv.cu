// Host side of the CUDA path: probing the driver, device buffers and copies, and the convolution
// launcher that picks the algorithm and precision and checks every call.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "../core/layout.h"
#include "common.cuh"
#include "cuda_conv.h"
#include "kernels.cuh"

namespace cc {
namespace cuda {

namespace {
std::once_flag g_once;
Status g_status;
std::atomic<bool> g_probed{false};

// Oldest compute capability this binary has machine code for (sm_75); older GPUs cannot run it.
constexpr int kMinMajor = 7, kMinMinor = 5;

void probe() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    // 35 (cudaErrorInsufficientDriver) with no driver installed, 100 (NoDevice), or anything else:
    // all mean "no GPU here". The reason says what that means first, then CUDA's own words.
    const std::string cuda_words = std::string(cudaGetErrorName(e)) + " (" + std::to_string(int(e)) + ")";
    if (e == cudaErrorInsufficientDriver)
      g_status.reason = "no NVIDIA driver found (" + cuda_words +
                        ": no driver, or one older than CUDA " + std::to_string(CUDART_VERSION / 1000) + " needs)";
    else if (e == cudaErrorNoDevice)
      g_status.reason = "no CUDA-capable GPU found (" + cuda_words + ")";
    else
      g_status.reason = "cudaGetDeviceCount failed: " + cuda_words + ": " + cudaGetErrorString(e);
    cudaGetLastError();  // clear it
    return;
  }
  if (count == 0) {
    g_status.reason = "no CUDA device found";
    return;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    const cudaError_t pe = cudaGetDeviceProperties(&prop, d);
    if (pe != cudaSuccess) {
      g_status.reason = std::string("cudaGetDeviceProperties failed: ") + cudaGetErrorName(pe) + ": " +
                        cudaGetErrorString(pe);
      g_status.devices.clear();
      return;
    }
    g_status.devices.push_back({prop.name, prop.major, prop.minor, size_t(prop.totalGlobalMem)});
  }
  const DeviceInfo& d0 = g_status.devices[0];
  if (d0.major < kMinMajor || (d0.major == kMinMajor && d0.minor < kMinMinor)) {
    g_status.reason = "device 0 (" + d0.name + ") has compute capability " + std::to_string(d0.major) + "." +
                      std::to_string(d0.minor) + "; this build needs 7.5 or newer";
    return;
  }
  g_status.available = true;
}

// Work always runs on device 0; the current device is per host thread, so each call sets it.
void use_device() { CC_CUDA_CHECK(cudaSetDevice(0)); }

bool tensor_cores() { return status().devices.at(0).major >= 8; }  // TF32 and BF16 wmma

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }
}  // namespace

const Status& status() {
  std::call_once(g_once, [] {
    g_probed = true;
    probe();
  });
  return g_status;
}

bool probed() { return g_probed.load(); }

void require_available() {
  const Status& s = status();
  if (!s.available)
    throw Error(ErrorKind::Generic, codes::kNoCuda, "CUDA is not available: " + s.reason);
}

Buffer::Buffer(size_t bytes) : bytes_(bytes) {
  require_available();
  use_device();
  CC_CUDA_CHECK(cudaMalloc(&ptr_, std::max<size_t>(bytes, 4)));
}

Buffer::~Buffer() {
  if (ptr_ && cudaFree(ptr_) != cudaSuccess) cudaGetLastError();  // ignored (e.g. at exit) and cleared
}

void upload(float* dst, const float* src, size_t count) {
  use_device();
  CC_CUDA_CHECK(cudaMemcpy(dst, src, count * sizeof(float), cudaMemcpyHostToDevice));
}

void download(float* dst, const float* src, size_t count) {
  use_device();
  CC_CUDA_CHECK(cudaMemcpy(dst, src, count * sizeof(float), cudaMemcpyDeviceToHost));
}

Geometry geometry_of(const ConvProblem& s) {
  Geometry g;
  g.C = s.Cin; g.H = s.H; g.W = s.W; g.Cg = s.Cg; g.KH = s.KH; g.KW = s.KW;
  g.sh = s.stride_h; g.sw = s.stride_w; g.dh = s.dil_h; g.dw = s.dil_w; g.pt = s.pad_t; g.pl = s.pad_l;
  g.K = s.Cout; g.OH = s.OH; g.OW = s.OW; g.groups = s.groups;
  return g;
}

namespace {

constexpr size_t kColumnsCap = size_t(256) << 20;  // bytes of im2col / col2im columns per chunk of images
constexpr size_t kPartialsCap = size_t(256) << 20;  // bytes of backward-weights' split-K partial results

Algo resolve_algo(const ConvProblem& s, Algo a) {
  if (a == Algo::Direct && s.Cg != 1) a = Algo::Auto;  // Direct handles depthwise only
  if (a == Algo::Im2colGemm && s.direction == Direction::BackwardWeights) a = Algo::Implicit;
  if (a != Algo::Auto) return a;
  if (s.Cg == 1) return Algo::Direct;
  // The implicit backward-data GEMM multiplies every stride phase, mostly by zeros: use columns.
  if (s.direction == Direction::BackwardData && (s.stride_h > 1 || s.stride_w > 1)) return Algo::Im2colGemm;
  return Algo::Implicit;  // (pointwise shapes take the dense path inside Implicit, see below)
}

// Where a call's device workspace goes, in floats (each part a multiple of 4: 16-byte aligned).
struct Work {
  Algo algo = Algo::Auto;
  int64_t wt = 0;            // backward-data: the transposed weights
  int64_t cols = 0;          // im2col / col2im columns of `chunk` images
  int64_t chunk = 0;
  int64_t parts = 1, kchunk = 0;  // backward-weights: the reduction over N*OH*OW split in `parts`
  int64_t partials = 0;      //   of kchunk terms, each summed into its own dw when parts > 1
  int64_t floats() const { return wt + cols + partials; }
};
int64_t round4(int64_t n) { return (n + 3) / 4 * 4; }

Work work_of(const ConvProblem& s, Algo requested) {
  Work k;
  k.algo = resolve_algo(s, requested);
  const bool gemm = k.algo != Algo::Direct;
  const int64_t KHW = s.KH * s.KW;
  if (gemm && s.direction == Direction::BackwardData) k.wt = round4(s.w_elems());
  if (k.algo == Algo::Im2colGemm && !s.is_pointwise()) {
    const int64_t per_image = s.Cin * KHW * s.OH * s.OW;
    k.chunk = std::max<int64_t>(1, std::min<int64_t>(s.N, int64_t(kColumnsCap / sizeof(float)) / per_image));
    k.cols = round4(k.chunk * per_image);
  }
  if (gemm && s.direction == Direction::BackwardWeights) {
    // Enough blocks for a large GPU (about 256 of 128x128 tiles), each summing at least 4096 terms:
    // the output dw is small and the reduction N*OH*OW long.
    const int64_t total = s.N * s.OH * s.OW;
    const int64_t tiles = ceil_div(s.Kg(), 128) * ceil_div(s.Cg * KHW, 128) * s.groups;
    int64_t parts = std::min(ceil_div(256, tiles), std::max<int64_t>(1, total / 4096));
    parts = std::max<int64_t>(1, std::min<int64_t>(parts, int64_t(kPartialsCap / sizeof(float)) / s.w_elems()));
    k.kchunk = ceil_div(ceil_div(total, parts), 16) * 16;
    k.parts = ceil_div(total, k.kchunk);
    if (k.parts > 1) k.partials = round4(k.parts * s.w_elems());
  }
  return k;
}

// The GEMM kernel of a call's precision, chosen once.
struct Gemm {
  Precision precision;
  bool mma;  // tensor cores (TF32, BF16 on 8.0+); else the float32 kernel, rounding for BF16
  cudaStream_t stream;
  template <class AP, class BP>
  void operator()(GemmProblem p, const AP& a, const BP& b) const {
    if (mma) {
      launch_mma(precision, p, a, b, stream);
    } else {
      p.round_bf16 = precision == Precision::BF16;
      launch_sgemm(p, a, b, stream);
    }
  }
};

DenseA dense_a(const float* A, int64_t Kd) { return DenseA{A, Kd % 4 == 0 && aligned16(A)}; }
DenseB dense_b(const float* B, int64_t ldb, int64_t img_stride, int64_t group_stride) {
  return DenseB{B, ldb, img_stride, group_stride,
                ldb % 4 == 0 && img_stride % 4 == 0 && group_stride % 4 == 0 && aligned16(B)};
}

// Algo::Direct, the depthwise kernels: y, dx or dw (the bias gradient is run_device's).
void depthwise(const ConvProblem& s, const RunArgs& a, cudaStream_t stream) {
  const Geometry g = geometry_of(s);
  const bool relu = s.epilogue.act == Activation::Relu, bf16 = s.precision == Precision::BF16;
  switch (s.direction) {
    case Direction::Forward: launch_depthwise(a.src, g, s.N, a.w, a.bias, relu, bf16, a.dst, stream); break;
    case Direction::BackwardData: launch_depthwise_data(a.src, g, s.N, a.w, a.bias, relu, bf16, a.dst, stream); break;
    case Direction::BackwardWeights: launch_depthwise_weights(a.src, a.src2, g, s.N, bf16, a.dst, stream); break;
  }
}

// y = x (*) w (+bias, relu).
void forward(const ConvProblem& s, const Work& k, const Gemm& gemm, const RunArgs& a, float* ws) {
  const Geometry g = geometry_of(s);
  const bool relu = s.epilogue.act == Activation::Relu;
  GemmProblem p;
  p.M = s.Kg();
  p.N = s.OH * s.OW;
  p.Kd = s.Cg * s.KH * s.KW;
  p.batches = s.N;
  p.groups = s.groups;
  p.bias = a.bias;
  p.C = a.dst;
  p.relu = relu;
  p.c_vec = p.N % 4 == 0 && aligned16(a.dst);
  const DenseA A = dense_a(a.w, p.Kd);
  if (s.is_pointwise()) {
    // 1x1 stride 1 unpadded: the input image already is B [C, H*W]; no gather, no workspace.
    gemm(p, A, dense_b(a.src, s.H * s.W, s.Cin * s.H * s.W, s.Cg * s.H * s.W));
  } else if (k.algo == Algo::Implicit) {
    gemm(p, A, ImplicitB{a.src, g});
  } else {
    const int64_t rows = s.Cin * s.KH * s.KW;
    for (int64_t n0 = 0; n0 < s.N; n0 += k.chunk) {
      const int64_t nimg = std::min(k.chunk, s.N - n0);
      launch_im2col(a.src + n0 * s.Cin * s.H * s.W, g, nimg, ws, gemm.stream);
      GemmProblem q = p;
      q.batches = nimg;
      q.C = a.dst + n0 * s.Cout * p.N;
      gemm(q, A, dense_b(ws, p.N, rows * p.N, p.Kd * p.N));
    }
  }
}

// dx = dy (*)^T w (+bias[Cin], relu): a transposed convolution.
void backward_data(const ConvProblem& s, const Work& k, const Gemm& gemm, const RunArgs& a, float* ws) {
  const Geometry g = geometry_of(s);
  const bool relu = s.epilogue.act == Activation::Relu;
  const int64_t KHW = s.KH * s.KW, Kg = s.Kg(), HW = s.H * s.W, OHW = s.OH * s.OW;
  const bool columns = k.algo == Algo::Im2colGemm && !s.is_pointwise();
  float* wt = ws;  // per group: [Cg*KHW, Kg] for the columns GEMM, [Cg, Kg*KHW] for the implicit one
  launch_transpose_weights(a.w, s.groups, Kg, s.Cg, KHW, columns, wt, gemm.stream);
  GemmProblem p;
  p.groups = s.groups;
  if (!columns) {
    p.M = s.Cg;
    p.N = HW;
    p.Kd = Kg * KHW;
    p.batches = s.N;
    p.bias = a.bias;
    p.C = a.dst;
    p.relu = relu;
    p.c_vec = HW % 4 == 0 && aligned16(a.dst);
    if (s.is_pointwise()) gemm(p, dense_a(wt, p.Kd), dense_b(a.src, OHW, s.Cout * OHW, Kg * OHW));
    else gemm(p, dense_a(wt, p.Kd), GradDataB{a.src, g});
    return;
  }
  float* cols = ws + k.wt;
  p.M = s.Cg * KHW;
  p.N = OHW;
  p.Kd = Kg;
  p.c_vec = OHW % 4 == 0;  // the columns buffer is aligned
  for (int64_t n0 = 0; n0 < s.N; n0 += k.chunk) {
    const int64_t nimg = std::min(k.chunk, s.N - n0);
    GemmProblem q = p;
    q.batches = nimg;
    q.C = cols;
    gemm(q, dense_a(wt, p.Kd), dense_b(a.src + n0 * s.Cout * OHW, OHW, s.Cout * OHW, Kg * OHW));
    launch_col2im(cols, g, nimg, a.bias, relu, a.dst + n0 * s.Cin * HW, gemm.stream);
  }
}

// dw = x (*) dy summed over images and pixels.
void backward_weights(const ConvProblem& s, const Work& k, const Gemm& gemm, const RunArgs& a, float* ws) {
  const Geometry g = geometry_of(s);
  const int64_t OHW = s.OH * s.OW, total = s.N * OHW;
  GemmProblem p;
  p.M = s.Kg();
  p.N = s.Cg * s.KH * s.KW;
  p.Kd = k.kchunk;
  p.batches = k.parts;
  p.groups = s.groups;
  p.C = k.parts > 1 ? ws : a.dst;
  p.c_vec = p.N % 4 == 0 && aligned16(p.C);
  const GradOutA A{a.src2, s.Cout, OHW, total, k.kchunk, OHW % 4 == 0 && aligned16(a.src2)};
  gemm(p, A, WeightGradB{a.src, g, total, k.kchunk});
  if (k.parts > 1) launch_sum_parts(ws, k.parts, s.w_elems(), a.dst, gemm.stream);
}

}  // namespace

size_t workspace_bytes(const ConvProblem& s, const ConvOptions& opt) {
  return size_t(work_of(s, opt.algo).floats()) * sizeof(float);
}

void run_device(const ConvProblem& s, const RunArgs& a, const ConvOptions& opt) {
  require_available();
  use_device();
  cudaGetLastError();  // a stale non-sticky error from an unrelated call must not fail our launches
  const Work k = work_of(s, opt.algo);
  std::optional<Stream> own;
  if (!opt.stream) own.emplace();
  const cudaStream_t stream = opt.stream ? static_cast<cudaStream_t>(opt.stream) : own->get();
  std::unique_ptr<Buffer> scratch;
  float* ws = static_cast<float*>(opt.workspace);
  if (!ws && k.floats() > 0) {
    scratch.reset(new Buffer(size_t(k.floats()) * sizeof(float)));
    ws = scratch->data();
  }
  // Tensor cores for TF32 and BF16 from 8.0; before, TF32 computes exact float32 and BF16 rounds.
  const Gemm gemm{s.precision, s.precision != Precision::FP32 && opt.tensor_cores && tensor_cores(), stream};
  // db = dy summed per channel.
  if (s.direction == Direction::BackwardWeights && a.dst2)
    launch_bias_grad(a.src2, s.N, s.Cout, s.OH * s.OW, a.dst2, stream);
  if (a.dst) {  // (backward-weights may ask for db alone)
    if (k.algo == Algo::Direct) depthwise(s, a, stream);
    else if (s.direction == Direction::Forward) forward(s, k, gemm, a, ws);
    else if (s.direction == Direction::BackwardData) backward_data(s, k, gemm, a, ws);
    else backward_weights(s, k, gemm, a, ws);
  }
  // Wait for our own stream, and before a workspace of ours is freed (cudaFree would wait too, but
  // this also surfaces kernel faults).
  if (!opt.stream || scratch) CC_CUDA_CHECK(cudaStreamSynchronize(stream));
}

namespace {
// A host tensor in the layouts the problem names, as NCHW / OIHW for the device.
struct HostTensor {
  std::vector<float> tmp;
  const float* nchw = nullptr;
};
HostTensor activations_in(const ConvProblem& s, const float* t, int64_t C, int64_t H, int64_t W) {
  HostTensor h;
  h.nchw = t;
  if (t && s.layout == Layout::NHWC) {
    h.tmp.resize(size_t(s.N * C * H * W));
    nhwc_to_nchw(t, h.tmp.data(), s.N, C, H, W);
    h.nchw = h.tmp.data();
  }
  return h;
}
HostTensor weights_in(const ConvProblem& s, const float* w) {
  HostTensor h;
  h.nchw = w;
  if (w && s.weight_layout == WeightLayout::HWIO) {
    h.tmp.resize(size_t(s.w_elems()));
    hwio_to_oihw(w, h.tmp.data(), s.Cout, s.Cg, s.KH, s.KW);
    h.nchw = h.tmp.data();
  }
  return h;
}
// A device copy of n floats of host (null stays null).
std::unique_ptr<Buffer> upload_new(const float* host, int64_t n) {
  if (!host) return nullptr;
  std::unique_ptr<Buffer> b(new Buffer(size_t(n) * sizeof(float)));
  upload(b->data(), host, size_t(n));
  return b;
}
std::unique_ptr<Buffer> alloc_if(const float* host, int64_t n) {
  return host ? std::unique_ptr<Buffer>(new Buffer(size_t(n) * sizeof(float))) : nullptr;
}
float* ptr(const std::unique_ptr<Buffer>& b) { return b ? b->data() : nullptr; }
}  // namespace

void run_host(const ConvProblem& s, const RunArgs& a, const ConvOptions& opt) {
  require_available();
  const bool fwd = s.direction == Direction::Forward, bwd_d = s.direction == Direction::BackwardData;
  const bool bwd_w = s.direction == Direction::BackwardWeights;
  // src: x, or dy for backward-data; src2: dy of backward-weights.
  const HostTensor src = bwd_d ? activations_in(s, a.src, s.Cout, s.OH, s.OW) : activations_in(s, a.src, s.Cin, s.H, s.W);
  const HostTensor src2 = activations_in(s, bwd_w ? a.src2 : nullptr, s.Cout, s.OH, s.OW);
  const HostTensor w = weights_in(s, bwd_w ? nullptr : a.w);
  const auto d_src = upload_new(src.nchw, s.src_elems());
  const auto d_src2 = upload_new(src2.nchw, s.y_elems());
  const auto d_w = upload_new(w.nchw, s.w_elems());
  const auto d_bias = upload_new(bwd_w ? nullptr : a.bias, s.bias_elems());
  const auto d_dst = alloc_if(a.dst, s.dst_elems());
  const auto d_dst2 = alloc_if(bwd_w ? a.dst2 : nullptr, s.Cout);
  RunArgs d;
  d.src = ptr(d_src);
  d.src2 = ptr(d_src2);
  d.w = ptr(d_w);
  d.bias = ptr(d_bias);
  d.dst = ptr(d_dst);
  d.dst2 = ptr(d_dst2);
  run_device(s, d, opt);
  if (d_dst2) download(a.dst2, d.dst2, size_t(s.Cout));
  if (!d_dst) return;
  // dst back in the caller's layout: activations NHWC, or dw HWIO.
  const bool convert = bwd_w ? s.weight_layout == WeightLayout::HWIO : s.layout == Layout::NHWC;
  std::vector<float> tmp(convert ? size_t(s.dst_elems()) : 0);
  download(convert ? tmp.data() : a.dst, d.dst, size_t(s.dst_elems()));
  if (!convert) return;
  if (bwd_w) oihw_to_hwio(tmp.data(), a.dst, s.Cout, s.Cg, s.KH, s.KW);
  else if (fwd) nchw_to_nhwc(tmp.data(), a.dst, s.N, s.Cout, s.OH, s.OW);
  else nchw_to_nhwc(tmp.data(), a.dst, s.N, s.Cin, s.H, s.W);
}

}  // namespace cuda
}  // namespace cc
