// CPU identification (baseline code: it runs before any ISA check) and the configuration in use.
#include "cpu_info.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <string>
#include <unistd.h>

#include "../core/error.h"
#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define CC_X86 1
#endif

namespace cc {
namespace {

// Data / unified cache of `level` from sysfs (what a VM was given), bytes; 0 when absent.
int64_t sysfs_cache(int level) {
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream fl(dir + "level"), ft(dir + "type"), fs(dir + "size");
    int lv = 0;
    std::string type, size;
    if (!(fl >> lv) || !(ft >> type) || !(fs >> size)) continue;
    if (lv != level || type == "Instruction") continue;
    int64_t n = std::atoll(size.c_str());
    if (size.back() == 'K') n <<= 10;
    if (size.back() == 'M') n <<= 20;
    return n;
  }
  return 0;
}

#ifdef CC_X86
// Caches from cpuid's deterministic cache leaf (4 on Intel, 0x8000001D on AMD with topology
// extensions): bytes of the data / unified cache of each level.
void cpuid_caches(unsigned leaf, CpuInfo& c) {
  unsigned a, b, cx, d;
  for (unsigned sub = 0; sub < 16; ++sub) {
    if (!__get_cpuid_count(leaf, sub, &a, &b, &cx, &d)) return;
    const unsigned type = a & 0x1F, level = (a >> 5) & 7;
    if (type == 0) return;
    if (type == 2) continue;  // instruction cache
    const int64_t bytes = int64_t((b >> 22) + 1) * (((b >> 12) & 0x3FF) + 1) * ((b & 0xFFF) + 1) * (int64_t(cx) + 1);
    if (level == 1) c.l1d = bytes;
    if (level == 2) c.l2 = bytes;
    if (level == 3) c.l3 = bytes;
  }
}
#endif

CpuInfo detect() {
  CpuInfo c{};
  c.uarch = "unknown";
  c.avx512 = Avx512Width::None;
#ifdef CC_X86
  unsigned a, b, cx, d;
  if (__get_cpuid(0, &a, &b, &cx, &d)) {
    std::memcpy(c.vendor, &b, 4);
    std::memcpy(c.vendor + 4, &d, 4);
    std::memcpy(c.vendor + 8, &cx, 4);
    c.vendor[12] = 0;
  }
  if (__get_cpuid(1, &a, &b, &cx, &d)) {
    const int base = int((a >> 8) & 0xF);
    c.family = base == 0xF ? base + int((a >> 20) & 0xFF) : base;
    c.model = int((a >> 4) & 0xF) | (base == 6 || base == 0xF ? int((a >> 16) & 0xF) << 4 : 0);
  }
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2");
  const bool amd = std::strcmp(c.vendor, "AuthenticAMD") == 0 || std::strcmp(c.vendor, "HygonGenuine") == 0;
  const bool intel = std::strcmp(c.vendor, "GenuineIntel") == 0;
  if (amd) {
    // Public descriptions of the cores, not measured here except Zen 5 server (family 0x1A model
    // 0x02): Zen 4 splits 512-bit operations into two 256-bit halves; Zen 5 executes them full width
    // on desktop and server parts, split on the mobile parts (models 0x20-0x2F, 0x60-0x7F).
    if (c.family == 0x1A) {
      c.uarch = "zen5";
      const bool mobile = (c.model >= 0x20 && c.model <= 0x2F) || (c.model >= 0x60 && c.model <= 0x7F);
      c.avx512 = !avx512 ? Avx512Width::None : mobile ? Avx512Width::Half : Avx512Width::Full;
    } else if (c.family == 0x19) {
      c.uarch = avx512 ? "zen4" : "zen3";
      c.avx512 = avx512 ? Avx512Width::Half : Avx512Width::None;
    } else if (c.family == 0x17) {
      c.uarch = "zen2";  // Zen, Zen+ and Zen 2 alike here: AVX2, 256-bit (Zen 1: 128-bit) FMA pipes
    }
  } else if (intel) {
    // Intel cores with AVX-512 (Skylake-SP and later servers, Ice/Tiger Lake clients, Sapphire
    // Rapids): 512-bit FMAs at full width (some parts have one 512-bit FMA unit: not detectable).
    c.uarch = avx512 ? "intel-avx512" : avx2 ? "intel-avx2" : "unknown";
    c.avx512 = avx512 ? Avx512Width::Full : Avx512Width::None;
  }
  unsigned max_ext = 0;
  if (__get_cpuid(0x80000000, &a, &b, &cx, &d)) max_ext = a;
  if (amd && max_ext >= 0x8000001D) cpuid_caches(0x8000001D, c);
  else if (intel) cpuid_caches(4, c);
#endif
  // Where cpuid did not say: sysfs (Linux), then sysconf.
  if (!c.l1d) c.l1d = sysfs_cache(1);
  if (!c.l2) c.l2 = sysfs_cache(2);
  if (!c.l3) c.l3 = sysfs_cache(3);
#ifdef _SC_LEVEL2_CACHE_SIZE
  if (!c.l1d) c.l1d = std::max<long>(0, sysconf(_SC_LEVEL1_DCACHE_SIZE));
  if (!c.l2) c.l2 = std::max<long>(0, sysconf(_SC_LEVEL2_CACHE_SIZE));
  if (!c.l3) c.l3 = std::max<long>(0, sysconf(_SC_LEVEL3_CACHE_SIZE));
#endif
  return c;
}

struct ConfigSelection {
  const CpuConfig* config = nullptr;
  std::string error;
};

ConfigSelection select_config() {
  ConfigSelection s;
  int n = 0;
  const CpuConfig* table = cpu_configs(&n);
  const char* env = std::getenv("CHANNELCONV_CPU_CONFIG");
  if (env && *env) {
    for (int i = 0; i < n; ++i)
      if (std::strcmp(env, table[i].name) == 0) s.config = &table[i];
    if (!s.config) {
      s.error = std::string("CHANNELCONV_CPU_CONFIG='") + env + "' is not a known configuration; valid values:";
      for (int i = 0; i < n; ++i) s.error += std::string(i ? ", " : " ") + table[i].name;
    }
    return s;
  }
  const CpuInfo& c = cpu_info();
  for (int i = 0; i < n && !s.config; ++i)
    if (table[i].matches(c)) s.config = &table[i];
  return s;
}

}  // namespace

