// The TF32 kernels use wmma, which the CPU emulation does not model; the emulated device reports
// compute capability 7.5, so the launcher never calls these.
#include <cstdlib>

#include "../../kernels.cuh"

namespace cc {
namespace cuda {
void launch_tf32(const GemmProblem&, const DenseB&, cudaStream_t) { std::abort(); }
void launch_tf32(const GemmProblem&, const ImplicitB&, cudaStream_t) { std::abort(); }
}  // namespace cuda
}  // namespace cc
