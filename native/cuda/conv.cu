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

bool tf32_supported() { return status().devices.at(0).major >= 8; }

constexpr size_t kIm2colWorkspaceCap = size_t(256) << 20;  // bytes of im2col columns per chunk of images

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

namespace {
int64_t im2col_chunk(const ConvProblem& s) {
  const size_t per_image = size_t(s.Cin * s.KH * s.KW) * size_t(s.OH * s.OW) * sizeof(float);
  return std::max<int64_t>(1, std::min<int64_t>(s.N, int64_t(kIm2colWorkspaceCap / std::max<size_t>(per_image, 1))));
}

Algo resolve_algo(const ConvProblem& s, Algo a) {
  if (a == Algo::Direct && s.Cg != 1) a = Algo::Auto;  // Direct handles depthwise only
  if (a != Algo::Auto) return a;
  if (s.Cg == 1) return Algo::Direct;
  return Algo::Implicit;  // (pointwise shapes take the dense path inside Implicit, see below)
}
}  // namespace

size_t workspace_bytes(const ConvProblem& s, const ConvOptions& opt) {
  if (resolve_algo(s, opt.algo) != Algo::Im2colGemm || s.is_pointwise()) return 0;
  return size_t(im2col_chunk(s)) * size_t(s.Cin * s.KH * s.KW) * size_t(s.OH * s.OW) * sizeof(float);
}

void conv2d_device(const ConvProblem& s, const float* x, const float* w, const float* bias, float* y,
                   const ConvOptions& opt) {
  if (s.direction != Direction::Forward)
    throw Error(ErrorKind::Range, codes::kInvalidOption, "the CUDA path computes forward convolutions only");
  require_available();
  use_device();
  cudaGetLastError();  // a stale non-sticky error from an unrelated call must not fail our launches
  const bool tf32 = s.precision == Precision::TF32 && tf32_supported();  // older GPUs: exact fp32
  const Algo algo = resolve_algo(s, opt.algo);
  std::optional<Stream> own;
  if (!opt.stream) own.emplace();
  const cudaStream_t stream = opt.stream ? static_cast<cudaStream_t>(opt.stream) : own->get();

  GemmProblem p;
  p.M = s.Cout / s.groups;
  p.N = s.OH * s.OW;
  p.Kd = s.Cg * s.KH * s.KW;
  p.images = s.N;
  p.groups = s.groups;
  p.A = w;
  p.bias = bias;
  p.C = y;
  p.relu = s.epilogue.act == Activation::Relu;
  p.a_vec = p.Kd % 4 == 0 && aligned16(w);
  p.c_vec = p.N % 4 == 0 && aligned16(y);

  ImplicitB g;
  g.x = x;
  g.C = s.Cin; g.H = s.H; g.W = s.W; g.Cg = s.Cg; g.KH = s.KH; g.KW = s.KW;
  g.sh = s.stride_h; g.sw = s.stride_w; g.dh = s.dil_h; g.dw = s.dil_w;
  g.pt = s.pad_t; g.pl = s.pad_l; g.OW = s.OW;

  auto gemm = [&](const GemmProblem& q, const auto& b) {
    if (tf32) launch_tf32(q, b, stream);
    else launch_sgemm(q, b, stream);
  };

  if (algo == Algo::Direct) {
    launch_depthwise(g, s.N, s.Cout, s.OH, w, bias, p.relu, y, stream);
  } else if (s.is_pointwise()) {
    // 1x1 stride 1 unpadded: the input image already is B [C, H*W]; no gather, no workspace.
    DenseB b;
    b.B = x;
    b.ldb = s.H * s.W;
    b.img_stride = s.Cin * s.H * s.W;
    b.group_stride = s.Cg * s.H * s.W;
    b.vec = b.ldb % 4 == 0 && b.img_stride % 4 == 0 && b.group_stride % 4 == 0 && aligned16(x);
    gemm(p, b);
  } else if (algo == Algo::Implicit) {
    gemm(p, g);
  } else {
    const int64_t chunk = im2col_chunk(s);
    const int64_t rows = s.Cin * s.KH * s.KW;
    Buffer cols(size_t(chunk) * size_t(rows) * size_t(p.N) * sizeof(float));
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
      const int64_t nimg = std::min(chunk, s.N - n0);
      ImplicitB gi = g;
      gi.x = x + n0 * s.Cin * s.H * s.W;
      launch_im2col(gi, nimg, s.OH, cols.data(), stream);
      DenseB b;
      b.B = cols.data();
      b.ldb = p.N;
      b.img_stride = rows * p.N;
      b.group_stride = p.Kd * p.N;
      b.vec = p.N % 4 == 0;  // cudaMalloc'd: aligned; strides are multiples of ldb
      GemmProblem q = p;
      q.images = nimg;
      q.C = y + n0 * s.Cout * p.N;
      gemm(q, b);
    }
    // Wait before cols is freed (cudaFree would wait too, but this also surfaces kernel faults).
    CC_CUDA_CHECK(cudaStreamSynchronize(stream));
    return;
  }
  if (!opt.stream) CC_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void conv2d_host(const ConvProblem& s, const float* x, const float* w, const float* bias, float* y,
                 const ConvOptions& opt) {
  require_available();
  const size_t nx = size_t(s.x_elems()), nw = size_t(s.w_elems()), ny = size_t(s.y_elems());
  std::vector<float> tx, tw, ty;
  if (s.layout == Layout::NHWC) {
    tx.resize(nx);
    nhwc_to_nchw(x, tx.data(), s.N, s.Cin, s.H, s.W);
    x = tx.data();
    ty.resize(ny);
  }
  if (s.weight_layout == WeightLayout::HWIO) {
    tw.resize(nw);
    hwio_to_oihw(w, tw.data(), s.Cout, s.Cg, s.KH, s.KW);
    w = tw.data();
  }
  Buffer dx(nx * sizeof(float)), dw(nw * sizeof(float)), dy(ny * sizeof(float));
  std::unique_ptr<Buffer> db;
  upload(dx.data(), x, nx);
  upload(dw.data(), w, nw);
  if (bias) {
    db.reset(new Buffer(size_t(s.Cout) * sizeof(float)));
    upload(db->data(), bias, size_t(s.Cout));
  }
  conv2d_device(s, dx.data(), dw.data(), db ? db->data() : nullptr, dy.data(), opt);
  if (s.layout == Layout::NHWC) {
    download(ty.data(), dy.data(), ny);
    nchw_to_nhwc(ty.data(), y, s.N, s.Cout, s.OH, s.OW);
  } else {
    download(y, dy.data(), ny);
  }
}

}  // namespace cuda
}  // namespace cc
