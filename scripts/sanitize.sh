#!/usr/bin/env bash
# Native test executable under a memory checker, built with plain cmake (no cmake-js: the addon is
# not built) into its own directory.
#   scripts/sanitize.sh asan      ASan + UBSan (g++), halt on the first error          -> build-asan/
#   scripts/sanitize.sh valgrind  valgrind memcheck on an unsanitized -O2 -g build     -> build-valgrind/
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
    flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
    configure_and_build build-asan -DCMAKE_CXX_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
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
  *)
    echo "usage: $0 asan|valgrind" >&2; exit 2 ;;
esac
