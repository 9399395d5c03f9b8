#!/usr/bin/env node
// npm run bench: builds if needed, runs the native benchmark suite (build/channelconv_bench), measures
// the Node-API overhead on the tiny shape, and reprints the lecture's cost table with measured rates.
// Options: --quick, --shapes S1,S3, --threads N (or a list: 1,2), --precision fp32,bf16, --budget SECONDS,
// --json FILE, --svg FILE. The report goes to stdout; progress to stderr when it is a terminal.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const lib = require('../bench/lib');

const { root } = lib;
const USAGE = `usage: npm run bench -- [--quick] [--shapes S1,S3] [--threads N[,M]] [--precision P[,Q]] [--budget SECONDS] [--json FILE] [--svg FILE]
  --quick        smoke run (short budgets, well under a minute)
  --shapes       comma list of S1..S7 (default: all)
  --threads      threads per call (default: all cores); a list such as 1,2 runs each
  --precision    fp32 (default), bf16, or fp32,bf16: each contender in each, alternating sample by sample
  --budget       timed seconds per shape and thread count (default 2, quick 0.2)
  --json FILE    write the full report as JSON
  --svg FILE     write a chart: GFLOP/s per shape, with the measured peak as a line`;

function parseArgs(argv) {
  return {
    quick: false, shapes: '', threads: '', precision: '', budget: '', json: '', svg: '',
    ...lib.parseArgs(argv, {
      flags: { '--quick': 'quick' },
      values: { '--shapes': 'shapes', '--threads': 'threads', '--precision': 'precision', '--budget': 'budget', '--json': 'json', '--svg': 'svg' },
    }, USAGE, fail),
  };
}

function fail(msg) {
  lib.progress.done();
  console.error(`bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

function runNative(o, exe) {
  const args = ['--json', '-'];
  if (o.quick) args.push('--quick');
  if (o.shapes) args.push('--shapes', o.shapes);
  if (o.threads) args.push('--threads', o.threads);
  if (o.precision) args.push('--precision', o.precision);
  if (o.budget) args.push('--budget', o.budget);
  const r = spawnSync(exe, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${path.basename(exe)} exited with ${r.status}`);
  return JSON.parse(r.stdout);
}

// Median per-call time (ms) of a synchronous call, in batches long enough for the clock not to matter.
function perCallSync(fn, budgetMs) {
  for (let i = 0; i < 200; i++) fn();
  let batch = 1;
  for (;;) {
    const t0 = lib.now();
    for (let i = 0; i < batch; i++) fn();
    if (lib.now() - t0 > 2 || batch > 1e6) break;
    batch *= 2;
  }
  const samples = [];
  const start = lib.now();
  while (samples.length < 5 || lib.now() - start < budgetMs) {
    const t0 = lib.now();
    for (let i = 0; i < batch; i++) fn();
    samples.push((lib.now() - t0) / batch);
  }
  return { ms: lib.median(samples), samples: samples.length, callsPerSample: batch };
}

async function perCallAsync(fn, budgetMs) {
  for (let i = 0; i < 100; i++) await fn();
  const batch = 200;
  const samples = [];
  const start = lib.now();
  while (samples.length < 5 || lib.now() - start < budgetMs) {
    const t0 = lib.now();
    for (let i = 0; i < batch; i++) await fn();
    samples.push((lib.now() - t0) / batch);
  }
  return { ms: lib.median(samples), samples: samples.length, callsPerSample: batch };
}

function inputsFor(cc, s) {
  return {
    x: { data: lib.randomFloats(s.N * s.C * s.H * s.W, 1), shape: s.inputShape },
    w: { data: lib.randomFloats(s.weightShape.reduce((a, b) => a * b, 1), 2), shape: s.weightShape },
  };
}

