// What this CPU is (vendor, family/model, micro-architecture, AVX-512 width, caches) and the blocking
// configuration chosen for it (BLIS's configurations: one entry per micro-architecture, data only,
// in the table of kernel_table.cpp). The algorithms never look at the CPU: they read the configured
// KernelSet (kernels()), whose kc / nc / tile_bytes come from the configuration.
#pragma once
#include <cstdint>

namespace cc {

struct KernelSet;

// How the core executes 512-bit FMAs: two full-width pipes (Zen 5, Intel server cores), split into two
// 256-bit halves ("double-pumped": Zen 4, whose AVX-512 peak equals its AVX2 peak), or no AVX-512.
enum class Avx512Width { None, Half, Full };

struct CpuInfo {
  char vendor[13];   // "AuthenticAMD", "GenuineIntel", ... ("" off x86)
  int family, model;  // display family / model (cpuid leaf 1), 0 off x86
  const char* uarch;  // "zen5", "zen4", "zen3", "zen2", "intel-avx512", "intel-avx2", "unknown"
  Avx512Width avx512;
  int64_t l1d, l2, l3;  // data cache bytes per core (l3: the whole cache as reported); 0 unknown
};

// Detected once (cpuid on x86, sysfs / sysconf elsewhere).
const CpuInfo& cpu_info();
const char* avx512_width_name(Avx512Width w);  // "none", "half", "full"

// A blocking configuration: which micro-architectures it is for and its block sizes. A field of 0
// keeps the kernel set's own value. A task's working set (KernelSet::tile_bytes) is l2_share of the
// L2, and the packed B width nc follows from it: kc x nc floats fill the same share.
struct CpuConfig {
  const char* name;
  bool (*matches)(const CpuInfo& c);
  int kc;           // K block (an A micro-panel, kc x MR floats, stays in L1)
  double l2_share;  // a task's working set (input rows + C tile) as a share of the L2
  // Winograd's output tile m (F(m x m, 3 x 3)) 'auto' prefers here: 4 saves more multiply-adds, which
  // pays most where FMAs are scarce (half-width AVX-512, AVX2); within the accuracy contract either way.
  int winograd_m;
};

// Every configuration, most specific first; the last ("default") matches any CPU.
const CpuConfig* cpu_configs(int* count);

// The configuration in use: CHANNELCONV_CPU_CONFIG (a name of the table) when set, else the first
// that matches this CPU. Throws cc::Error (ERR_CHANNELCONV_INVALID_ISA) when the variable names no
// configuration.
const CpuConfig& cpu_config();

// `base` with the configuration's blocking applied (a stable copy per (base, config) pair).
const KernelSet& configured(const KernelSet& base, const CpuConfig& c);

}  // namespace cc
