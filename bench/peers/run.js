#!/usr/bin/env node
// npm run bench:peers: the benchmark shapes through channelconv's Node API against onnxruntime-node
// (CPU execution provider, weights as model initializers) and TensorFlow.js (wasm and pure-JS cpu
// backends, in their native NHWC layout), in one process, contenders alternating round by round.
// Every peer's output is checked against ours; a mismatch fails the run (exit 1).
// The peers live in this folder's package.json and are installed here on first use.
// Options: npm run bench:peers -- --help (USAGE below).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const lib = require('../lib');
const { ensurePeers } = require('./install');

const TOLERANCE = 1e-4;
const MIN_SAMPLE_MS = 0.05; // a timed sample is a batch of calls lasting at least this, as in the native suite
const USAGE = `usage: npm run bench:peers -- [--quick] [--shapes S1,S3] [--threads N] [--budget SECONDS] [--tfjs-cpu-cap SECONDS] [--ort-spin] [--json FILE]

Times the benchmark shapes through channelconv's Node API (conv2dSync, and conv2d awaited one call at
a time) against onnxruntime-node (CPU execution provider) and TensorFlow.js (wasm and pure-JS cpu
backends) in one process, contenders alternating round by round, and prints per shape each one's
median time and its ratio to channelconv conv2dSync's ("time / ours": above 1, channelconv is faster).
Every peer's output is checked against channelconv's (max|a-b| / max(1, max|b|) <= ${TOLERANCE}); a mismatch
fails the run (exit 1). Each contender warms up first, which also sizes its sample: a batch of calls
lasting at least 50 us, as in the native suite (callsPerSample in the JSON), so a tiny call's time is
a batch mean. The peers are installed into bench/peers/node_modules on first use (npm ci there; their
own package.json, never dependencies of channelconv). Numbers and how to read them: docs/PERF.md.

  --quick              a smoke run: 0.6 s of rounds per shape (at least 2 rounds) after a 0.1 s
                       warm-up per contender, tfjs cpu capped at 0.5 s per shape; rough numbers
  --shapes LIST        comma-separated shape ids (default: all); the shapes, from bench/shapes.json
                       (NCHW, float32):
${lib.shapesHelp('                         ')}
  --threads N          threads for channelconv and onnxruntime (default: all cores, or
                       OMP_NUM_THREADS); tfjs runs on one thread in Node whatever this says
  --budget SECONDS     timed seconds per shape, all contenders together, at least 5 rounds (default 4,
                       with --quick 0.6 and 2 rounds)
  --tfjs-cpu-cap SECONDS  most seconds the pure-JS tfjs cpu backend may spend per shape (default 2,
                       with --quick 0.5); when its first call already takes longer, that cold call is its
                       only sample, marked "(cold)"
  --ort-spin           leave onnxruntime's pool threads spin-waiting after each run (its default). Off
                       by default because a spinning thread keeps a core busy while the next contender
                       runs: channelconv's next call measured 1.3-1.9x slower that way, with no gain
                       for onnxruntime
  --json FILE          also write the report as JSON (schema channelconv-bench-peers/1: machine, load
                       average, versions, and per shape and contender the median, min, max, samples,
                       callsPerSample, GFLOP/s, ratio and error); bench/markdown.js turns it into the
                       tables of docs/PERF.md
  --train              instead: train LeNet (npm run train) with channelconv and with TensorFlow.js on
                       the same digits, weights and batches; npm run bench:peers -- --train --help
  --help               this text`;

function fail(msg) {
  lib.progress.done();
  console.error(`bench:peers: ${msg}\n${USAGE.split('\n')[0]}\n(npm run bench:peers -- --help explains every option)`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    quick: false, shapes: '', json: '', ortSpin: false,
    ...lib.parseArgs(argv, {
      flags: { '--quick': 'quick', '--ort-spin': 'ortSpin' },
      values: { '--shapes': 'shapes', '--threads': 'threads', '--budget': 'budget', '--tfjs-cpu-cap': 'cpuCap', '--json': 'json' },
    }, USAGE, fail),
  };
  const positive = (name, s) => {
    if (s === undefined) return 0;
    const n = Number(s);
    if (!(n > 0)) fail(`${name} wants a positive number, got ${s}`);
    return n;
  };
  o.threads = positive('--threads', o.threads);
  if (o.threads && (!Number.isInteger(o.threads) || o.threads > 1024)) fail('--threads wants an integer in 1..1024');
  o.budget = positive('--budget', o.budget);
  o.cpuCap = positive('--tfjs-cpu-cap', o.cpuCap);
  if (!o.threads) o.threads = lib.defaultThreads();
  if (!o.budget) o.budget = o.quick ? 0.6 : 4;
  if (!o.cpuCap) o.cpuCap = o.quick ? 0.5 : 2;
  o.warmupMs = o.quick ? 100 : 250; // untimed calls per contender and shape (the JIT needs more than the native suite's 20 ms)
  o.minRounds = o.quick ? 2 : 5;
  return o;
}

