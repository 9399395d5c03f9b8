// CPU emulation build of native/cuda/gemm_fp32.cu (see cuda_runtime.h here).
#include "../../gemm_fp32.cu"
