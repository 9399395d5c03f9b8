// Shared by scripts/bench.js and bench/peers/run.js: the benchmark shapes, statistics, formatting.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');

// NCHW, float32: the one shape table (bench/shapes.json; CMake turns it into the native suites' header).
const SHAPES = require('./shapes.json').filter((s) => !s.gpuOnly);

for (const s of SHAPES) {
  s.OH = Math.floor((s.H + 2 * s.pad - s.KH) / s.stride) + 1;
  s.OW = Math.floor((s.W + 2 * s.pad - s.KW) / s.stride) + 1;
  s.macs = s.N * s.Cout * (s.C / s.groups) * s.KH * s.KW * s.OH * s.OW;
  s.flops = 2 * s.macs;
  s.inputShape = [s.N, s.C, s.H, s.W];
  s.weightShape = [s.Cout, s.C / s.groups, s.KH, s.KW];
  s.outputShape = [s.N, s.Cout, s.OH, s.OW];
  s.options = { stride: s.stride, padding: s.pad, groups: s.groups };
}

/** Shapes named in a comma list ("S1,S3"); all when the list is empty. An unknown id: fail(message), the caller's usage error (which exits). */
function selectShapes(list, fail) {
  if (!list) return SHAPES.slice();
  return list.split(',').filter(Boolean).map((id) => {
    const s = SHAPES.find((x) => x.id === id.trim().toUpperCase());
    if (!s) fail(`unknown shape ${id} (known: ${SHAPES.map((x) => x.id).join(', ')})`);
    return s;
  });
}

function median(xs) {
  const a = xs.slice().sort((p, q) => p - q);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : 0.5 * (a[m - 1] + a[m]);
}

/** Seeded uniform [-1, 1) floats (mulberry32). */
function randomFloats(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    a[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return a;
}

/**
 * The order in which n contenders take their turns in round `round`: a permutation of 0..n-1, a new
 * one each round, seeded by the round (the same orders in every run). A fixed rotation would keep
 * each contender behind the same predecessor, and a predecessor's after-effects then land on one
 * contender only: in bench:peers, the fresh output of S5 cost page faults systematically to whichever
 * contender followed a given other one (docs/PERF.md, "S5 at 2 threads").
 */
function roundOrder(n, round) {
  const order = Array.from({ length: n }, (_, i) => i);
  const r = randomFloats(n, 0x9e3779b9 ^ round);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(((r[i] + 1) / 2) * (i + 1)));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** max |a - b| / max(1, max |b|); NaN anywhere gives Infinity. */
function relError(a, b) {
  if (a.length !== b.length) return Infinity;
  let scale = 1;
  let err = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= err)) err = Number.isNaN(e) ? Infinity : e;
  }
  return err / scale;
}

/** x [batch][A][B][C] -> [batch][C][B][A]: the one layout permutation (as native/core/layout.h). */
function swapOuterInner(x, A, B, C, batch = 1) {
  const y = new Float32Array(x.length);
  const per = A * B * C;
  for (let n = 0; n < batch; n++)
    for (let a = 0; a < A; a++)
      for (let b = 0; b < B; b++)
        for (let c = 0; c < C; c++) y[n * per + (c * B + b) * A + a] = x[n * per + (a * B + b) * C + c];
  return y;
}
/** [N, C, H, W] -> [N, H, W, C]. */
const nchwToNhwc = (x, N, C, H, W) => swapOuterInner(x, C, 1, H * W, N);
/** [N, H, W, C] -> [N, C, H, W]. */
const nhwcToNchw = (y, N, C, H, W) => swapOuterInner(y, H * W, 1, C, N);
/** [O, I, KH, KW] -> [KH, KW, I, O]. */
const oihwToHwio = (w, O, I, KH, KW) => swapOuterInner(w, O, I, KH * KW);
/** [KH, KW, I, O] -> [O, I, KH, KW]. */
const hwioToOihw = (w, O, I, KH, KW) => swapOuterInner(w, KH * KW, I, O);

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

/** Default thread count, as the addon decides it (OMP_NUM_THREADS, else the usable cores). */
function defaultThreads() {
  return require('..').backendInfo().cpu.threads;
}

