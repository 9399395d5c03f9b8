// Native CUDA benchmark (no Node): the shapes of bench/shapes.json (S1-S7 and S1 at batch 64) in
// every direction (forward; backward-data, the transposed convolution's kernel; backward-weights,
// the weight gradient alone) through every GPU algorithm and precision, timed with CUDA events after
// warm-up (median of the timed runs), in GFLOP/s (2 * multiply-adds, the same in every direction) and
// as a fraction of the fp32 peak: the datasheet figure (--peak, default 67000 GFLOP/s, H200/H100 SXM)
// and the rate of an FMA-only kernel measured here first. --json PATH writes the same as JSON.
// Usage: channelconv_cuda_bench [--json PATH] [--peak GFLOPS] [--reps N] [--cases S1,S3,...]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <ctime>
#include <string>
#include <vector>

#include "bench_shapes.h"  // generated from bench/shapes.json
#include "core/problem.h"
#include "cuda/common.cuh"
#include "cuda/cuda_conv.h"

namespace {

struct Variant {
  const char* name;
  cc::cuda::Algo algo;
  cc::Precision precision;
};
const Variant kVariants[] = {
    {"implicit_fp32", cc::cuda::Algo::Implicit, cc::Precision::FP32},
    {"im2col_fp32", cc::cuda::Algo::Im2colGemm, cc::Precision::FP32},  // backward-data: GEMM + col2im
    {"implicit_tf32", cc::cuda::Algo::Implicit, cc::Precision::TF32},
    {"im2col_tf32", cc::cuda::Algo::Im2colGemm, cc::Precision::TF32},
    {"implicit_bf16", cc::cuda::Algo::Implicit, cc::Precision::BF16},
    {"im2col_bf16", cc::cuda::Algo::Im2colGemm, cc::Precision::BF16},
    {"auto_fp32", cc::cuda::Algo::Auto, cc::Precision::FP32},  // what the addon runs (depthwise: direct)
    {"auto_tf32", cc::cuda::Algo::Auto, cc::Precision::TF32},
    {"auto_bf16", cc::cuda::Algo::Auto, cc::Precision::BF16},
};
// Result keys: the variant's name for forward, prefixed for the backward directions.
const struct {
  cc::Direction direction;
  const char* prefix;
} kDirections[] = {
    {cc::Direction::Forward, ""},
    {cc::Direction::BackwardData, "bwd_data_"},
    {cc::Direction::BackwardWeights, "bwd_weights_"},
};

// fma_peak: 8 independent FMA chains per thread, nothing but FMAs in the loop.
__global__ void fma_peak(float* out, int iters, float a, float b) {
  float v[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) v[j] = threadIdx.x + j;
  for (int i = 0; i < iters; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = fmaf(v[j], a, b);
  float s = 0;
#pragma unroll
  for (int j = 0; j < 8; ++j) s += v[j];
  if (s == 12345.f) out[0] = s;  // keeps the chains alive
}

double measure_peak_gflops() {
  cudaDeviceProp prop{};
  CC_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  float* out = nullptr;
  CC_CUDA_CHECK(cudaMalloc(&out, 4));
#ifdef CC_CUDA_EMULATE
  const int blocks = 1, threads = 32, iters = 1 << 10;  // the CPU emulation: just exercise the code
#else
  const int blocks = prop.multiProcessorCount * 8, threads = 256, iters = 1 << 14;
#endif
  cudaEvent_t e0, e1;
  CC_CUDA_CHECK(cudaEventCreate(&e0));
  CC_CUDA_CHECK(cudaEventCreate(&e1));
  CC_LAUNCH(fma_peak, blocks, threads, 0, nullptr)(out, iters, 0.999f, 0.001f);
  CC_CUDA_LAUNCH_CHECK("fma_peak");
  std::vector<float> ms;
  for (int r = 0; r < 5; ++r) {
    CC_CUDA_CHECK(cudaEventRecord(e0));
    CC_LAUNCH(fma_peak, blocks, threads, 0, nullptr)(out, iters, 0.999f, 0.001f);
    CC_CUDA_LAUNCH_CHECK("fma_peak");
    CC_CUDA_CHECK(cudaEventRecord(e1));
    CC_CUDA_CHECK(cudaEventSynchronize(e1));
    float t = 0;
    CC_CUDA_CHECK(cudaEventElapsedTime(&t, e0, e1));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaFree(out);
  return 2.0 * 8 * double(iters) * blocks * threads / (ms[ms.size() / 2] * 1e-3) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const char* json_path = nullptr;
  double peak = 67000.0;
  int reps = 20;
  std::string only;  // comma-separated case ids; empty: all
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else if (!std::strcmp(argv[i], "--peak") && i + 1 < argc) peak = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::max(3, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--cases") && i + 1 < argc) only = std::string(",") + argv[++i] + ",";
  }
  const cc::cuda::Status& st = cc::cuda::status();
  if (!st.available) {
    std::printf("cuda bench: SKIPPED (%s)\n", st.reason.c_str());
    return 0;
  }
  try {
    const double measured_peak = measure_peak_gflops();
    std::printf("device %s (cc %d.%d); fp32 peak: datasheet %.0f GFLOP/s, FMA kernel measured %.0f GFLOP/s\n",
                st.devices[0].name.c_str(), st.devices[0].major, st.devices[0].minor, peak, measured_peak);
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    std::string json = "{\n  \"date\": \"" + std::string(date) + "\",\n  \"device\": \"" + st.devices[0].name + "\",\n  \"computeCapability\": \"" +
                       std::to_string(st.devices[0].major) + "." + std::to_string(st.devices[0].minor) +
                       "\",\n  \"peakGflopsDatasheet\": " + std::to_string(peak) +
                       ",\n  \"peakGflopsMeasured\": " + std::to_string(measured_peak) + ",\n  \"cases\": [";
    std::string s1_fields;
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> U(-1.f, 1.f);
    cudaEvent_t e0, e1;
    CC_CUDA_CHECK(cudaEventCreate(&e0));
    CC_CUDA_CHECK(cudaEventCreate(&e1));
    cudaStream_t stream;
    CC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    bool first_case = true;
    std::printf("%-6s %-26s %10s %10s %8s %8s\n", "shape", "variant", "ms(median)", "GFLOP/s", "%sheet", "%meas");
    for (const ccbench::Shape& c : ccbench::kShapes) {
      if (!only.empty() && only.find(std::string(",") + c.id + ",") == std::string::npos) continue;
      cc::ConvRequest r;
      r.groups = c.groups;
      r.stride[0] = r.stride[1] = c.stride;
      for (auto& p : r.pad) p = c.pad;
      cc::set_sizes(r, c.N, c.C, c.H, c.W, c.Cout, c.KH, c.KW);
      const cc::ConvProblem forward = cc::resolve(r);
      const double flops = 2.0 * forward.macs();
      cc::cuda::Buffer x(size_t(forward.x_elems()) * 4), w(size_t(forward.w_elems()) * 4), dy(size_t(forward.y_elems()) * 4);
      cc::cuda::Buffer y(size_t(forward.y_elems()) * 4), dx(size_t(forward.x_elems()) * 4), dw(size_t(forward.w_elems()) * 4);
      for (const cc::cuda::Buffer* b : {&x, &w, &dy}) {
        std::vector<float> h(b->bytes() / 4);
        for (float& v : h) v = U(rng);
        cc::cuda::upload(b->data(), h.data(), h.size());
      }
      json += std::string(first_case ? "" : ",") + "\n    {\"id\": \"" + c.id + "\", \"flops\": " +
              std::to_string(flops) + ", \"results\": {";
      first_case = false;
      bool first_v = true;
      for (const auto& dir : kDirections) {
        cc::ConvProblem s = forward;
        s.direction = dir.direction;
        cc::RunArgs a;
        if (dir.direction == cc::Direction::Forward) a.src = x.data(), a.w = w.data(), a.dst = y.data();
        else if (dir.direction == cc::Direction::BackwardData) a.src = dy.data(), a.w = w.data(), a.dst = dx.data();
        else a.src = x.data(), a.src2 = dy.data(), a.dst = dw.data();
        for (const Variant& v : kVariants) {
          // Backward-weights has no columns variant (it would run the implicit one again).
          if (dir.direction == cc::Direction::BackwardWeights && v.algo == cc::cuda::Algo::Im2colGemm) continue;
          cc::cuda::ConvOptions o;
          o.algo = v.algo;
          o.stream = stream;
          s.precision = v.precision;
          cc::cuda::Buffer ws(std::max<size_t>(cc::cuda::workspace_bytes(s, o), 4));
          o.workspace = ws.data();
          for (int i = 0; i < 3; ++i) cc::cuda::run_device(s, a, o);
          CC_CUDA_CHECK(cudaStreamSynchronize(stream));
          std::vector<float> ms;
          for (int r = 0; r < reps; ++r) {
            CC_CUDA_CHECK(cudaEventRecord(e0, stream));
            cc::cuda::run_device(s, a, o);
            CC_CUDA_CHECK(cudaEventRecord(e1, stream));
            CC_CUDA_CHECK(cudaEventSynchronize(e1));
            float t = 0;
            CC_CUDA_CHECK(cudaEventElapsedTime(&t, e0, e1));
            ms.push_back(t);
          }
          std::sort(ms.begin(), ms.end());
          const double med = ms[ms.size() / 2];
          const double gflops = flops / (med * 1e-3) / 1e9;
          const std::string key = std::string(dir.prefix) + v.name;
          std::printf("%-6s %-26s %10.4f %10.1f %7.1f%% %7.1f%%\n", c.id, key.c_str(), med, gflops, 100 * gflops / peak,
                      100 * gflops / measured_peak);
          char buf[256];
          std::snprintf(buf, sizeof buf, "%s\"%s\": {\"msMedian\": %.6f, \"msMin\": %.6f, \"gflops\": %.3f}",
                        first_v ? "" : ", ", key.c_str(), med, ms.front(), gflops);
          json += buf;
          first_v = false;
          if (!std::strcmp(c.id, "S1")) {
            std::snprintf(buf, sizeof buf, ",\n  \"S1_%s_gflops\": %.3f", key.c_str(), gflops);
            s1_fields += buf;
          }
        }
      }
      json += "}}";
    }
    json += "\n  ]" + s1_fields + "\n}\n";
    cudaStreamDestroy(stream);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    if (json_path) {
      FILE* f = std::fopen(json_path, "w");
      if (!f) { std::fprintf(stderr, "cannot write %s\n", json_path); return 1; }
      std::fputs(json.c_str(), f);
      std::fclose(f);
      std::printf("wrote %s\n", json_path);
    }
  } catch (const cc::Error& e) {
    std::fprintf(stderr, "cuda bench: %s: %s\n", e.code().c_str(), e.what());
    return 1;
  }
  return 0;
}
