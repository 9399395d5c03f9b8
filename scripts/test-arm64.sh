#!/usr/bin/env bash
# npm run test:arm64: the linux-arm64 build, tested on this x86-64 Debian/Ubuntu machine under qemu-user.
#  1. tools: g++-aarch64-linux-gnu and qemu-user-static (apt-get install when missing; root or sudo);
#  2. an arm64 Node.js: Debian's nodejs .deb and the .debs of its libraries (with libgomp1), fetched
#     by apt-get with a private state in the cache folder (the host's apt and dpkg setup, and its own
#     Node, stay untouched) and unpacked there with dpkg -x; qemu runs it with that folder as its
#     root (-L). Debian 13's Node 20.19 (Debian 12's Node 18 is too old for vitest);
#  3. the native test executable, cross-built, under qemu: every kernel set (neon, generic) and every
#     algorithm against the float64 reference;
#  4. the arm64 prebuild from the prebuildify script (--arch arm64), then the main vitest correctness
#     suites on it, run by the emulated Node in a staging copy whose node_modules holds the arm64
#     packages (vitest's native parts);
#  5. the packed tarball installed by the emulated Node's npm with --ignore-scripts and no compiler on
#     PATH: it must load prebuilds/linux-arm64 and compute the lecture's example with neon.
# Prints what it skipped, and "arm64: N passed, N failed". Under emulation speed means nothing.
# Environment: CHANNELCONV_ARM64_CACHE (default build-arm64/), CHANNELCONV_ARM64_SUITES (test files,
# space-separated), CHANNELCONV_SWEEP_CASES (native random sweep, default 200), CHANNELCONV_SEED.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=${CHANNELCONV_ARM64_CACHE:-$root/build-arm64}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
sysroot=$cache/sysroot
# Debian's current stable: its arm64 nodejs, libnode and libraries, and the GCC OpenMP runtime.
suite=trixie
debs=(nodejs libgomp1)
suites_default="test/lecture.test.ts test/conv.test.ts test/prepared.test.ts test/hostile.test.ts test/errors.test.ts test/native-direct.test.ts test/outputs.test.ts test/determinism.test.ts test/concurrency.test.ts test/workers.test.ts test/memory.test.ts test/package.test.ts test/loader.test.ts"
suites=${CHANNELCONV_ARM64_SUITES:-$suites_default}
seed=${CHANNELCONV_SEED:-$(( $(date +%s) % 1000000007 ))}
passed=0
failed=0
t_all=$SECONDS
phase() { echo; echo "== test:arm64: $* ($(( SECONDS - t_all ))s)"; }

# --- 1. tools --------------------------------------------------------------------------------------
phase "tools"
missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v dpkg-deb >/dev/null || missing+=(dpkg)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=$(command -v sudo || true)
  if [ "$(id -u)" != 0 ] && [ -z "$sudo" ]; then
    echo "test:arm64: needs ${missing[*]}: run apt-get install ${missing[*]} as root" >&2
    exit 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
qemu=(qemu-aarch64-static -L "$sysroot")

# --- 2. the arm64 Node.js and its libraries ---------------------------------------------------------
phase "arm64 Node.js from Debian's $suite .debs"
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$cache/debs"
: >"$apt_dir/status"
echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status" -o "Dir::Cache=$apt_dir"
  -o "Dir::Cache::archives=$apt_dir/archives" -o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o APT::Sandbox::User=root -q)
# The package index, refreshed once a day.
if [ -z "$(find "$apt_dir/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null)" ]; then
  apt-get "${apt_opts[@]}" update >/dev/null
