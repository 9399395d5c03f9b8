// Shared by the native test executables (native/tests, native/cuda/tests): pass/fail counting and
// the error measure every kernel is judged by.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace cctest {

inline int g_passed = 0, g_failed = 0;

inline void check(bool ok, const std::string& what) {
  if (ok) ++g_passed;
  else { ++g_failed; std::printf("FAIL: %s\n", what.c_str()); }
}

// Max |y - ref| / max(1, max |ref|): relative to the output's scale so sums near zero do not blow
// up; a NaN anywhere (an element the kernel never wrote) counts as infinite.
inline double rel_error(const std::vector<float>& y, const std::vector<double>& ref) {
  double scale = 1.0, err = 0.0;
  for (double r : ref) scale = std::max(scale, std::fabs(r));
  for (size_t i = 0; i < y.size(); ++i) {
    const double e = std::fabs(double(y[i]) - ref[i]);
    if (!(e <= err)) err = std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
  }
  return err / scale;
}

}  // namespace cctest