const CpuInfo& cpu_info() {
  static const CpuInfo c = detect();
  return c;
}

const char* avx512_width_name(Avx512Width w) {
  return w == Avx512Width::Full ? "full" : w == Avx512Width::Half ? "half" : "none";
}

const CpuConfig& cpu_config() {
  static const ConfigSelection s = select_config();
  if (!s.config) throw Error(ErrorKind::Generic, codes::kInvalidIsa, s.error);
  return *s.config;
}

const KernelSet& configured(const KernelSet& base, const CpuConfig& cfg) {
  static std::mutex mu;
  static std::deque<std::pair<std::pair<const KernelSet*, const CpuConfig*>, KernelSet>> made;
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& m : made)
    if (m.first.first == &base && m.first.second == &cfg) return m.second;
  KernelSet k = base;
  if (cfg.kc > 0) k.kc = cfg.kc;
  // The L2 this core has (1 MiB when unknown); a task's working set is l2_share of it, and a packed
  // B block (kc x nc) fills the same share.
  const int64_t l2 = cpu_info().l2 > 0 ? cpu_info().l2 : int64_t(1) << 20;
  if (cfg.l2_share > 0) {
    k.tile_bytes = std::max<int64_t>(int64_t(64) << 10, int64_t(double(l2) * cfg.l2_share));
    k.nc = int(std::max<int64_t>(1, k.tile_bytes / (int64_t(k.kc) * 4) / k.nr) * k.nr);
  }
  if (cfg.winograd_m > 0) k.winograd_m = cfg.winograd_m;
  made.emplace_back(std::make_pair(&base, &cfg), k);
  return made.back().second;
}

}  // namespace cc