// S6 through the public API, synchronous and async, per call: what a call costs above the kernel.
async function nodeApiOverhead(cc, native, threads, budgetMs) {
  const s = lib.SHAPES.find((x) => x.id === 'S6');
  const { x, w } = inputsFor(cc, s);
  const opts = { ...s.options, threads };
  lib.progress('Node-API overhead: conv2dSync');
  const sync = perCallSync(() => cc.conv2dSync(x, w, opts), budgetMs);
  lib.progress('Node-API overhead: conv2d (async)');
  const asyncT = await perCallAsync(() => cc.conv2d(x, w, opts), budgetMs);
  const nat = native.results.find((r) => r.shape === 'S6' && r.threads === threads && r.api === 'native');
  const us = (ms) => ms * 1e3;
  return {
    shape: 'S6',
    threads,
    nativeUs: nat ? us(nat.ms) : null,
    syncUs: us(sync.ms),
    asyncUs: us(asyncT.ms),
    syncOverheadUs: nat ? us(sync.ms - nat.ms) : null,
    asyncOverheadUs: nat ? us(asyncT.ms - nat.ms) : null,
    samples: { sync: sync.samples, async: asyncT.samples },
  };
}

// Every selected shape on the GPU through the public API, in each precision (only where backendInfo()
// reports a GPU).
function gpuResults(cc, shapes, precisions, budgetMs) {
  const out = [];
  for (const s of shapes)
    for (const precision of precisions) {
      lib.progress(`GPU ${s.id} ${precision}`);
      const { x, w } = inputsFor(cc, s);
      const opts = { ...s.options, device: 'cuda', precision };
      const t = perCallSyncCapped(() => cc.conv2dSync(x, w, opts), budgetMs);
      out.push({ shape: s.id, name: s.name, device: 'cuda', api: 'node', precision, threads: null, ms: t.ms, samples: t.samples, macs: s.macs, gflops: s.flops / t.ms / 1e6, peakFraction: null });
    }
  return out;
}

function perCallSyncCapped(fn, budgetMs) {
  fn();
  const samples = [];
  const start = lib.now();
  while (samples.length < 3 || lib.now() - start < budgetMs) {
    const t0 = lib.now();
    fn();
    samples.push(lib.now() - t0);
  }
  return { ms: lib.median(samples), samples: samples.length };
}

// The lecture's table: 10 layers like S1 over 1,000,000 images. The lecture rounds S1 to 1e9
// operations and counts a multiply-add as one; measured rows use S1's measured time per image, one
// per precision measured.
function projection(results, threads) {
  const LAYERS = 10;
  const IMAGES = 1e6;
  const s1 = lib.SHAPES.find((x) => x.id === 'S1');
  const lectureOps = LAYERS * IMAGES * 1e9;
  const ours = (r) => r.shape === 'S1' && r.device === 'cpu' && r.api === 'native' && r.algorithm.startsWith('auto');
  const cpuAt = (precision) => {
    const mine = (r) => ours(r) && (r.precision || 'fp32') === precision;
    return results.find((r) => mine(r) && r.threads === threads) || results.find(mine);
  };
  const cpu = cpuAt('fp32') || cpuAt('bf16');
  const bf16 = cpu && (cpu.precision || 'fp32') === 'bf16' ? null : cpuAt('bf16');
  const gpu = results.find((r) => r.shape === 'S1' && r.device === 'cuda');
  const hours = (r) => (r ? (LAYERS * IMAGES * r.ms) / 1e3 / 3600 : null);
  return {
    layers: LAYERS,
    images: IMAGES,
    s1MultiplyAdds: s1.macs,
    totalMultiplyAdds: LAYERS * IMAGES * s1.macs,
    lecture: {
      note: 'the lecture rounds the layer to 1e9 operations and counts a multiply-add as one FLOP',
      operations: lectureOps,
      cpuGflops: 150,
      cpuHours: lectureOps / 150e9 / 3600,
      gpuTflops: 12,
      gpuMinutes: lectureOps / 12e12 / 60,
    },
    cpuThreads: cpu ? cpu.threads : null,
    cpuPrecision: cpu ? cpu.precision || 'fp32' : null,
    cpuGflops: cpu ? cpu.gflops : null,
    cpuHours: hours(cpu),
    bf16Threads: bf16 ? bf16.threads : null,
    bf16Gflops: bf16 ? bf16.gflops : null,
    bf16Hours: hours(bf16),
    gpuGflops: gpu ? gpu.gflops : null,
    gpuMinutes: gpu ? hours(gpu) * 60 : null,
  };
}

