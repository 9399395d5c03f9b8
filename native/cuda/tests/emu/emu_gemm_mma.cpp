// CPU emulation build of native/cuda/gemm_mma.cu, with the wmma stand-in in mma.h here.
#include "../../gemm_mma.cu"
