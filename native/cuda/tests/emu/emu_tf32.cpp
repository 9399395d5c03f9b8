// CPU emulation build of native/cuda/gemm_tf32.cu, with the wmma stand-in in mma.h here.
#include "../../gemm_tf32.cu"
