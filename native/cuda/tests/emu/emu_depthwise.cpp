// CPU emulation build of native/cuda/depthwise.cu (see cuda_runtime.h here).
#include "../../depthwise.cu"