/** Fixed-width text table; numbers right-aligned. */
function table(header, rows) {
  const cells = [header, ...rows].map((r) => r.map((c) => String(c)));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const right = header.map((_, i) => rows.every((r) => typeof r[i] === 'number' || /^[-\d.,×x%µ ()<>~]+(ms|us|µs|%|×)?$/.test(String(r[i]))));
  const line = (r) => r.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** A time in ms, printed in µs below 0.1 ms. */
function fmtTime(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'n/a';
  if (ms < 0.1) return `${(ms * 1e3).toFixed(ms < 0.01 ? 3 : 2)} µs`;
  if (ms < 10) return `${ms.toFixed(3)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/** Progress on stderr, only when it is a terminal. */
function progress(msg) {
  if (!process.stderr.isTTY) return;
  process.stderr.write(`\r\x1b[K${msg}`);
}
progress.done = () => {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
};

// Brings the native build and the TypeScript output up to date (cmake-js build is incremental); build
// logs go to stderr so stdout carries only the report.
function build() {
  const cmakeJs = path.join(root, 'node_modules', '.bin', 'cmake-js');
  progress('building (cmake-js build)');
  const r = spawnSync(cmakeJs, ['build', '--log-level', 'warn'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    progress.done();
    process.stderr.write(`${r.stdout || ''}${r.stderr || ''}`);
    throw new Error('native build failed (cmake-js build)');
  }
  const dist = path.join(root, 'dist', 'index.js');
  const libDir = path.join(root, 'lib');
  const stale = !fs.existsSync(dist) ||
    fs.readdirSync(libDir).some((f) => fs.statSync(path.join(libDir, f)).mtimeMs > fs.statSync(dist).mtimeMs);
  if (stale) {
    progress('building (TypeScript)');
    const t = spawnSync('npm', ['run', '--silent', 'build:ts'], { cwd: root, encoding: 'utf8' });
    if (t.status !== 0) {
      progress.done();
      process.stderr.write(`${t.stdout || ''}${t.stderr || ''}`);
      throw new Error('TypeScript build failed (npm run build:ts)');
    }
  }
  progress.done();
}

/**
 * How many calls make one timed sample, as the native suite decides it: a sample lasts at least
 * `minSampleMs` (50 µs), so a tiny call is timed as the mean of a batch, which keeps the clock and
 * whatever ran just before it (another library, a cold cache) from dominating the per-call figure.
 * First untimed calls for at least `warmupMs` (always at least one), so that the JIT, caches and
 * thread pools settle; then the batch grows until the shortest of three batches lasts `minSampleMs`.
 * Shortest, because on a busy machine noise (a lost time slice) only ever lengthens a batch. A call
 * of `minSampleMs` or more (its fastest warm-up run) is a sample on its own. `call` is awaited when
 * `isAsync`. Returns { calls, perCallMs }.
 */
async function sizeBatch(call, isAsync, { warmupMs, minSampleMs = 0.05, maxCalls = 100000, clock = now }) {
  const batch = async (n) => {
    const t0 = clock();
    if (isAsync) for (let i = 0; i < n; i++) await call();
    else for (let i = 0; i < n; i++) call();
    return clock() - t0;
  };
  let fastest = Infinity;
  const w0 = clock();
  do fastest = Math.min(fastest, await batch(1));
  while (clock() - w0 < warmupMs);
  if (fastest >= minSampleMs) return { calls: 1, perCallMs: fastest };
  let calls = Math.max(1, Math.floor(minSampleMs / Math.max(fastest, 1e-9)));
  for (;;) {
    const ms = Math.min(await batch(calls), await batch(calls), await batch(calls));
    if (ms >= minSampleMs || calls >= maxCalls) return { calls, perCallMs: ms / calls };
    calls = Math.min(maxCalls, Math.max(calls + 1, Math.ceil((calls * 1.05 * minSampleMs) / ms)));
  }
}

/** The --shapes part of both help texts: every shape id of bench/shapes.json with its layer. */
function shapesHelp(indent) {
  const count = (n) => (n >= 1e9 ? `${(n / 1e9).toPrecision(3)} G` : n >= 1e6 ? `${(n / 1e6).toPrecision(3)} M` : `${n}`);
  return SHAPES.map((s) => `${indent}${s.id}  ${s.name} (${count(s.macs)} multiply-adds)`).join('\n');
}

// Command-line options shared by `npm run bench` and `npm run bench:peers`: `flags` are booleans
// (--quick), `values` take one argument (--json FILE or --json=FILE); --help prints `usage`, which
// must explain every option (checked here, so a new option cannot go undocumented).
// `fail(message)` is called for anything else and must not return.
function parseArgs(argv, { flags, values }, usage, fail) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) [a, v] = [a.slice(0, eq), a.slice(eq + 1)];
    if (a === '--help' || a === '-h') {
      const undocumented = [...Object.keys(flags), ...Object.keys(values)]
        .filter((name) => !new RegExp(`^\\s+${name}\\b`, 'm').test(usage));
      if (undocumented.length) fail(`the help text does not explain ${undocumented.join(', ')}`);
      console.log(usage);
      process.exit(0);
    } else if (Object.hasOwn(flags, a)) o[flags[a]] = true;
    else if (Object.hasOwn(values, a)) {
      if (v === undefined && i + 1 >= argv.length) fail(`missing value after ${a}`);
      o[values[a]] = v !== undefined ? v : argv[++i];
    } else fail(`unknown option ${a}`);
  }
  return o;
}

module.exports = {
  build, parseArgs, shapesHelp, sizeBatch,
  root, SHAPES, selectShapes, median, randomFloats, roundOrder, relError, nchwToNhwc, nhwcToNchw, oihwToHwio, hwioToOihw, now,
  defaultThreads, table, fmtTime, progress,
};
