// The one table of kernel sets, best first, with the cpuid check of each; the choice of the set in
// use (CHANNELCONV_ISA or the best this CPU runs); A packing and a plain sgemm over any set.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

#include "../core/error.h"
#include "cpu_info.h"
#include "kernels.h"

namespace cc {

extern const KernelSet kGeneric;
extern const GemmBf16 kGenericBf16;
#if defined(__x86_64__) || defined(__i386__)
extern const KernelSet kAvx512, kAvx2;
#ifdef CC_HAVE_AVX512BF16
extern const KernelSet kAvx512Bf16;
#endif
#endif
#if defined(__aarch64__)
extern const KernelSet kNeon;
#endif

namespace {

// The checks run baseline code: they must not live in the ISA-flagged files they guard.
#if defined(__x86_64__) || defined(__i386__)
bool has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
}
#ifdef CC_HAVE_AVX512BF16
bool has_avx512bf16() { return has_avx512() && __builtin_cpu_supports("avx512bf16"); }
#endif
bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif
#if defined(__aarch64__)
// AdvSIMD is part of the AArch64 baseline; Linux still reports it (a kernel could hide it).
bool has_neon() {
#if defined(__linux__)
  return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#else
  return true;
#endif
}
#endif
bool always() { return true; }

// An AMX or AVX512-FP16 set would be one more row here, above its fallbacks (see GemmBf16).
const KernelEntry kTable[] = {
#if defined(__x86_64__) || defined(__i386__)
#ifdef CC_HAVE_AVX512BF16
    {&kAvx512Bf16, has_avx512bf16},
#endif
    {&kAvx512, has_avx512},
    {&kAvx2, has_avx2},
#endif
#if defined(__aarch64__)
    {&kNeon, has_neon},
#endif
    {&kGeneric, always},
};
constexpr size_t kTableSize = sizeof kTable / sizeof kTable[0];

// The blocking configurations, most specific first (BLIS's config/<arch>): data only. kc, the L2
// share of a task's working set (from which the packed B width nc follows) and Winograd's preferred
// tile. Only "zen5" was measured (docs/PERF.md, "Per-core configuration"); the others carry the same
// blocking scaled to their caches by l2_share; F(4x4) was faster than F(2x2) on Zen 5 (S3), and saves
// more FMAs, which are scarcer still on the half-width and AVX2 cores (reasoning, not measured).
bool is_zen5_full(const CpuInfo& c) { return std::strcmp(c.uarch, "zen5") == 0 && c.avx512 == Avx512Width::Full; }
bool is_avx512_half(const CpuInfo& c) { return c.avx512 == Avx512Width::Half; }
bool is_intel_avx512(const CpuInfo& c) { return std::strcmp(c.uarch, "intel-avx512") == 0; }
bool is_zen_avx2(const CpuInfo& c) { return std::strcmp(c.uarch, "zen3") == 0 || std::strcmp(c.uarch, "zen2") == 0; }
bool is_intel_avx2(const CpuInfo& c) { return std::strcmp(c.uarch, "intel-avx2") == 0; }
bool any_cpu(const CpuInfo&) { return true; }

const CpuConfig kConfigs[] = {
    // name           matches          kc   l2 share  Winograd m
    {"zen5",          is_zen5_full,    256, 0.5,      4},
    {"zen4",          is_avx512_half,  256, 0.5,      4},
    {"intel-avx512",  is_intel_avx512, 256, 0.5,      4},
    {"zen3",          is_zen_avx2,     256, 0.5,      4},
    {"intel-avx2",    is_intel_avx2,   256, 0.5,      4},
    {"default",       any_cpu,         0,   0.5,      4},
};

struct Selection {
  const KernelSet* kernels = nullptr;
  std::string error;  // set when CHANNELCONV_ISA is unusable
};

std::string names(bool supported_only) {
  std::string s;
  for (const KernelEntry& e : kTable)
    if (!supported_only || e.supported()) s += std::string(s.empty() ? "" : ", ") + e.set->name;
  return s;
}

Selection select() {
  Selection s;
  const char* env = std::getenv("CHANNELCONV_ISA");
  if (env && *env) {
    for (const KernelEntry& e : kTable)
      if (std::strcmp(env, e.set->name) == 0) {
        if (e.supported()) s.kernels = e.set;
        else s.error = std::string("CHANNELCONV_ISA='") + env + "' is not supported by this CPU";
        break;
      }
    if (!s.kernels && s.error.empty()) s.error = std::string("CHANNELCONV_ISA='") + env + "' is not a known ISA";
    if (!s.kernels) s.error += "; valid values: " + names(false) + " (supported here: " + names(true) + ")";
    return s;
  }
  for (const KernelEntry& e : kTable)
    if (e.supported()) {
      s.kernels = e.set;
      break;
    }
  return s;
}

// The selected set with the blocking of the CPU configuration in use.
Selection select_configured() {
  Selection s = select();
  if (!s.kernels) return s;
  try {
    s.kernels = &configured(*s.kernels, cpu_config());
  } catch (const Error& e) {
    s.kernels = nullptr;
    s.error = e.what();
  }
  return s;
}

Selection& selection() {
  static Selection s = select_configured();
  return s;
}

}  // namespace

const KernelEntry* kernel_table(size_t* count) {
  *count = kTableSize;
  return kTable;
}

const CpuConfig* cpu_configs(int* count) {
  *count = int(sizeof kConfigs / sizeof kConfigs[0]);
  return kConfigs;
}

const KernelSet& kernels() {
  Selection& s = selection();
  if (!s.kernels) throw Error(ErrorKind::Generic, codes::kInvalidIsa, s.error);
  return *s.kernels;
}

const KernelSet* kernels_named(const char* name) {
  for (const KernelEntry& e : kTable)
    if (std::strcmp(name, e.set->name) == 0) return e.supported() ? e.set : nullptr;
  return nullptr;
}

const GemmBf16& gemm_bf16(const KernelSet& k) { return k.bf16 ? *k.bf16 : kGenericBf16; }

void force_kernels(const KernelSet& k) {
  selection().kernels = &k;
  selection().error.clear();
}

// A[M x K] -> per K block, MR-row panels [kcb][MR], rows past M zero.
void pack_a(const KernelSet& kr, int64_t kc, int64_t M, int64_t K, const float* A, int64_t lda, float* dst,
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

void sgemm(const KernelSet& kr, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
           int64_t ldb, float* C, int64_t ldc, const float* bias) {
  const int mr = kr.mr, nr = kr.nr;
  const int64_t Mp = (M + mr - 1) / mr * mr;
  std::vector<float> ap(size_t(std::max<int64_t>(Mp * K, 1)));
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
          kr.ukernel(kcb, ap.data() + Mp * k0 + i0 * kcb, bp.data() + jr * kcb, C + i0 * ldc + j0 + jr, ldc, 1,
                     int(std::min<int64_t>(mr, M - i0)), int(std::min<int64_t>(nr, ncb - jr)), bias_p.data() + i0,
                     flags);
    }
  }
}

}  // namespace cc
