// pb_zero and pb_copy of pack_b.inl from whole vectors of the includer's PackVec (a GCC vector of
// floats declared aligned(1) and may_alias, as the types of the _mm*_loadu / storeu intrinsics: the
// file's ISA flags choose the instructions), then scalar tails. Included by a kernel file inside its
// anonymous namespace, before pack_b.inl.

void pb_zero(float* d, int n) {
  constexpr int L = sizeof(PackVec) / sizeof(float);
  int i = 0;
  for (; i + L <= n; i += L) *reinterpret_cast<PackVec*>(d + i) = PackVec{};
  for (; i < n; ++i) d[i] = 0.0f;
}
void pb_copy(float* d, const float* s, int n) {
  constexpr int L = sizeof(PackVec) / sizeof(float);
  int i = 0;
  for (; i + L <= n; i += L) *reinterpret_cast<PackVec*>(d + i) = *reinterpret_cast<const PackVec*>(s + i);
  for (; i < n; ++i) d[i] = s[i];
}
