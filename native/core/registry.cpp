#include "registry.h"

#include <cstring>

namespace cc {
namespace algos {
extern const Algorithm kDirectForward, kImplicitGemmForward, kPackedGemmForward;
extern const Algorithm kWinograd4x4Forward, kWinograd2x2Forward;
extern const Algorithm kDirectBackwardData, kImplicitGemmBackwardData, kDirectBackwardWeights,
    kImplicitGemmBackwardWeights;
}

namespace {

// In preference order: 'auto' takes the first entry of the problem's direction that can run it and
// prefers it.
const Algorithm* const kRegistry[] = {
    &algos::kDirectForward,
    &algos::kWinograd4x4Forward,
    &algos::kWinograd2x2Forward,
    &algos::kImplicitGemmForward,
    &algos::kPackedGemmForward,
    &algos::kDirectBackwardData,
    &algos::kImplicitGemmBackwardData,
    &algos::kDirectBackwardWeights,
    &algos::kImplicitGemmBackwardWeights,
};

}  // namespace

const Algorithm* const* algorithms(size_t* count) {
  *count = sizeof kRegistry / sizeof kRegistry[0];
  return kRegistry;
}

const std::vector<const char*>& algorithm_names() {
  static const std::vector<const char*> names = [] {
    std::vector<const char*> v;
    for (const Algorithm* a : kRegistry) {
      bool seen = false;
      for (const char* n : v) seen = seen || std::strcmp(n, a->name) == 0;
      if (!seen) v.push_back(a->name);
    }
    return v;
  }();
  return names;
}

int algorithm_index(const char* name) {
  const auto& names = algorithm_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (std::strcmp(names[i], name) == 0) return int(i);
  return -1;
}

}  // namespace cc
