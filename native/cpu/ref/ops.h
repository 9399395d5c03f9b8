// Small helpers for the kernel files. Internal linkage on purpose (static): a function with external
// linkage instantiated in a file compiled with ISA flags (std::min, an inline template) could be the
// copy the linker keeps for baseline code too, and fault on an older CPU.
#pragma once
#include <cstdint>

namespace cc {
namespace {
static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
}  // namespace
}  // namespace cc