fi
# The packages and, recursively, what they depend on (not recommends); <virtual> names dropped.
pkgs=$(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${debs[@]}" | grep -v '^[ <]' | sort -u)
want=$(apt-cache "${apt_opts[@]}" show --no-all-versions $pkgs | awk '/^Package:/{p=$2} /^Version:/{print p"="$2}' | sort)
if [ "$(cat "$sysroot/.debs" 2>/dev/null)" != "$want" ]; then
  rm -rf "$sysroot" "$cache/debs" && mkdir -p "$sysroot" "$cache/debs"
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" download $pkgs >/dev/null)
  for deb in "$cache"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  # Debian 13 is merged-/usr (base-files makes these links): the loader is /lib/ld-linux-aarch64.so.1.
  for d in lib bin sbin; do [ -e "$sysroot/$d" ] || ln -s "usr/$d" "$sysroot/$d"; done
  echo "$want" >"$sysroot/.debs"
fi
node_arm64=$sysroot/usr/bin/node
"${qemu[@]}" "$node_arm64" -e 'console.log(`emulated: Node ${process.version} ${process.platform}-${process.arch}`)'

# --- 3. native tests ---------------------------------------------------------------------------------
phase "native tests (cross-built, under qemu)"
toolchain=$root/cmake/aarch64-linux-gnu.cmake
cmake -S . -B "$cache/native" -G Ninja -DCHANNELCONV_CUDA=OFF -DCMAKE_TOOLCHAIN_FILE="$toolchain" >/dev/null
ninja -C "$cache/native" channelconv_tests >/dev/null
set +e
out=$("${qemu[@]}" "$cache/native/channelconv_tests" "$seed" 2>&1)
status=$?
set -e
echo "$out" | grep -v '^ok' | tail -n 40
read -r p f < <(node scripts/counts.js native "$status" <<<"$out")
passed=$(( passed + p )); failed=$(( failed + f ))
grep -q '^kernel set neon$' <<<"$out" || { echo "test:arm64: the native tests did not run the neon kernel set"; failed=$(( failed + 1 )); }

# --- 4. the arm64 prebuild and the vitest suites ---------------------------------------------------
phase "arm64 prebuild (scripts/prebuildify.js --arch arm64)"
node scripts/prebuildify.js --arch arm64
npm run --silent build:ts
prebuild=$root/prebuilds/linux-arm64/channelconv.glibc.node
readelf -h "$prebuild" | grep AArch64 >/dev/null

phase "vitest suites (emulated Node)"
stage=$cache/stage
mkdir -p "$stage"
lock_sum=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stage/.lock" 2>/dev/null)" != "$lock_sum" ]; then
  cp package.json package-lock.json "$stage/"
  # The arm64 variants of vitest's native packages (rolldown, lightningcss); nothing is built.
  (cd "$stage" && npm ci --ignore-scripts --cpu=arm64 --os=linux --libc=glibc --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" >"$stage/.lock"
fi
# A copy (not links: the addon is found relative to lib/), with the arm64 prebuild and no build/.
rm -rf "$stage/lib" "$stage/test" "$stage/dist" "$stage/bench" "$stage/prebuilds" "$stage/build"
cp -r lib test dist binding.d.ts tsconfig.json vitest.config.mts "$stage/"
mkdir -p "$stage/bench" && cp bench/*.js bench/shapes.json "$stage/bench/"  # the tests' helpers use bench/lib.js
mkdir -p "$stage/prebuilds/linux-arm64" && cp "$prebuild" "$stage/prebuilds/linux-arm64/"
report=$cache/vitest.json
rm -f "$report"
set +e
# vitest's default pool forks child Node processes, which qemu-user cannot start without binfmt_misc:
# one worker thread instead.
(cd "$stage" && CHANNELCONV_SEED=$seed "${qemu[@]}" "$node_arm64" node_modules/vitest/vitest.mjs run \
  --pool=threads --maxWorkers=1 --reporter=default --reporter=json --outputFile.json="$report" $suites)
status=$?
set -e
read -r p f < <(node scripts/counts.js vitest "$report" "$status" 2>"$cache/skipped.txt")
passed=$(( passed + p )); failed=$(( failed + f ))
grep -v '^skipped test: ' "$cache/skipped.txt" || true

# --- 5. the packed tarball, installed and loaded on arm64 --------------------------------------------
phase "the tarball on arm64: npm install --ignore-scripts by the emulated Node, no compiler on PATH"
inst=$cache/install
rm -rf "$inst" && mkdir -p "$inst/bin" "$inst/pack" "$inst/project"
# No prepack here: the prebuilds are already built; the tarball takes every one in prebuilds/.
npm pack --ignore-scripts --silent --pack-destination "$inst/pack" >/dev/null
tarball=$(ls "$inst"/pack/*.tgz)
tar -tzf "$tarball" | grep -x 'package/prebuilds/linux-arm64/channelconv.glibc.node' >/dev/null
# PATH: node (the emulated one) and sh, nothing else.
printf '#!/bin/sh\nexec %s -L %s %s "$@"\n' "$(command -v qemu-aarch64-static)" "$sysroot" "$node_arm64" >"$inst/bin/node"
chmod +x "$inst/bin/node"
ln -s "$(readlink -f /bin/sh)" "$inst/bin/sh"
npm_cli=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js")
echo '{"name":"arm64-consumer","version":"1.0.0","private":true}' >"$inst/project/package.json"
cat >"$inst/project/check.cjs" <<'EOF'
const cc = require('channelconv');
const y = cc.corr2dMultiIn(cc.tensor([[[0,1,2],[3,4,5],[6,7,8]],[[1,2,3],[4,5,6],[7,8,9]]]), cc.tensor([[[0,1],[2,3]],[[1,2],[3,4]]]));
const dir = require('path').dirname(require.resolve('channelconv/package.json'));
console.log(JSON.stringify({ y: Array.from(y.data), isa: cc.backendInfo().cpu.isa, arch: process.arch,
  binary: require('path').relative(dir, require('node-gyp-build').resolve(dir)) }));
EOF
set +e
(cd "$inst/project" && env -i PATH="$inst/bin" HOME="$inst" npm_config_cache="$(npm config get cache)" \
  npm_config_update_notifier=false "$inst/bin/node" "$npm_cli" install --ignore-scripts --prefer-offline \
  --no-audit --no-fund "$tarball") && \
got=$(cd "$inst/project" && env -i PATH="$inst/bin" HOME="$inst" "$inst/bin/node" check.cjs)
status=$?
set -e
want_json='{"y":[56,72,104,120],"isa":"neon","arch":"arm64","binary":"prebuilds/linux-arm64/channelconv.glibc.node"}'
echo "installed on arm64: ${got:-nothing}"
if [ $status -eq 0 ] && [ "$got" = "$want_json" ] && [ ! -e "$inst/project/node_modules/channelconv/build" ]; then
  passed=$(( passed + 1 ))
else
  echo "test:arm64: the installed tarball did not load its arm64 prebuild (exit $status), expected $want_json"
  failed=$(( failed + 1 ))
fi

# --- what was not run ----------------------------------------------------------------------------------
phase "done"
why() {
  case "$1" in
    test/bench.test.ts) echo "times the kernels: speed under emulation means nothing";;
    test/cpu.test.ts) echo "forces CHANNELCONV_ISA in child Node processes; the native tests above force every kernel set instead";;
    test/cuda.test.ts) echo "the arm64 prebuild has no CUDA kernels";;
    test/install.test.ts) echo "packs with prepack and installs on x64; step 5 above installs the tarball on arm64";;
    *) echo "time budget (about 10 minutes emulated)";;
  esac
}
echo "test:arm64: suites not run under emulation:"
for f in test/*.test.ts; do
  case " $suites " in *" $f "*) ;; *) echo "  $f: $(why "$f")";; esac
done
if grep -q '^skipped test: ' "$cache/skipped.txt"; then
  echo "test:arm64: tests skipped inside the suites run (they start a child Node: qemu-user without binfmt_misc cannot exec the arm64 binary):"
  sed -n 's/^skipped test: /  /p' "$cache/skipped.txt"
fi
echo "test:arm64: seed $seed, $(( SECONDS - t_all ))s"
echo "arm64: $passed passed, $failed failed"
[ "$failed" = 0 ]
