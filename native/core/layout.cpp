#include "layout.h"

namespace cc {

void swap_outer_inner(const float* src, float* dst, int64_t A, int64_t B, int64_t C) {
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b) {
      const float* s = src + (a * B + b) * C;
      for (int64_t c = 0; c < C; ++c) dst[(c * B + b) * A + a] = s[c];
    }
}

}  // namespace cc
