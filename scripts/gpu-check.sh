#!/usr/bin/env bash
# One prepared run for a lent GPU machine (no Node there): builds the native CUDA tests and
# benchmark with plain CMake, runs the tests (a large random sweep, then compute-sanitizer memcheck
# on a short one where it works), the benchmark, and PyTorch/cuDNN on the same shapes, printing
# ratios. Logs and JSON go to $OUT (the device tool's folder) or ./gpu-check-out. Budget: < 8 min.
# Usage (device tool): command `bash scripts/gpu-check.sh`, timeout_s 540. See docs/GPU.md.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
LOG="$OUT/gpu-check.log"
T0=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }

main() {
status=0
stamp "machine"
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv || true
nvcc --version | tail -2 || true
cmake --version | head -1 || true

stamp "build (cmake, Release, default architectures)"
BUILD=build-gpu
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
if cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DCHANNELCONV_CUDA=ON > "$OUT/cmake-configure.log" 2>&1 &&
   timeout 240 cmake --build "$BUILD" -j "$(nproc)" --target channelconv_cuda_tests channelconv_cuda_bench channelconv_tests > "$OUT/cmake-build.log" 2>&1; then
  TESTS="$BUILD/channelconv_cuda_tests"; BENCH="$BUILD/channelconv_cuda_bench"
else
  echo "cmake build failed (logs: cmake-configure.log, cmake-build.log); tail:"
  tail -20 "$OUT/cmake-configure.log" "$OUT/cmake-build.log"
  # Fallback: nvcc directly, sm_90 only (the core's OpenMP pragmas compile as plain loops without -fopenmp).
  stamp "fallback build with nvcc -arch=sm_90"
  mkdir -p "$BUILD"
  SRC="native/core/shape.cpp native/core/threads.cpp native/core/layout.cpp native/core/im2col.cpp native/core/conv.cpp native/core/reference.cpp native/cpu/gemm_generic.cpp native/cuda/conv.cu native/cuda/im2col.cu native/cuda/gemm_fp32.cu native/cuda/gemm_tf32.cu native/cuda/depthwise.cu"
  FLAGS="-std=c++17 -O3 -arch=sm_90 -Inative -DCHANNELCONV_HAS_CUDA -Xcompiler=-fopenmp -lgomp"
  timeout 240 nvcc $FLAGS $SRC native/cuda/tests/cuda_tests.cpp -o "$BUILD/channelconv_cuda_tests" &&
  timeout 240 nvcc $FLAGS $SRC native/cuda/bench/cuda_bench.cu -o "$BUILD/channelconv_cuda_bench" || { echo "fallback build failed"; return 2; }
  TESTS="$BUILD/channelconv_cuda_tests"; BENCH="$BUILD/channelconv_cuda_bench"
fi
stamp "built"

SEED=$(date +%s)
stamp "native CUDA tests: seed $SEED, 300 random shapes"
timeout 150 "$TESTS" "$SEED" 300 | tee "$OUT/cuda-tests.log" | grep -v '^$' | tail -40
rc=${PIPESTATUS[0]}
echo "cuda tests exit $rc"; [ "$rc" -eq 0 ] || status=1
if grep -q "SKIPPED" "$OUT/cuda-tests.log"; then echo "no usable GPU: stopping"; return 3; fi

if command -v compute-sanitizer >/dev/null; then
  stamp "compute-sanitizer memcheck (seed $SEED, 8 random shapes)"
  timeout 90 compute-sanitizer --tool memcheck --leak-check no "$TESTS" "$SEED" 8 > "$OUT/memcheck.log" 2>&1
  echo "memcheck exit $? (0 = clean); summary:"; grep -E "ERROR SUMMARY|passed, .* failed" "$OUT/memcheck.log" | tail -3
fi

stamp "native CUDA benchmark"
timeout 150 "$BENCH" --json "$OUT/cuda_bench.json" --reps 20 | tee "$OUT/cuda-bench.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

stamp "PyTorch cuDNN on the same shapes (fp32 with TF32 off, and TF32 on), ratios"
timeout 150 python3 scripts/gpu_torch_bench.py --ours "$OUT/cuda_bench.json" --json "$OUT/torch_bench.json" --reps 20 |
  tee "$OUT/torch-bench.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

stamp "done (exit $status); files in $OUT"
ls -la "$OUT"
return $status
}

# Everything to the terminal and to $OUT/gpu-check.log (a plain pipe: the log is complete on exit).
main 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
