// Kernel-set dispatch (cpuid once, CHANNELCONV_ISA override), A packing and a plain sgemm.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../core/error.h"

namespace cc {

extern const GemmKernels kGemmAvx512, kGemmAvx2, kGemmGeneric;

namespace {

bool cpu_has(const char* isa) {
  if (std::strcmp(isa, "generic") == 0) return true;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (std::strcmp(isa, "avx2") == 0) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (std::strcmp(isa, "avx512") == 0)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma");
#endif
  return false;
}

const GemmKernels* const kAll[] = {&kGemmAvx512, &kGemmAvx2, &kGemmGeneric};

struct Selection {
  const GemmKernels* kernels = nullptr;
  std::string error;  // set when CHANNELCONV_ISA is unusable
};

Selection select() {
  Selection s;
  const char* env = std::getenv("CHANNELCONV_ISA");
  if (env && *env) {
    for (const GemmKernels* k : kAll)
      if (std::strcmp(env, k->isa) == 0) {
        if (cpu_has(k->isa)) s.kernels = k;
        else s.error = std::string("CHANNELCONV_ISA='") + env + "' is not supported by this CPU";
        break;
      }
    if (!s.kernels && s.error.empty())
      s.error = std::string("CHANNELCONV_ISA='") + env + "' is not a known ISA";
    if (!s.kernels) {
      s.error += "; valid values: avx512, avx2, generic (supported here:";
      for (const GemmKernels* k : kAll)
        if (cpu_has(k->isa)) s.error += std::string(" ") + k->isa;
      s.error += ")";
    }
    return s;
  }
  for (const GemmKernels* k : kAll)
    if (cpu_has(k->isa)) {
      s.kernels = k;
      break;
    }
  return s;
}

Selection& selection() {
  static Selection s = select();
  return s;
}

}  // namespace

const GemmKernels& gemm_kernels() {
  const Selection& s = selection();
  if (!s.kernels) throw Error(ErrorKind::Generic, codes::kInvalidIsa, s.error);
  return *s.kernels;
}

const char* gemm_isa() { return gemm_kernels().isa; }

const GemmKernels* gemm_kernels_for(const char* isa) {
  for (const GemmKernels* k : kAll)
    if (std::strcmp(isa, k->isa) == 0) return cpu_has(isa) ? k : nullptr;
  return nullptr;
}

void gemm_force(const GemmKernels& k) {
  selection().kernels = &k;
  selection().error.clear();
}

// A[M x K] -> per K block, MR-row panels [kcb][MR], rows past M zero.
void pack_a(const GemmKernels& kr, int64_t kc, int64_t M, int64_t K, const float* A, int64_t lda, float* dst,
            int64_t panel_begin, int64_t panel_end) {
  const int mr = kr.mr;
  const int64_t Mp = (M + mr - 1) / mr * mr;
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t kcb = std::min<int64_t>(kc, K - k0);
    float* blk = dst + Mp * k0;
    const int64_t i_end = panel_end < 0 ? Mp : std::min(Mp, panel_end * mr);
    for (int64_t i0 = panel_begin * mr; i0 < i_end; i0 += mr) {
      float* p = blk + i0 * kcb;
      const int rows = int(std::min<int64_t>(mr, M - i0));
      for (int64_t k = 0; k < kcb; ++k) {
        for (int i = 0; i < rows; ++i) p[k * mr + i] = A[(i0 + i) * lda + k0 + k];
        for (int i = rows; i < mr; ++i) p[k * mr + i] = 0.0f;
      }
    }
  }
}

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
           float* C, int64_t ldc, const float* bias) {
  const GemmKernels& kr = gemm_kernels();
  const int mr = kr.mr, nr = kr.nr;
  const int64_t Mp = (M + mr - 1) / mr * mr;
  std::vector<float> ap(size_t(std::max<int64_t>(packed_a_floats(kr, M, K), 1)));
  pack_a(kr, kr.kc, M, K, A, lda, ap.data());
  std::vector<float> bp(size_t(kr.kc) * kr.nc), bias_p(size_t(Mp), 0.0f);
  if (bias) std::copy(bias, bias + M, bias_p.begin());
  if (K == 0) {  // no K block runs: C is the bias alone
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = bias_p[size_t(i)];
    return;
  }
  for (int64_t j0 = 0; j0 < N; j0 += kr.nc) {
    const int64_t ncb = std::min<int64_t>(kr.nc, N - j0);
    for (int64_t k0 = 0; k0 < K; k0 += kr.kc) {
      const int64_t kcb = std::min<int64_t>(kr.kc, K - k0);
      for (int64_t jr = 0; jr < ncb; jr += nr) {  // B block -> NR-column panels [kcb][NR]
        float* p = bp.data() + jr * kcb;
        const int cols = int(std::min<int64_t>(nr, ncb - jr));
        for (int64_t k = 0; k < kcb; ++k) {
          const float* src = B + (k0 + k) * ldb + j0 + jr;
          for (int j = 0; j < cols; ++j) p[k * nr + j] = src[j];
          for (int j = cols; j < nr; ++j) p[k * nr + j] = 0.0f;
        }
      }
      const int flags = k0 > 0 ? kUkAccumulate : 0;
      for (int64_t i0 = 0; i0 < M; i0 += mr)
        for (int64_t jr = 0; jr < ncb; jr += nr)
          kr.ukernel(kcb, ap.data() + Mp * k0 + i0 * kcb, bp.data() + jr * kcb, C + i0 * ldc + j0 + jr, ldc,
                     1, int(std::min<int64_t>(mr, M - i0)), int(std::min<int64_t>(nr, ncb - jr)),
                     bias_p.data() + i0, flags);
    }
  }
}

}  // namespace cc
