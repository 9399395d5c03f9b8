// The fp32 micro-kernel's two entries of a kernel set (KernelSet::ukernel, ukernel_rows), written once
// and included by each kernel file inside its anonymous namespace after it defines
//   template <bool kOffsets> ukernel_t(kc, a, b, offs, c, rs, cs, m, n, bias, flags):
// C[m x n] (op)= A-panel [kc][MR] * B [kc][NR], B packed (kOffsets false) or row k read in place at
// b + offs[k] (KernelSet::ukernel_rows, NCHW output: cs = 1).

void ukernel(int64_t kc, const float* a, const float* b, float* c, int64_t rs, int64_t cs, int m, int n,
             const float* bias, int flags) {
  ukernel_t<false>(kc, a, b, nullptr, c, rs, cs, m, n, bias, flags);
}
void ukernel_rows(int64_t kc, const float* a, const float* b, const int64_t* offs, float* c, int64_t rs, int m, int n,
                  const float* bias, int flags) {
  ukernel_t<true>(kc, a, b, offs, c, rs, 1, m, n, bias, flags);
}
