// CPU emulation build of native/cuda/reduce.cu (see cuda_runtime.h here).
#include "../../reduce.cu"
