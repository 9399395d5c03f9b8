#!/usr/bin/env node
// npm run bench: builds if needed, runs the native benchmark suite (build/channelconv_bench), measures
// the Node-API overhead on the tiny shape, and reprints the lecture's cost table with measured rates.
// Options: npm run bench -- --help (USAGE below). The report goes to stdout; progress to stderr when
// it is a terminal.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const lib = require('../bench/lib');

const { root } = lib;
const USAGE = `usage: npm run bench -- [--quick] [--shapes S1,S3] [--threads N[,M]] [--precision P[,Q]] [--budget SECONDS] [--no-backward] [--json FILE] [--svg FILE]

Builds what is out of date, then times each layer shape in the native benchmark executable
(build/channelconv_bench: the kernels the addon calls, no Node in the loop; oneDNN beside them where
the build found it, its rows with "time / ours"), measures this machine's
fp32 FMA peak, times the Node-API overhead of one tiny call (S6, sync and async), and reprints the
lecture's cost table with the measured rate. Report on stdout; progress on stderr when it is a terminal.
Time = median per call over samples (min - max beside it); a sample of a fast call is a batch of calls
lasting at least 50 us. FLOPs = 2 x multiply-adds. Numbers and how to read them: docs/PERF.md.

  --quick          a smoke run, well under a minute: 0.2 s of samples per shape (at least 3) after a
                   0.02 s warm-up; the numbers are rough
  --shapes LIST    comma-separated shape ids (default: all); the shapes, from bench/shapes.json (NCHW,
                   float32):
${lib.shapesHelp('                     ')}
  --threads N[,M]  threads per call (default: all cores, or OMP_NUM_THREADS); a list such as 1,2 runs
                   every shape at each count
  --precision P[,Q] fp32 (default), bf16, or fp32,bf16: every contender (ours, oneDNN's) in each
                   precision, alternating sample by sample; "time / ours" is over our first 'auto'
                   row (the first precision listed); the cost table gets a row per precision
  --budget SECONDS timed seconds per shape and thread count (default 2, with --quick 0.2)
  --no-backward    skip the backward rows (by default every shape but S6 also times a training step's
                   backward pass: the input gradient, the weight and bias gradients, and both, as
                   conv2dBackward runs them; oneDNN's backward primitives beside them where built)
  --json FILE      also write the full report as JSON (schema channelconv-bench/1: machine, measured
                   peak, per-shape results, Node-API overhead, the cost table); bench/markdown.js turns
                   it into the tables of docs/PERF.md
  --svg FILE       also write a chart: GFLOP/s per shape, with the measured peak as a line
  --help           this text

Environment: CHANNELCONV_ISA=avx512bf16|avx512|avx2|generic forces a kernel set; OMP_NUM_THREADS the default
thread count.`;

function parseArgs(argv) {
  return {
    quick: false, noBackward: false, shapes: '', threads: '', precision: '', budget: '', json: '', svg: '',
    ...lib.parseArgs(argv, {
      flags: { '--quick': 'quick', '--no-backward': 'noBackward' },
      values: { '--shapes': 'shapes', '--threads': 'threads', '--precision': 'precision', '--budget': 'budget', '--json': 'json', '--svg': 'svg' },
    }, USAGE, fail),
  };
}

function fail(msg) {
  lib.progress.done();
  console.error(`bench: ${msg}\n${USAGE.split('\n')[0]}\n(npm run bench -- --help explains every option)`);
  process.exit(2);
}

