// The fp32 FMA peak probe, written once and included by each kernel file inside its anonymous
// namespace so that it is compiled with that file's ISA flags: kChains independent chains
// acc = fma(acc, a, b) that never touch memory, so their rate is the core's arithmetic ceiling the
// benchmarks measure the kernels against. With a just below 1 the chains converge to b / (1 - a):
// no overflow, no denormals. The includer gives its vector type V and set1 / fma / sum for it.
constexpr int kPeakChains = 12;  // covers FMA latency (4 cycles) x 2 pipes with room to spare

template <class V, class Set1, class Fma, class Sum>
float peak_chains(int64_t iters, float seed, Set1 set1, Fma fma, Sum sum) {
  const V a = set1(0.999999f), b = set1(seed * 1e-6f);
  V acc[kPeakChains];
  for (int i = 0; i < kPeakChains; ++i) acc[i] = set1(seed + float(i));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kPeakChains; ++i) acc[i] = fma(acc[i], a, b);
  }
  float r = 0;
  for (int i = 0; i < kPeakChains; ++i) r += sum(acc[i]);
  return r;
}
