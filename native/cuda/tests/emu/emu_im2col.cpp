// CPU emulation build of native/cuda/im2col.cu (see cuda_runtime.h here).
#include "../../im2col.cu"
