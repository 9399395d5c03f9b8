// pb_pairs and pb_round of gemm_bf16.inl from ops.h's portable loops, for a kernel file that has
// nothing faster; included inside its anonymous namespace, before gemm_bf16.inl.

void pb_pairs(Bf16Pair* d, const float* s0, const float* s1, int64_t inc, int n) { pairs_portable(d, s0, s1, inc, n); }
void pb_round(float* d, const float* s, int n) { round_portable(d, s, n); }
