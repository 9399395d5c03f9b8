#!/usr/bin/env bash
# Native test executable under a memory checker, built with plain cmake (no cmake-js: the addon is
# not built) into its own directory.
#   scripts/sanitize.sh asan      ASan + UBSan (g++), halt on the first error          -> build-asan/
#   scripts/sanitize.sh valgrind  valgrind memcheck on an unsanitized -O2 -g build     -> build-valgrind/
#   scripts/sanitize.sh addon     the Node addon itself built with ASan + UBSan, and the vitest suites
#                                 run against it (libasan preloaded into node)         -> build-asan-addon/
# Env: CHANNELCONV_SEED (default: random, printed), CHANNELCONV_SWEEP_CASES (random-sweep size;
# default 300 for asan, 150 for valgrind, which runs ~50x slower).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-asan}"
seed="${CHANNELCONV_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
jobs="$(nproc 2>/dev/null || echo 2)"

configure_and_build() {  # dir, extra cmake args...
  local dir="$1"; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" --target channelconv_tests -j "$jobs" >/dev/null
}

case "$mode" in
  asan)
    configure_and_build build-asan -DCHANNELCONV_SANITIZE=address,undefined
    # detect_leaks: LeakSanitizer too. libgomp's thread pool is not a leak: it lives until exit.
    export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    export CHANNELCONV_SWEEP_CASES="${CHANNELCONV_SWEEP_CASES:-300}"
    echo "ASan+UBSan: build-asan/channelconv_tests $seed (sweep $CHANNELCONV_SWEEP_CASES)"
    ./build-asan/channelconv_tests "$seed"
    ;;
  valgrind)
    command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install -y valgrind)"; exit 1; }
    configure_and_build build-valgrind
    export CHANNELCONV_SWEEP_CASES="${CHANNELCONV_SWEEP_CASES:-150}"
    echo "valgrind memcheck: build-valgrind/channelconv_tests $seed (sweep $CHANNELCONV_SWEEP_CASES)"
    # Leaks: only "definitely lost" fails; libgomp keeps its threads' stacks until exit ("possibly").
    OMP_WAIT_POLICY=passive valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
      --show-leak-kinds=definite --track-origins=yes --quiet ./build-valgrind/channelconv_tests "$seed"
    ;;
  addon)
    # No nvcc kernels (no GPU here); the emulated-CUDA addon (build/cuda-emu) is built and tested.
    CHANNELCONV_CUDA=OFF npx cmake-js build --out build-asan-addon/cmake --log-level warn \
      --CDCHANNELCONV_SANITIZE=address,undefined >/dev/null
    # The check that this addon is instrumented (an uninstrumented one would pass every test below).
    nm -D build-asan-addon/cmake/Release/channelconv.node | grep __asan_init >/dev/null \
      || { echo "ASan+UBSan addon: build-asan-addon/cmake/Release/channelconv.node is not instrumented"; exit 1; }
    npm run --silent build:ts
    # A staged copy of the package whose build/Release holds the sanitized addon (the tests load the
    # addon relative to their own directory).
    pkg=build-asan-addon/pkg
    rm -rf "$pkg" && mkdir -p "$pkg/build/Release" "$pkg/build/cuda-emu"
    cp -r lib test dist bench native package.json binding.d.ts vitest.config.mts tsconfig.json "$pkg/"
    ln -s ../../node_modules "$pkg/node_modules"
    cp build-asan-addon/cmake/Release/channelconv.node "$pkg/build/Release/"
    cp build-asan-addon/cmake/cuda-emu/channelconv.node "$pkg/build/cuda-emu/"
    cd "$pkg"
    # Node itself is not instrumented and keeps memory until exit: no leak check. Excluded: the
    # ulimit -v test (ASan reserves terabytes of address space), and the suites about the package,
    # the build, the demos (the LeNet example trains a network; its calls are the backward suite's),
    # the benchmarks and the README, which need files this staged copy does not have.
    files=$(ls test/*.test.ts | grep -v -e oom.test.ts -e package.test.ts -e install.test.ts \
      -e demo.test.ts -e lenet.test.ts -e cuda.test.ts -e bench.test.ts -e loader.test.ts -e readme.test.ts)
    echo "ASan+UBSan addon: vitest $(echo $files | wc -w) files against $pkg/build/Release/channelconv.node"
    LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)" \
      ASAN_OPTIONS="detect_leaks=0:halt_on_error=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
      CHANNELCONV_SEED="$seed" ./node_modules/.bin/vitest run $files
    ;;
  *)
    echo "usage: $0 asan|valgrind|addon" >&2; exit 2 ;;
esac
