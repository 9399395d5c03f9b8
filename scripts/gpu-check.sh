#!/usr/bin/env bash
# One prepared run for a lent GPU machine (no Node there): builds the native CUDA tests and
# benchmark with plain CMake, runs the tests (a random sweep of every direction), the benchmark,
# PyTorch/cuDNN on the same shapes and directions (printing ratios), then compute-sanitizer memcheck
# on a short sweep. Logs and JSON go to $OUT (the device tool's folder) or ./gpu-check-out.
# Budget: every step is cut to what is left of GPU_CHECK_BUDGET seconds (default 330), so two runs
# and two machine starts fit in 15 minutes of device time.
# Usage (device tool): command `bash scripts/gpu-check.sh`, timeout_s 420. See docs/GPU.md.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
LOG="$OUT/gpu-check.log"
T0=$(date +%s)
BUDGET="${GPU_CHECK_BUDGET:-330}"
stamp() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }
# Seconds a step may take: its own cap, or what is left of the budget if less (0: skip the step).
allow() {
  local left=$(( BUDGET - ($(date +%s) - T0) ))
  if [ "$left" -lt 15 ]; then echo 0; elif [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
# step CAP NAME: prints the header; returns 1 (skip) when the budget is spent, else sets $T.
step() {
  T=$(allow "$1")
  if [ "$T" -eq 0 ]; then stamp "SKIPPED (budget of ${BUDGET}s spent): $2"; return 1; fi
  stamp "$2 (timeout ${T}s)"
}

main() {
status=0
stamp "machine"
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv || true
nvcc --version | tail -2 || true
cmake --version | head -1 || true

BUILD=build-gpu
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
# Machine code for this GPU only (every shipped architecture is compiled, warning-free, where the
# addon is built); nvcc compiles its parts in parallel.
ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
ARCH="${ARCH:-90}"
step 180 "build (cmake, Release, sm_$ARCH)"
if cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DCHANNELCONV_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH-real" \
     -DCMAKE_CUDA_FLAGS=--threads=0 > "$OUT/cmake-configure.log" 2>&1 &&
   timeout "$T" cmake --build "$BUILD" -j "$(nproc)" --target channelconv_cuda_tests channelconv_cuda_bench > "$OUT/cmake-build.log" 2>&1; then
  TESTS="$BUILD/channelconv_cuda_tests"; BENCH="$BUILD/channelconv_cuda_bench"
else
  echo "cmake build failed (logs: cmake-configure.log, cmake-build.log); tail:"
  tail -n 20 "$OUT/cmake-configure.log" "$OUT/cmake-build.log"
  # Fallback: the CPU core with CMake alone (no CUDA language needed), the CUDA sources with nvcc
  # directly.
  step 180 "fallback build: core with cmake (CUDA off), kernels with nvcc -arch=sm_$ARCH" || return 2
  CORE=build-gpu-core
  FLAGS="-std=c++17 -O3 -arch=sm_$ARCH -Inative -I$CORE/generated -DCHANNELCONV_HAS_CUDA"
  LIBS="$CORE/libchannelconv_core.a -Xcompiler=-fopenmp -lgomp"
  KERNELS=$(ls native/cuda/*.cu)
  mkdir -p "$BUILD"
  { cmake -S . -B "$CORE" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DCHANNELCONV_CUDA=OFF > "$OUT/cmake-core.log" 2>&1 &&
    timeout "$T" cmake --build "$CORE" -j "$(nproc)" --target channelconv_core >> "$OUT/cmake-core.log" 2>&1 &&
    timeout "$T" nvcc $FLAGS $KERNELS native/cuda/tests/cuda_tests.cpp $LIBS -o "$BUILD/channelconv_cuda_tests" &&
    timeout "$T" nvcc $FLAGS $KERNELS native/cuda/bench/cuda_bench.cu $LIBS -o "$BUILD/channelconv_cuda_bench"; } ||
    { echo "fallback build failed (cmake-core.log)"; return 2; }
  TESTS="$BUILD/channelconv_cuda_tests"; BENCH="$BUILD/channelconv_cuda_bench"
fi
stamp "built"

SEED=$(date +%s)
if step 90 "native CUDA tests: seed $SEED, 13 fixed and 150 random shapes, every direction"; then
  timeout "$T" "$TESTS" "$SEED" 150 | tee "$OUT/cuda-tests.log" | grep -v '^$' | tail -40
  rc=${PIPESTATUS[0]}
  echo "cuda tests exit $rc"; [ "$rc" -eq 0 ] || status=1
  if grep -q "SKIPPED" "$OUT/cuda-tests.log"; then echo "no usable GPU: stopping"; return 3; fi
fi

if step 90 "native CUDA benchmark (forward, backward-data, backward-weights; fp32, tf32, bf16)"; then
  timeout "$T" "$BENCH" --json "$OUT/cuda_bench.json" --reps 10 | tee "$OUT/cuda-bench.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if step 90 "PyTorch cuDNN on the same shapes and directions (fp32, TF32, bf16), ratios"; then
  timeout "$T" python3 scripts/gpu_torch_bench.py --ours "$OUT/cuda_bench.json" --json "$OUT/torch_bench.json" --reps 10 |
    tee "$OUT/torch-bench.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if command -v compute-sanitizer >/dev/null && step 60 "compute-sanitizer memcheck (seed $SEED, the fixed shapes and 2 random ones)"; then
  timeout "$T" compute-sanitizer --tool memcheck --leak-check no "$TESTS" "$SEED" 2 > "$OUT/memcheck.log" 2>&1
  echo "memcheck exit $? (0 = clean, 124 = cut by the timeout); summary:"
  grep -E "ERROR SUMMARY|passed, .* failed" "$OUT/memcheck.log" | tail -3
fi

stamp "done (exit $status); files in $OUT"
ls -la "$OUT"
return $status
}

# Everything to the terminal and to $OUT/gpu-check.log (a plain pipe: the log is complete on exit).
main 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