/** Shape data shared by all contenders: R input sets (rotated), one weight, one bias. */
function makeData(s) {
  const inElems = s.N * s.C * s.H * s.W;
  // Enough input sets (64 MiB, twice this machine's 32 MiB L3; at most 16) that consecutive calls do
  // not find their input already cached. tfjs keeps its own copies (NHWC).
  const sets = Math.max(1, Math.min(16, Math.ceil((64 << 20) / (inElems * 4))));
  const x0 = lib.randomFloats(inElems, 1);
  const xs = Array.from({ length: sets }, () => x0.slice());
  const w = lib.randomFloats(s.weightShape.reduce((a, b) => a * b, 1), 2);
  const bias = lib.randomFloats(s.Cout, 3);
  return { xs, w, bias };
}

function ourContenders(cc, s, d, threads) {
  const weight = { data: d.w, shape: s.weightShape };
  const opts = { ...s.options, bias: d.bias, threads };
  const inputs = d.xs.map((data) => ({ data, shape: s.inputShape }));
  let i = 0;
  return [
    { name: 'channelconv conv2dSync', threads, call: () => cc.conv2dSync(inputs[i++ % inputs.length], weight, opts).data },
    { name: 'channelconv conv2d (async)', threads, async: true, call: async () => (await cc.conv2d(inputs[i++ % inputs.length], weight, opts)).data },
  ];
}

async function ortContender(ort, s, d, threads, ortSpin) {
  const { convModel } = require('./onnx');
  const model = convModel({
    inputShape: s.inputShape, weight: d.w, weightShape: s.weightShape, bias: d.bias, outputShape: s.outputShape,
    stride: s.stride, pad: s.pad, groups: s.groups,
  });
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // Its pool threads otherwise spin-wait after each run and take a core from whichever contender runs
    // next (measured here: our S4 call 1.3-1.9x slower right after an onnxruntime run; onnxruntime's own
    // time did not improve with spinning). --ort-spin restores onnxruntime's default.
    ...(ortSpin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
  });
  const feeds = d.xs.map((x) => ({ X: new ort.Tensor('float32', x, s.inputShape) }));
  let i = 0;
  return {
    name: 'onnxruntime-node (cpu EP)',
    threads,
    async: true,
    call: async () => (await session.run(feeds[i++ % feeds.length])).Y.data,
    dispose: () => session.release(),
  };
}

// tfjs tensors belong to the backend that was active when they were made, so each tfjs contender
// makes its own (NHWC input, HWIO filter, converted once, outside the timed region) and switches to
// its backend before each turn.
async function tfjsContender(tf, backend, s, d) {
  await tf.setBackend(backend);
  const depthwise = s.groups > 1;
  if (depthwise && s.groups !== s.C) throw new Error(`${s.id}: tfjs has no grouped convolution other than depthwise`);
  const xs = d.xs.map((x) => tf.tensor4d(lib.nchwToNhwc(x, s.N, s.C, s.H, s.W), [s.N, s.H, s.W, s.C]));
  const hwio = lib.oihwToHwio(d.w, s.Cout, s.C / s.groups, s.KH, s.KW);
  // Depthwise: OIHW [C, 1, KH, KW] -> HWIO [KH, KW, 1, C], which is tfjs's [KH, KW, C, multiplier 1].
  const filter = tf.tensor4d(hwio, depthwise ? [s.KH, s.KW, s.C, 1] : [s.KH, s.KW, s.C, s.Cout]);
  const bias = tf.tensor1d(d.bias);
  const pad = s.pad === 0 ? 'valid' : s.pad; // a number: that padding on all four sides
  const op = depthwise ? tf.fused.depthwiseConv2d : tf.fused.conv2d;
  let i = 0;
  return {
    name: `tfjs ${backend}`,
    threads: 1,
    nhwc: true,
    backend,
    call: () => {
      const y = op({ x: xs[i++ % xs.length], filter, bias, strides: s.stride, pad });
      const data = y.dataSync();
      y.dispose();
      return data;
    },
    dispose: () => {
      xs.forEach((t) => t.dispose());
      filter.dispose();
      bias.dispose();
    },
  };
}