// Who a row times: ours ('auto: implicit_gemm', a forced algorithm) or a peer of the native suite
// (oneDNN, with its implementation).
function contender(r) {
  const who = r.api === 'native' ? r.algorithm : r.impl ? `${r.api} (${r.impl})` : r.api;
  return r.precision ? `${r.precision} ${who}` : who;
}

function printReport(rep) {
  const out = [];
  const m = rep.machine;
  out.push(`channelconv benchmark: ${rep.date}`);
  out.push(`machine: ${m.cpu}, ${m.logicalCpus} logical CPUs, L3 ${(m.l3Bytes / 2 ** 20).toFixed(0)} MiB; Node ${m.node}; GEMM kernels: ${rep.isa}`);
  const probes = rep.peak.probes.map((p) => `${p.isa}${p.precision === 'bf16' ? ' bf16' : ''} ${p.threads}T ${p.gflops.toFixed(0)}`).join(', ');
  if (rep.onednn) out.push(`peer in the native suite: ${rep.onednn} (its rows: time / ours > 1 means channelconv is faster)`);
  out.push(`fp32 FMA peak measured here: ${rep.peak.gflops.toFixed(1)} GFLOP/s with ${rep.peak.threads} thread(s) (${rep.peak.isa}); probes (fp32 FMA; bf16: dot product): ${probes} GFLOP/s`);
  out.push(`FLOPs = 2 x multiply-adds; time = median per call (min-max over n samples), inputs rotated over buffers larger than the L3${rep.quick ? '; QUICK run: short budgets, rough numbers' : ''}`);
  out.push('');
  const rows = rep.results.map((r) => [
    r.shape, r.name, r.device, contender(r), r.threads === null ? '-' : r.threads, lib.fmtTime(r.ms),
    r.msMin !== undefined ? `${lib.fmtTime(r.msMin)} - ${lib.fmtTime(r.msMax)}` : '',
    r.gflops >= 1 ? r.gflops.toFixed(1) : r.gflops.toFixed(3),
    r.peakFraction === null ? 'n/a' : `${(100 * r.peakFraction).toFixed(1)}%`,
    r.samples, r.vsOurs === undefined ? '' : `x${r.vsOurs.toFixed(2)}`,
  ]);
  out.push(lib.table(['shape', 'layer', 'device', 'contender', 'threads', 'median', 'min - max', 'GFLOP/s', 'of peak', 'n', 'time / ours'], rows));
  if (rep.nodeApi) {
    const a = rep.nodeApi;
    const f = (v) => (v === null ? 'n/a' : `${v.toFixed(2)} µs`);
    out.push('');
    out.push(`Node-API overhead, S6 (lecture tiny), ${a.threads} thread(s), per call:`);
    out.push(lib.table(['path', 'per call', 'above the native call'], [
      ['native cc::conv2d', f(a.nativeUs), ''],
      ['conv2dSync', f(a.syncUs), f(a.syncOverheadUs)],
      ['conv2d (async, awaited one at a time)', f(a.asyncUs), f(a.asyncOverheadUs)],
    ]));
  }
  const p = rep.projection;
  out.push('');
  out.push('The lecture\'s cost table, with measured rates');
  out.push(`S1 (100 -> 100 channels, 5x5 kernel, 64x64 output) costs ${p.s1MultiplyAdds.toExponential(3)} multiply-adds: "about a gigaflop" in the lecture, which counts a multiply-add as one FLOP (this suite counts 2).`);
  out.push(`Workload: ${p.layers} such layers x ${p.images.toLocaleString('en-US')} images = ${p.totalMultiplyAdds.toExponential(3)} multiply-adds (the lecture rounds to 1e16).`);
  const L = p.lecture;
  const hrs = (h) => (h === null ? 'n/a' : h >= 1 ? `${h.toFixed(1)} hours` : `${(h * 60).toFixed(1)} minutes`);
  out.push(lib.table(['', 'rate', 'time for the workload'], [
    ['lecture, CPU', `${L.cpuGflops} GFLOP/s (multiply-add = 1 FLOP)`, hrs(L.cpuHours)],
    ['lecture, GPU', `${L.gpuTflops} TFLOP/s (multiply-add = 1 FLOP)`, hrs(L.gpuMinutes / 60)],
    [`measured, CPU (${p.cpuThreads ?? '?'} threads${p.cpuPrecision === 'bf16' ? ", precision 'bf16'" : ''})`, p.cpuGflops === null ? 'n/a (S1 not run)' : `${p.cpuGflops.toFixed(1)} GFLOP/s = ${(p.cpuGflops / 2).toFixed(1)} G multiply-adds/s`, hrs(p.cpuHours)],
    ...(p.bf16Gflops === null ? [] : [[`measured, CPU (${p.bf16Threads} threads, precision 'bf16')`, `${p.bf16Gflops.toFixed(1)} GFLOP/s = ${(p.bf16Gflops / 2).toFixed(1)} G multiply-adds/s`, hrs(p.bf16Hours)]]),
    ['measured, GPU', p.gpuGflops === null ? 'n/a (no GPU)' : `${p.gpuGflops.toFixed(1)} GFLOP/s = ${(p.gpuGflops / 2).toFixed(1)} G multiply-adds/s`, p.gpuMinutes === null ? 'n/a' : hrs(p.gpuMinutes / 60)],
  ]));
  console.log(out.join('\n'));
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let shapes;
  try {
    shapes = lib.selectShapes(o.shapes);
  } catch (e) {
    fail(e.message);
  }
  if (o.threads && (!/^\d+(,\d+)*$/.test(o.threads) || o.threads.split(',').some((t) => +t < 1 || +t > 1024))) {
    fail(`--threads wants N or a list N,M of integers in 1..1024, got ${o.threads}`);
  }
  if (o.budget && !(Number(o.budget) > 0)) fail(`--budget wants a positive number of seconds, got ${o.budget}`);
  lib.build();
  const exe = path.join(root, 'build', 'channelconv_bench');
  const native = runNative(o, exe);
  const cc = require(path.join(root, 'dist', 'index.js'));
  const info = cc.backendInfo();
  const threadList = o.threads ? o.threads.split(',').map(Number) : [lib.defaultThreads()];
  const budgetMs = (o.budget ? Number(o.budget) : o.quick ? 0.2 : 1.5) * 1e3;

  const results = native.results.slice();
  let nodeApi = null;
  if (shapes.some((s) => s.id === 'S6')) nodeApi = await nodeApiOverhead(cc, native, Math.max(...threadList), budgetMs);
  const precisions = o.precision ? o.precision.split(',') : ['fp32'];
  if (precisions.some((p) => p !== 'fp32' && p !== 'bf16')) fail(`--precision wants fp32 and/or bf16, got ${o.precision}`);
  if (info.cuda.available) results.push(...gpuResults(cc, shapes, precisions, budgetMs));
  lib.progress.done();

  const rep = {
    schema: 'channelconv-bench/1',
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    machine: { ...native.machine, node: process.versions.node, platform: `${process.platform}-${process.arch}`, loadavg: os.loadavg() },
    version: info.version,
    isa: native.isa,
    onednn: native.onednn,
    quick: o.quick,
    gpu: info.cuda.available ? info.cuda.devices : null,
    peak: native.peak,
    results,
    nodeApi,
    projection: projection(results, Math.max(...threadList)),
  };
  printReport(rep);
  if (o.json) {
    fs.writeFileSync(o.json, JSON.stringify(rep, null, 2) + '\n');
    console.log(`\nJSON written to ${o.json}`);
  }
  if (o.svg) {
    fs.writeFileSync(o.svg, require('../bench/svg').chart(rep));
    console.log(`${o.json ? '' : '\n'}SVG chart written to ${o.svg}`);
  }
}

main().catch((e) => {
  lib.progress.done();
  console.error(`bench: ${process.env.BENCH_DEBUG && e && e.stack ? e.stack : e && e.message ? e.message : e}`);
  process.exit(1);
});
