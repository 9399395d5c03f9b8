// CPU emulation build of the CUDA benchmark: only to check that it runs and writes valid JSON.
#include "../../bench/cuda_bench.cu"