async function runShape(s, ctx, o) {
  const d = makeData(s);
  const contenders = [...ourContenders(ctx.cc, s, d, o.threads), await ortContender(ctx.ort, s, d, o.threads, o.ortSpin)];
  for (const b of ['wasm', 'cpu']) contenders.push(await tfjsContender(ctx.tf, b, s, d));
  const tfjsCpu = contenders.find((c) => c.name === 'tfjs cpu');
  tfjsCpu.capMs = o.cpuCap * 1e3;

  const invoke = async (c) => {
    if (c.backend && ctx.tf.getBackend() !== c.backend) await ctx.tf.setBackend(c.backend);
    return c.async ? c.call() : c.call();
  };
  // First call of each: the correctness check (against our conv2dSync).
  let ref = null;
  for (const c of contenders) {
    lib.progress(`${s.id}: first call, ${c.name}`);
    const t0 = lib.now();
    let y = await invoke(c);
    c.firstMs = lib.now() - t0;
    if (c.nhwc) y = lib.nhwcToNchw(y, s.N, s.Cout, s.OH, s.OW);
    if (!ref) ref = Float32Array.from(y);
    c.relError = lib.relError(y, ref);
    c.ok = c.relError <= TOLERANCE;
    c.samples = [];
    c.spentMs = c.firstMs;
    c.batch = 1;
  }
  // A contender that cannot afford a second call within its cap keeps its first (cold) call as its
  // only sample.
  for (const c of contenders) {
    if (c.capMs && c.firstMs >= c.capMs) {
      c.samples.push(c.firstMs);
      c.coldOnly = true;
    }
  }
  // Warm-up (caches, thread pools and allocators settle), which also sizes each contender's sample:
  // a batch of calls lasting at least 50 µs, as in the native suite (lib.sizeBatch).
  for (const c of contenders) {
    if (c.coldOnly) continue;
    lib.progress(`${s.id}: warm-up, ${c.name}`);
    if (c.backend && ctx.tf.getBackend() !== c.backend) await ctx.tf.setBackend(c.backend);
    c.batch = (await lib.sizeBatch(c.call, !!c.async, { warmupMs: o.warmupMs, minSampleMs: MIN_SAMPLE_MS })).calls;
  }

  const budgetMs = o.budget * 1e3;
  const start = lib.now();
  for (let round = 0; ; round++) {
    const active = contenders.filter((c) => !c.coldOnly && !(c.capMs && c.spentMs >= c.capMs && c.samples.length > 0));
    if (active.length === 0) break;
    if (round >= o.minRounds && lib.now() - start >= budgetMs) break;
    lib.progress(`${s.id}: round ${round + 1}`);
    for (let k = 0; k < active.length; k++) {
      const c = active[(k + round) % active.length]; // rotate who goes first
      if (c.backend && ctx.tf.getBackend() !== c.backend) await ctx.tf.setBackend(c.backend);
      const t0 = lib.now();
      if (c.async) for (let b = 0; b < c.batch; b++) await c.call();
      else for (let b = 0; b < c.batch; b++) c.call();
      const dt = lib.now() - t0;
      c.samples.push(dt / c.batch);
      c.spentMs += dt;
      // A batch that ran shorter than a sample must last (its calls got faster since the warm-up)
      // is lengthened for the next rounds.
      if (dt < MIN_SAMPLE_MS) c.batch = Math.ceil((c.batch * 1.05 * MIN_SAMPLE_MS) / Math.max(dt, 1e-6));
    }
  }
  for (const c of contenders) if (c.dispose) c.dispose();

  const ours = contenders[0];
  const oursMs = lib.median(ours.samples);
  return {
    shape: s.id,
    name: s.name,
    macs: s.macs,
    contenders: contenders.map((c) => {
      const ms = lib.median(c.samples);
      return {
        name: c.name,
        threads: c.threads,
        ms,
        msMin: Math.min(...c.samples),
        msMax: Math.max(...c.samples),
        samples: c.samples.length,
        callsPerSample: c.batch,
        coldOnly: !!c.coldOnly,
        gflops: s.flops / ms / 1e6,
        ratioToOurs: ms / oursMs,
        relError: c.relError,
        ok: c.ok,
      };
    }),
  };
}

function printShape(r) {
  const rows = r.contenders.map((c) => [
    c.name,
    c.threads,
    lib.fmtTime(c.ms),
    `${lib.fmtTime(c.msMin)} - ${lib.fmtTime(c.msMax)}`,
    `${c.samples}${c.coldOnly ? ' (cold)' : ''}`,
    c.gflops >= 1 ? c.gflops.toFixed(1) : c.gflops.toFixed(3),
    c.name === 'channelconv conv2dSync' ? '1.00' : `${c.ratioToOurs.toFixed(2)}`,
    c.name === 'channelconv conv2dSync' ? '(reference)' : `${c.relError.toExponential(1)}${c.ok ? '' : ' MISMATCH'}`,
  ]);
  console.log(`\n${r.shape}  ${r.name}  (${(2 * r.macs / 1e9).toFixed(3)} GFLOP per call)`);
  console.log(lib.table(['contender', 'threads', 'median', 'min - max', 'n', 'GFLOP/s', 'time / ours', 'rel. error'], rows));
}