function runNative(o, exe) {
  // Beside 'auto', the implicit GEMM where 'auto' runs something else (Winograd on S1-S3): the
  // lecture's table shows both.
  const args = ['--json', '-', '--algorithms', 'auto,implicit_gemm'];
  if (o.quick) args.push('--quick');
  if (o.shapes) args.push('--shapes', o.shapes);
  if (o.threads) args.push('--threads', o.threads);
  if (o.precision) args.push('--precision', o.precision);
  if (o.budget) args.push('--budget', o.budget);
  if (o.noBackward) args.push('--no-backward');
  const r = spawnSync(exe, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${path.basename(exe)} exited with ${r.status}`);
  return JSON.parse(r.stdout);
}

// Median per-call time (ms) of `fn` (awaited when `isAsync`), in batches of calls lasting at least
// 2 ms, sized after a warm-up (lib.sizeBatch), so the clock and the event loop's turns do not matter.
async function perCall(fn, isAsync, budgetMs) {
  const { calls } = await lib.sizeBatch(fn, isAsync, { warmupMs: Math.min(100, budgetMs / 2), minSampleMs: 2 });
  const samples = [];
  const start = lib.now();
  while (samples.length < 5 || lib.now() - start < budgetMs) {
    const t0 = lib.now();
    if (isAsync) for (let i = 0; i < calls; i++) await fn();
    else for (let i = 0; i < calls; i++) fn();
    samples.push((lib.now() - t0) / calls);
  }
  return { ms: lib.median(samples), samples: samples.length, callsPerSample: calls };
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
  const sync = await perCall(() => cc.conv2dSync(x, w, opts), false, budgetMs);
  lib.progress('Node-API overhead: conv2d (async)');
  const asyncT = await perCall(() => cc.conv2d(x, w, opts), true, budgetMs);
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
    callsPerSample: { sync: sync.callsPerSample, async: asyncT.callsPerSample },
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

// The lecture's table: 10 layers like S1 over 1,000,000 images. One convention for every row, FLOP =
// 2 x multiply-add (the suite's), and one workload, 10 x 1e6 x S1's 1.024e9 multiply-adds; time =
// workload / rate. The lecture quotes its rates counting a multiply-add as one FLOP (and rounds the
// workload to 1e16 operations): its "150 GFLOP/s" CPU is 150e9 multiply-adds/s = 300 GFLOP/s here.
const LECTURE_RATES = [
  { row: 'lecture, CPU', quoted: '150 GFLOP/s', macsPerSecond: 150e9 },
  { row: 'lecture, GPU', quoted: '12 TFLOP/s', macsPerSecond: 12e12 },
];

function projection(results, threads) {
  const LAYERS = 10;
  const IMAGES = 1e6;
  const s1 = lib.SHAPES.find((x) => x.id === 'S1');
  const totalFlops = LAYERS * IMAGES * s1.flops;
  const ours = (r) => r.shape === 'S1' && r.device === 'cpu' && r.api === 'native' && r.algorithm.startsWith('auto');
  const cpuAt = (precision) => {
    const mine = (r) => ours(r) && (r.precision || 'fp32') === precision;
    return results.find((r) => mine(r) && r.threads === threads) || results.find(mine);
  };
  const cpu = cpuAt('fp32');
  const bf16 = cpuAt('bf16');
  const gpu = results.find((r) => r.shape === 'S1' && r.device === 'cuda');
  const hours = (gflops) => (gflops ? totalFlops / (gflops * 1e9) / 3600 : null);
  const measured = (r) => (r ? s1.flops / (r.ms * 1e6) : null); // S1's rate, from its median time
  // 'auto' may run Winograd on S1 (F(2x2, 5x5)), which does fewer multiply-adds than the direct sum:
  // its rate is then effective, the direct multiply-adds over its time. The GEMM row beside it is the
  // implicit GEMM forced (the suite times it where 'auto' runs something else).
  const gemm = results.find((r) => r.shape === 'S1' && r.device === 'cpu' && r.api === 'native' &&
    r.algorithm === 'implicit_gemm' && r.threads === (cpu ? cpu.threads : threads));
  const algo = cpu ? cpu.algorithm.replace(/^auto: /, '') : '';
  const wino = algo.startsWith('winograd');
  const rows = [
    ...LECTURE_RATES.map((l) => ({ row: l.row, quoted: l.quoted, gflops: (2 * l.macsPerSecond) / 1e9 })),
    { row: `measured, CPU (${cpu ? cpu.threads : '?'} threads${algo ? `, ${algo}` : ''})`, gflops: measured(cpu),
      note: wino ? 'Winograd: effective rate, the direct multiply-adds / time' : '' },
    ...(bf16 ? [{ row: `measured, CPU (${bf16.threads} threads, precision 'bf16')`, gflops: measured(bf16) }] : []),
    { row: 'measured, GPU', gflops: measured(gpu) },
    ...(gemm ? [{ row: `measured, CPU (${gemm.threads} threads, implicit_gemm)`, gflops: measured(gemm), note: 'the GEMM, every multiply-add computed' }] : []),
  ].map((r) => ({ ...r, hours: hours(r.gflops) }));
  const gpuRow = rows.find((r) => r.row === 'measured, GPU');
  return {
    convention: 'FLOP = 2 x multiply-add',
    layers: LAYERS,
    images: IMAGES,
    s1MultiplyAdds: s1.macs,
    totalMultiplyAdds: LAYERS * IMAGES * s1.macs,
    totalFlops,
    rows,
    lecture: {
      note: 'the lecture quotes 150 GFLOP/s and 12 TFLOP/s counting a multiply-add as one FLOP, for 1e16 operations (S1 rounded to 1e9): "about 18 hours", "about 14 minutes"',
      cpuGflops: rows[0].gflops,
      cpuHours: rows[0].hours,
      gpuGflops: rows[1].gflops,
      gpuMinutes: rows[1].hours * 60,
    },
    cpuThreads: cpu ? cpu.threads : null,
    cpuGflops: rows[2].gflops,
    cpuHours: rows[2].hours,
    gpuGflops: gpuRow.gflops,
    gpuMinutes: gpuRow.hours === null ? null : gpuRow.hours * 60,
  };
}

// Who a row times: ours ('auto: implicit_gemm', a forced algorithm) or a peer of the native suite
// (oneDNN, with its implementation).
function contender(r) {
  const who = r.api === 'native' || r.api === 'native forward' ? r.algorithm : r.impl ? `${r.api} (${r.impl})` : r.api;
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
  if (rep.backward && rep.backward.length) {
    out.push('');
    out.push('Backward pass (after the forward pass of a training step; fp32, NCHW): gradInput = backward_data, gradWeight + gradBias = backward_weights, both = backward;');
    out.push('"x our forward": over our forward pass of the shape, timed alternating with the row (same run)');
    out.push(lib.table(['shape', 'part', 'contender', 'threads', 'median', 'min - max', 'GFLOP/s', 'x our forward', 'time / ours'],
      rep.backward.map((r) => [
        r.shape, r.api === 'native forward' ? '(forward)' : r.direction === 'backward' ? 'both' : r.direction === 'backward_data' ? 'gradInput' : 'gradWeight + gradBias',
        contender(r), r.threads, lib.fmtTime(r.ms), `${lib.fmtTime(r.msMin)} - ${lib.fmtTime(r.msMax)}`, r.gflops.toFixed(1),
        r.xForward ? `x${r.xForward.toFixed(2)}` : '', `x${r.vsOurs.toFixed(2)}`,
      ])));
  }
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
  const e = (x) => x.toExponential(3).replace('e+', 'e');
  out.push(`Workload, every row: ${p.layers} layers like S1 (100 -> 100 channels, 5x5 kernel, 64x64 output: ${e(p.s1MultiplyAdds)} multiply-adds each) x ${p.images.toLocaleString('en-US')} images = ${e(p.totalMultiplyAdds)} multiply-adds = ${e(p.totalFlops)} FLOP.`);
  out.push(`Convention, every row: ${p.convention}; time = ${e(p.totalFlops)} FLOP / rate.`);
  const hrs = (h) => (h === null ? 'n/a' : h >= 1 ? `${h.toFixed(1)} hours` : `${(h * 60).toFixed(1)} minutes`);
  out.push(lib.table(['', 'rate', 'time for the workload', ''], p.rows.map((r) => [
    r.row,
    r.gflops === null ? (r.row.includes('GPU') ? 'n/a (no GPU)' : 'n/a (S1 not run)') : `${r.gflops.toLocaleString('en-US', { maximumFractionDigits: 1 })} GFLOP/s`,
    hrs(r.hours),
    r.quoted ? `the lecture's "${r.quoted}" counts a multiply-add as one FLOP` : r.note || '',
  ])));
  out.push('The lecture itself rounds S1 to "about a gigaflop" (1e9 operations, a multiply-add counted as one) and the');
  out.push('workload to 1e16 operations: "about 18 hours" at 150 GFLOP/s, "about 14 minutes" at 12 TFLOP/s.');
  console.log(out.join('\n'));
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const shapes = lib.selectShapes(o.shapes, fail);
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
    backward: native.backward || [],
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
