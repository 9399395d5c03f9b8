#!/usr/bin/env bash
# npm run test:no-openmp: the source build without OpenMP, compiled by clang (CXX, default clang++)
# with CHANNELCONV_OPENMP=OFF into build-noomp/ (the development build in build/ is left alone): the
# native test executable, then the vitest suites on that addon from a staging copy of the package
# whose build/Release holds it. Checks that the addon reports the std::thread pool and honours
# OMP_NUM_THREADS. Prints what it skipped and "no-openmp: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-noomp
cxx=${CXX:-clang++}
suites=${CHANNELCONV_NOOMP_SUITES:-"test/lecture.test.ts test/conv.test.ts test/prepared.test.ts test/hostile.test.ts test/errors.test.ts test/native-direct.test.ts test/outputs.test.ts test/concurrency.test.ts test/workers.test.ts test/determinism.test.ts test/cpu.test.ts test/memory.test.ts"}
passed=0
failed=0
t0=$SECONDS
command -v "$cxx" >/dev/null || { echo "test:no-openmp: $cxx not found (apt-get install clang)" >&2; exit 1; }

echo "== test:no-openmp: addon and native tests with $cxx, CHANNELCONV_OPENMP=OFF"
CXX=$cxx CHANNELCONV_OPENMP=OFF node node_modules/cmake-js/bin/cmake-js build --directory "$root" --out "$out" \
  --log-level warn --target channelconv --CDCHANNELCONV_OPENMP=OFF --CDCHANNELCONV_CUDA=OFF
grep -E '^CMAKE_CXX_COMPILER:' "$out/CMakeCache.txt"
cmake --build "$out" --target channelconv_tests -- -j2 >/dev/null
set +e
res=$("$out/channelconv_tests" 2>&1)
status=$?
set -e
grep -v '^ok' <<<"$res" | tail -n 40
read -r p f < <(node scripts/counts.js native "$status" <<<"$res")
passed=$(( passed + p )); failed=$(( failed + f ))

echo "== test:no-openmp: vitest suites on that addon"
npm run --silent build:ts
stage=$out/stage
rm -rf "$stage" && mkdir -p "$stage/build/Release"
cp -r lib test dist binding.d.ts tsconfig.json vitest.config.mts package.json "$stage/"
mkdir -p "$stage/bench" && cp bench/*.js bench/shapes.json "$stage/bench/"  # the tests' helpers use bench/lib.js
ln -s "$root/node_modules" "$stage/node_modules"
cp "$out/Release/channelconv.node" "$stage/build/Release/"
# The runtime and the budget, from the staged package: the pool, and OMP_NUM_THREADS honoured.
info=$(cd "$stage" && OMP_NUM_THREADS=3 node -e '
  const cc = require("./dist/index.js"); const i = cc.backendInfo();
  console.log(JSON.stringify({ parallel: i.cpu.parallel, threads: i.cpu.threads }));')
echo "backendInfo (OMP_NUM_THREADS=3): $info"
if [ "$info" = '{"parallel":"threads","threads":3}' ]; then passed=$(( passed + 1 )); else
  echo 'test:no-openmp: expected {"parallel":"threads","threads":3}'; failed=$(( failed + 1 )); fi
report=$out/vitest.json
rm -f "$report"
set +e
(cd "$stage" && node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile.json="$report" $suites)
status=$?
set -e
read -r p f < <(node scripts/counts.js vitest "$report" "$status")
passed=$(( passed + p )); failed=$(( failed + f ))
skipped=()
for f in test/*.test.ts; do case " $suites " in *" $f "*) ;; *) skipped+=("$f");; esac; done
echo "test:no-openmp: suites not run (packaging, GPU, speed and memory-limit suites run on the default build in npm test): ${skipped[*]:-none}"
echo "test:no-openmp: $(( SECONDS - t0 ))s"
echo "no-openmp: $passed passed, $failed failed"
[ "$failed" = 0 ]
