#!/usr/bin/env node
// npm test: brings the build up to date, runs the native test executable and the vitest suites, and
// ends with the plain line "N passed, N failed" that CI reads (vitest's own summary is not read).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { nativeCounts, vitestCounts } = require('./counts');

const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });

let passed = 0;
let failed = 0;

function step(name, cmd, args) {
  const r = run(cmd, args);
  if (r.status !== 0) {
    console.error(`\n${name} failed (exit ${r.status})`);
    failed += 1;
    return false;
  }
  return true;
}

// test/install.test.ts packs the package, and packing cross-compiles the linux-arm64 prebuild: bring
// Debian's cross compiler when it is missing and apt-get can (as root), as .ci/run does; otherwise
// npm pack says what to install.
function ensureCrossCompiler() {
  const onPath = (name) => (process.env.PATH || '').split(path.delimiter).some((d) => fs.existsSync(path.join(d, name)));
  if (process.platform !== 'linux' || process.arch !== 'x64' || onPath('aarch64-linux-gnu-g++')) return;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0 || !onPath('apt-get')) return;
  console.log('npm test: installing g++-aarch64-linux-gnu (the arm64 prebuild that npm pack builds)');
  run('sh', ['-c', 'timeout 300 apt-get update -qq >/dev/null; timeout 600 apt-get install -y -qq g++-aarch64-linux-gnu >/dev/null']);
}
ensureCrossCompiler();

const built = step('native build', bin('cmake-js'), ['build', '--log-level', 'warn']) &&
  step('TypeScript build', 'npm', ['run', '--silent', 'build:ts']);

// A native test executable: runs it and counts its own "N passed, N failed" line; a crash, or a
// failure without that line, counts as one failure. Returns its stdout.
function native(file, args) {
  const r = spawnSync(file, args, { cwd: root, encoding: 'utf8' });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  const c = nativeCounts(r.stdout, r.status);
  passed += c.passed;
  failed += c.failed;
  return r.stdout;
}
const seedArgs = process.argv.slice(2).filter((a) => /^\d+$/.test(a));

const nativeExe = path.join(root, 'build', 'channelconv_tests');
if (built && fs.existsSync(nativeExe)) {
  native(nativeExe, seedArgs);
} else if (built) {
  console.error(`native test executable missing: ${nativeExe}`);
  failed += 1;
}

// Native CUDA tests: channelconv_cuda_tests (built when nvcc was found; without a GPU it prints a
// SKIPPED line and "0 passed, 0 failed", reported here) and channelconv_cuda_emu_tests (the same
// tests, fp32 kernels run on the CPU through a CUDA stand-in; 12 random shapes to keep it short).
for (const [exe, extra] of [['channelconv_cuda_tests', []], ['channelconv_cuda_emu_tests', ['12']]]) {
  const file = path.join(root, 'build', exe);
  if (!built || !fs.existsSync(file)) continue;
  const args = seedArgs.length || extra.length ? [seedArgs[0] || String(Date.now() % 1000000007), ...extra] : [];
  const skip = /cuda tests: SKIPPED \((.*)\)/.exec(native(file, args));
  if (skip) console.log(`native CUDA tests skipped: ${skip[1]}`);
}

if (built) {
  const json = path.join(os.tmpdir(), `channelconv-vitest-${process.pid}.json`);
  const vitestArgs = ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${json}`];
  const r = run(bin('vitest'), vitestArgs.concat(process.argv.slice(2).filter((a) => !/^\d+$/.test(a))));
  const c = vitestCounts(json, r.status);
  if (c.error) console.error(c.error);
  passed += c.passed;
  failed += c.failed;
  fs.rmSync(json, { force: true });
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
