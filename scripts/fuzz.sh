#!/usr/bin/env bash
# Bounded libFuzzer run over the planner and the CPU conv (native/fuzz/fuzz_conv.cpp), built with
# clang -fsanitize=fuzzer,address,undefined into build-fuzz/. Seeds: native/fuzz/corpus/ (read only;
# new inputs go to build-fuzz/corpus/). A crash leaves its input in build-fuzz/crash-* and fails.
#   FUZZ_SECONDS   run time (default 60)
#   FUZZ_REQUIRED  1: fail when clang or its libFuzzer/OpenMP runtimes are missing (default: skip)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
skip() {
  echo "fuzz: SKIPPED: $*"
  if [ "${FUZZ_REQUIRED:-0}" = 1 ]; then exit 1; fi
  exit 0
}
cxx="$(command -v clang++ || command -v clang++-14 || true)"
[ -n "$cxx" ] || skip "clang++ not found (apt-get install -y clang libomp-14-dev)"
cc_="$(command -v clang || command -v clang-14 || true)"
# libFuzzer and OpenMP runtimes: a one-line program must link with both.
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf '#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' > "$probe/p.cpp"
"$cxx" -fsanitize=fuzzer "$probe/p.cpp" -o "$probe/p" 2>"$probe/err" || skip "clang cannot link libFuzzer: $(head -c 300 "$probe/err")"
printf '#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n' > "$probe/o.cpp"
"$cxx" -fopenmp "$probe/o.cpp" -o "$probe/o" 2>"$probe/err" || skip "clang has no OpenMP runtime (apt-get install -y libomp-14-dev): $(head -c 300 "$probe/err")"

cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc_" \
  -DCHANNELCONV_FUZZ=ON -DCHANNELCONV_SANITIZE=address,undefined,fuzzer-no-link >/dev/null
cmake --build build-fuzz --target channelconv_fuzz -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
mkdir -p build-fuzz/corpus
echo "fuzz: build-fuzz/channelconv_fuzz for ${seconds}s, seeds native/fuzz/corpus ($(ls native/fuzz/corpus | wc -l) files)"
# OMP threads: libFuzzer runs one input at a time; 2 threads still exercises the parallel path.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" OMP_WAIT_POLICY=passive
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
./build-fuzz/channelconv_fuzz -max_total_time="$seconds" -max_len=128 -timeout=20 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix=build-fuzz/ build-fuzz/corpus native/fuzz/corpus
