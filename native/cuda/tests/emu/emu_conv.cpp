// CPU emulation build of native/cuda/conv.cu (see cuda_runtime.h here).
#include "../../conv.cu"