async function main() {
  // --train: the LeNet training comparison (its own options: bench/peers/train.js).
  if (process.argv.includes('--train')) return require('./train').main(process.argv.slice(2).filter((a) => a !== '--train'));
  const o = parseArgs(process.argv.slice(2));
  let shapes;
  try {
    shapes = lib.selectShapes(o.shapes);
  } catch (e) {
    fail(e.message);
  }
  lib.build();
  ensurePeers();
  const cc = require(path.join(lib.root, 'dist', 'index.js'));
  const ort = require('onnxruntime-node');
  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  tf.enableProdMode(); // no debug checks, no "install tfjs-node" banner
  // The .wasm files ship in the package's dist folder; point there explicitly so nothing is fetched.
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed to initialise');
  const wasmThreads = wasm.getThreadsCount();
  const wasmSimd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const ctx = { cc, ort, tf };

  const info = cc.backendInfo();
  const peerVersions = {
    'onnxruntime-node': require('onnxruntime-node/package.json').version,
    '@tensorflow/tfjs-core': require('@tensorflow/tfjs-core/package.json').version,
    '@tensorflow/tfjs-backend-wasm': require('@tensorflow/tfjs-backend-wasm/package.json').version,
    '@tensorflow/tfjs-backend-cpu': require('@tensorflow/tfjs-backend-cpu/package.json').version,
  };
  const notes = [
    `time / ours = contender's median / channelconv conv2dSync's median (above 1: channelconv is faster)`,
    `channelconv and onnxruntime-node: ${o.threads} thread(s); onnxruntime: CPU execution provider, weight and bias as initializers, graph optimisation 'all', pool threads ${o.ortSpin ? 'spin-wait (its default)' : 'do not spin-wait between runs (allow_spinning 0), so they do not steal the core the next contender needs'}`,
    `tfjs wasm: ${wasmThreads} thread (tfjs-backend-wasm runs single-threaded in Node: its multi-thread build is browser-only), SIMD ${wasmSimd ? 'on' : 'off'}, .wasm loaded from the package's dist folder`,
    `tfjs cpu: pure JavaScript, single-threaded; capped at ${o.cpuCap} s per shape (fewer samples; "(cold)" = its first call is the only sample)`,
    'all contenders compute conv + bias; tfjs in NHWC (input converted once, outside the timed region), the rest NCHW',
    `each peer's output is compared with channelconv's: max|a-b| / max(1, max|b|) <= ${TOLERANCE}`,
  ];
  console.log(`channelconv vs peers: ${new Date().toISOString()}`);
  console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} logical CPUs; Node ${process.versions.node}; channelconv ${info.version} (GEMM ${info.cpu.isa})`);
  console.log(`peers: ${Object.entries(peerVersions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const n of notes) console.log(`- ${n}`);

  const results = [];
  for (const s of shapes) {
    const r = await runShape(s, ctx, o);
    lib.progress.done();
    printShape(r);
    results.push(r);
  }
  const mismatches = results.flatMap((r) => r.contenders.filter((c) => !c.ok).map((c) => `${r.shape} ${c.name} (rel. error ${c.relError})`));
  console.log('\nSummary: time / ours per shape (above 1: channelconv conv2dSync is faster)');
  const names = results[0].contenders.map((c) => c.name).filter((n) => n !== 'channelconv conv2dSync');
  console.log(lib.table(['shape', ...names], results.map((r) => [r.shape, ...names.map((n) => {
    const c = r.contenders.find((x) => x.name === n);
    return `${c.ratioToOurs.toFixed(2)}${c.coldOnly ? ' (cold)' : ''}`;
  })])));
  if (o.json) {
    const rep = {
      schema: 'channelconv-bench-peers/1',
      date: new Date().toISOString(),
      command: `npm run bench:peers${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
      machine: { cpu: os.cpus()[0].model, logicalCpus: os.cpus().length, node: process.versions.node, loadavg: os.loadavg() },
      channelconv: { version: info.version, isa: info.cpu.isa },
      peers: peerVersions,
      threads: o.threads,
      tfjsWasm: { threads: wasmThreads, simd: wasmSimd },
      tolerance: TOLERANCE,
      notes,
      results,
      ok: mismatches.length === 0,
    };
    fs.writeFileSync(o.json, JSON.stringify(rep, null, 2) + '\n');
    console.log(`\nJSON written to ${o.json}`);
  }
  if (mismatches.length) {
    console.error(`\nbench:peers: FAILED, outputs differ from channelconv's beyond ${TOLERANCE}:\n  ${mismatches.join('\n  ')}`);
    process.exit(1);
  }
}

main().catch((e) => {
  lib.progress.done();
  console.error(`bench:peers: ${process.env.BENCH_DEBUG && e && e.stack ? e.stack : e && e.message ? e.message : e}`);
  process.exit(1);
});
