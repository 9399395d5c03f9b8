#!/usr/bin/env node
// npm run bench:peers: the benchmark shapes through channelconv's Node API against onnxruntime-node
// (CPU execution provider, weights as model initializers) and TensorFlow.js (wasm and pure-JS cpu
// backends, in their native NHWC layout), in one process, contenders alternating round by round; then
// a training step (the forward pass and every gradient) against TensorFlow.js's gradients, and the
// transposed convolution against onnxruntime-node's ConvTranspose.
// Every peer's output is checked against ours; a mismatch fails the run (exit 1).
// The peers live in this folder's package.json and are installed here on first use.
// Options: npm run bench:peers -- --help (USAGE below).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const lib = require('../lib');
const { ensurePeers } = require('./install');

const SECTIONS = ['forward', 'training', 'transpose'];
const TFJS_CPU_TRAINING_FLOPS = 2e8; // above this, tfjs cpu's training step runs only with --tfjs-cpu-training
const TOLERANCE = 1e-4;
// channelconv 'bf16' against its fp32 result: bfloat16 inputs and weights (about 2e-3 relative L2,
// README "Precision"; the largest element error a few times that).
const BF16_TOLERANCE = 1e-2;
const MIN_SAMPLE_MS = 0.05; // a timed sample is a batch of calls lasting at least this, as in the native suite
const USAGE = `usage: npm run bench:peers -- [--quick] [--shapes S1,S3] [--threads N] [--budget SECONDS] [--tfjs-cpu-cap SECONDS] [--ort-spin] [--sections LIST] [--tfjs-cpu-training] [--precision fp32,bf16] [--baseline DIR] [--json FILE]

Times the benchmark shapes through channelconv's Node API (conv2dSync, and conv2d awaited one call at
a time) against onnxruntime-node (CPU execution provider) and TensorFlow.js (wasm and pure-JS cpu
backends) in one process, contenders alternating round by round (in a new shuffled order each round,
the same orders every run), and prints per shape each one's
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
  --sections LIST      comma-separated, default all three: forward (the shapes' convolution, every
                       peer), training (a training step: the forward pass, then the input, weight and
                       bias gradients for a fixed upstream gradient; channelconv conv2dSync +
                       conv2dBackwardSync, and conv2d + conv2dBackward awaited, against tfjs
                       valueAndGrads of its fused conv2d, wasm and cpu), transpose (the transposed
                       convolution of each shape but S6: input of the shape's output size, its
                       weight read as IOHW, output of its input size; conv2dTransposeSync and
                       conv2dTranspose against onnxruntime-node's ConvTranspose)
  --tfjs-cpu-training  run tfjs cpu's training step on every shape (by default only on shapes under
                       0.2 GFLOP: its pure-JS gradient kernels took 7 and 10 minutes per call on S3
                       and S1 here)
  --ort-spin           leave onnxruntime's pool threads spin-waiting after each run (its default). Off
                       by default because a spinning thread keeps a core busy while the next contender
                       runs: channelconv's next call measured 1.3-1.9x slower that way, with no gain
                       for onnxruntime
  --precision fp32,bf16  also channelconv with precision 'bf16' (conv2dSync and conv2d), checked against
                       our fp32 result within ${BF16_TOLERANCE}; its "time / ours" is over our fp32 conv2dSync's
  --baseline DIR       also time another channelconv build (DIR/dist/index.js, e.g. a checkout of an
                       older commit, built) with conv2dSync, alternating with the rest: before/after
                       in one run
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
    quick: false, shapes: '', json: '', ortSpin: false, sections: 'forward,training,transpose',
    ...lib.parseArgs(argv, {
      flags: { '--quick': 'quick', '--ort-spin': 'ortSpin', '--tfjs-cpu-training': 'tfjsCpuTraining' },
      values: { '--shapes': 'shapes', '--threads': 'threads', '--budget': 'budget', '--tfjs-cpu-cap': 'cpuCap', '--json': 'json', '--sections': 'sections', '--precision': 'precision', '--baseline': 'baseline' },
    }, USAGE, fail),
  };
  o.sections = o.sections.split(',').filter(Boolean);
  for (const x of o.sections) if (!SECTIONS.includes(x)) fail(`--sections: unknown section ${x} (known: ${SECTIONS.join(', ')})`);
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
  o.precisions = (o.precision || 'fp32').split(',');
  if (o.precisions[0] !== 'fp32' || o.precisions.some((p) => p !== 'fp32' && p !== 'bf16')) {
    fail(`--precision wants fp32 or fp32,bf16 (our fp32 call is the reference), got ${o.precision}`);
  }
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

// Ours in each precision; the first (fp32 conv2dSync) is every other contender's reference.
function ourContenders(cc, s, d, threads, precisions) {
  const weight = { data: d.w, shape: s.weightShape };
  const inputs = d.xs.map((data) => ({ data, shape: s.inputShape }));
  let i = 0;
  return precisions.flatMap((precision) => {
    const opts = { ...s.options, bias: d.bias, threads, precision };
    const tag = precision === 'fp32' ? '' : ` ${precision}`;
    const tolerance = precision === 'bf16' ? BF16_TOLERANCE : TOLERANCE;
    return [
      { name: `channelconv conv2dSync${tag}`, threads, tolerance, call: () => cc.conv2dSync(inputs[i++ % inputs.length], weight, opts).data },
      { name: `channelconv conv2d (async)${tag}`, threads, tolerance, async: true, call: async () => (await cc.conv2d(inputs[i++ % inputs.length], weight, opts)).data },
    ];
  });
}

async function ortContender(ort, s, d, threads, ortSpin) {
  return ortSession(ort, {
    inputShape: s.inputShape, weight: d.w, weightShape: s.weightShape, bias: d.bias, outputShape: s.outputShape,
    stride: s.stride, pad: s.pad, groups: s.groups,
  }, d.xs, threads, ortSpin, 'onnxruntime-node (cpu EP)');
}

// A one-node model (bench/peers/onnx.js) in an onnxruntime session, run on the rotated inputs xs.
async function ortSession(ort, model, xs, threads, ortSpin, name) {
  const { convModel } = require('./onnx');
  const session = await ort.InferenceSession.create(convModel(model), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // Its pool threads otherwise spin-wait after each run and take a core from whichever contender runs
    // next (measured here: our S4 call 1.3-1.9x slower right after an onnxruntime run; onnxruntime's own
    // time did not improve with spinning). --ort-spin restores onnxruntime's default.
    ...(ortSpin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
  });
  const feeds = xs.map((x) => ({ X: new ort.Tensor('float32', x, model.inputShape) }));
  let i = 0;
  return {
    name,
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

// ---- training step: the forward pass and the three gradients ---------------------------------------
// Every contender returns [y, gradInput, gradWeight, gradBias]; toRef puts them in NCHW / OIHW.

function trainingData(s, d) {
  return { ...d, dy: lib.randomFloats(s.N * s.Cout * s.OH * s.OW, 4) };
}

function ourTraining(cc, s, d, threads) {
  const weight = { data: d.w, shape: s.weightShape };
  const fwd = { ...s.options, bias: d.bias, threads };
  const bwd = { ...s.options, threads };
  const gradOutput = { data: d.dy, shape: s.outputShape };
  const inputs = d.xs.map((data) => ({ data, shape: s.inputShape }));
  const parts = (y, g) => [y.data, g.gradInput.data, g.gradWeight.data, g.gradBias];
  let i = 0;
  return [
    { name: 'channelconv conv2dSync + conv2dBackwardSync', threads, call: () => {
      const x = inputs[i++ % inputs.length];
      return parts(cc.conv2dSync(x, weight, fwd), cc.conv2dBackwardSync(x, weight, gradOutput, bwd));
    } },
    { name: 'channelconv conv2d + conv2dBackward (async)', threads, async: true, call: async () => {
      const x = inputs[i++ % inputs.length];
      const y = await cc.conv2d(x, weight, fwd);
      return parts(y, await cc.conv2dBackward(x, weight, gradOutput, bwd));
    } },
  ];
}

// tfjs: its conv2d gradient kernels (tfjs-core's Node bundle registers no gradient functions, so no
// tf.grad): the fused (bias) forward pass, Conv2DBackpropInput, the filter gradient and the bias
// gradient (a sum of dy), as a tfjs training step computes them. The cpu backend has every kernel
// (Conv2DBackpropFilter, the depthwise ones). tfjs-backend-wasm 4.22 registers no Conv2DBackpropFilter
// and no depthwise gradient kernels: its filter gradient is Conv3DBackpropFilterV2 on a depth-1 volume,
// at stride 1 (at stride 2 that kernel's result is wrong, checked against a loop and the cpu backend),
// with dy zero-stuffed to the stride; a depthwise layer has no wasm contender.
async function tfjsTraining(tf, backend, s, d) {
  await tf.setBackend(backend);
  const depthwise = s.groups > 1;
  if (depthwise && s.groups !== s.C) throw new Error(`${s.id}: tfjs has no grouped convolution other than depthwise`);
  if (depthwise && backend === 'wasm') return { unavailable: 'tfjs-backend-wasm has no depthwise gradient kernels' };
  const k = (name, inputs, attrs) => tf.engine().runKernel(name, inputs, attrs);
  const xs = d.xs.map((x) => tf.tensor4d(lib.nchwToNhwc(x, s.N, s.C, s.H, s.W), [s.N, s.H, s.W, s.C]));
  const fshape = depthwise ? [s.KH, s.KW, s.C, 1] : [s.KH, s.KW, s.C, s.Cout];
  const filter = tf.tensor4d(lib.oihwToHwio(d.w, s.Cout, s.C / s.groups, s.KH, s.KW), fshape);
  const bias = tf.tensor1d(d.bias);
  const dy = tf.tensor4d(lib.nchwToNhwc(d.dy, s.N, s.Cout, s.OH, s.OW), [s.N, s.OH, s.OW, s.Cout]);
  const pad = s.pad === 0 ? 'valid' : s.pad;
  const inputShape = [s.N, s.H, s.W, s.C];
  const conv = { strides: [s.stride, s.stride], pad, dataFormat: 'NHWC', dilations: [1, 1] };
  const op = depthwise ? tf.fused.depthwiseConv2d : tf.fused.conv2d;
  // wasm's filter gradient: the padded input cropped to the rows a stride-1 pass reads, dy stuffed
  // with stride - 1 zeros between its elements.
  const Hc = (s.OH - 1) * s.stride + s.KH, Wc = (s.OW - 1) * s.stride + s.KW;
  const stuffed = (t) => {
    if (s.stride === 1) return t;
    const z = tf.pad(tf.reshape(t, [s.N, s.OH, 1, s.OW, 1, s.Cout]), [[0, 0], [0, 0], [0, s.stride - 1], [0, 0], [0, s.stride - 1], [0, 0]]);
    return tf.slice(tf.reshape(z, [s.N, s.OH * s.stride, s.OW * s.stride, s.Cout]), 0, [s.N, (s.OH - 1) * s.stride + 1, (s.OW - 1) * s.stride + 1, s.Cout]);
  };
  const filterGrad = (x) => {
    if (backend === 'cpu') {
      return depthwise ? k('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...conv, filterShape: fshape })
        : k('Conv2DBackpropFilter', { x, dy }, { ...conv, filterShape: fshape });
    }
    const xp = tf.slice(tf.pad(x, [[0, 0], [s.pad, s.pad], [s.pad, s.pad], [0, 0]]), 0, [s.N, Hc, Wc, s.C]);
    const dys = stuffed(dy);
    return k('Conv3DBackpropFilterV2', { x: tf.reshape(xp, [s.N, 1, Hc, Wc, s.C]), dy: tf.reshape(dys, [s.N, 1, ...dys.shape.slice(1)]) },
      { strides: [1, 1, 1], pad: 'valid', filterShape: [1, ...fshape] });
  };
  let i = 0;
  return {
    name: `tfjs ${backend} gradient kernels`,
    threads: 1,
    backend,
    call: () => tf.tidy(() => {
      const x = xs[i++ % xs.length];
      const y = op({ x, filter, bias, strides: s.stride, pad });
      const gx = depthwise ? k('DepthwiseConv2dNativeBackpropInput', { dy, filter }, { ...conv, inputShape })
        : k('Conv2DBackpropInput', { dy, filter }, { ...conv, inputShape });
      return [y, gx, filterGrad(x), tf.sum(dy, [0, 1, 2])].map((t) => t.dataSync());
    }),
    toRef: ([y, gx, gw, gb]) => [
      lib.nhwcToNchw(y, s.N, s.Cout, s.OH, s.OW), lib.nhwcToNchw(gx, s.N, s.C, s.H, s.W),
      lib.hwioToOihw(gw, s.Cout, s.C / s.groups, s.KH, s.KW), gb,
    ],
    dispose: () => [...xs, filter, bias, dy].forEach((t) => t.dispose()),
  };
}

// ---- the transposed convolution --------------------------------------------------------------------

// The transposed convolution of shape s: the backward-data problem of s's convolution. Input [N, Cout,
// OH, OW], weight s's [Cout, C/groups, KH, KW] read as IOHW, output [N, C, H, W] (outputPadding
// supplies the rows the stride left over).
function transposeOf(s) {
  const op = s.H - ((s.OH - 1) * s.stride - 2 * s.pad + s.KH);
  return { op, inputShape: s.outputShape, outputShape: s.inputShape, flops: s.flops };
}

function transposeData(s) {
  const inElems = s.N * s.Cout * s.OH * s.OW;
  const sets = Math.max(1, Math.min(16, Math.ceil((64 << 20) / (inElems * 4))));
  const x0 = lib.randomFloats(inElems, 1);
  return { xs: Array.from({ length: sets }, () => x0.slice()), w: lib.randomFloats(s.weightShape.reduce((a, b) => a * b, 1), 2), bias: lib.randomFloats(s.C, 3) };
}

function ourTranspose(cc, s, d, threads) {
  const t = transposeOf(s);
  const weight = { data: d.w, shape: s.weightShape };
  const opts = { stride: s.stride, padding: s.pad, outputPadding: t.op, groups: s.groups, bias: d.bias, threads };
  const inputs = d.xs.map((data) => ({ data, shape: t.inputShape }));
  let i = 0;
  return [
    { name: 'channelconv conv2dTransposeSync', threads, call: () => [cc.conv2dTransposeSync(inputs[i++ % inputs.length], weight, opts).data] },
    { name: 'channelconv conv2dTranspose (async)', threads, async: true, call: async () => [(await cc.conv2dTranspose(inputs[i++ % inputs.length], weight, opts)).data] },
  ];
}

async function ortTranspose(ort, s, d, threads, ortSpin) {
  const t = transposeOf(s);
  return ortSession(ort, {
    op: 'ConvTranspose', inputShape: t.inputShape, weight: d.w, weightShape: s.weightShape, bias: d.bias,
    outputShape: t.outputShape, stride: s.stride, pad: s.pad, groups: s.groups, outputPadding: t.op,
  }, d.xs, threads, ortSpin, 'onnxruntime-node ConvTranspose (cpu EP)');
}

async function runShape(s, ctx, o) {
  const d = makeData(s);
  const contenders = [...ourContenders(ctx.cc, s, d, o.threads, o.precisions), await ortContender(ctx.ort, s, d, o.threads, o.ortSpin)];
  if (ctx.baseline) {
    const [sync] = ourContenders(ctx.baseline, s, d, o.threads, ['fp32']);
    contenders.splice(2, 0, { ...sync, name: 'channelconv baseline conv2dSync' });
  }
  for (const b of ['wasm', 'cpu']) contenders.push(await tfjsContender(ctx.tf, b, s, d));
  return runContenders(s, contenders, s.flops, ctx, o);
}

async function runTraining(s, ctx, o) {
  const d = trainingData(s, makeData(s));
  const contenders = ourTraining(ctx.cc, s, d, o.threads);
  const unavailable = [];
  for (const b of ['wasm', 'cpu']) {
    // tfjs's pure-JS gradient kernels took 414 s (S3) and 622 s (S1) for one call here: only the small
    // shapes run them unless asked.
    if (b === 'cpu' && !o.tfjsCpuTraining && s.flops > TFJS_CPU_TRAINING_FLOPS) {
      unavailable.push({ name: 'tfjs cpu', reason: `skipped: its gradient kernels take minutes per call on a shape this size (--tfjs-cpu-training runs them)` });
      continue;
    }
    const c = await tfjsTraining(ctx.tf, b, s, d);
    if (c.unavailable) unavailable.push({ name: `tfjs ${b}`, reason: c.unavailable });
    else contenders.push(c);
  }
  return { ...(await runContenders(s, contenders, 3 * s.flops, ctx, o)), unavailable };
}

async function runTranspose(s, ctx, o) {
  const d = transposeData(s);
  const contenders = [...ourTranspose(ctx.cc, s, d, o.threads), await ortTranspose(ctx.ort, s, d, o.threads, o.ortSpin)];
  return runContenders(s, contenders, s.flops, ctx, o);
}

// Times the contenders of one task (the first is the reference: ours, sync), round by round.
async function runContenders(s, contenders, flops, ctx, o) {
  const tfjsCpu = contenders.find((c) => /^tfjs cpu/.test(c.name));
  if (tfjsCpu) tfjsCpu.capMs = o.cpuCap * 1e3;

  const invoke = async (c) => {
    if (c.backend && ctx.tf.getBackend() !== c.backend) await ctx.tf.setBackend(c.backend);
    return c.async ? c.call() : c.call();
  };
  // First call of each: the correctness check (against the first contender, ours), part by part
  // (a training step's output, input, weight and bias gradients), in NCHW / OIHW.
  let ref = null;
  for (const c of contenders) {
    lib.progress(`${s.id}: first call, ${c.name}`);
    const t0 = lib.now();
    const out = await invoke(c);
    c.firstMs = lib.now() - t0;
    const parts = c.toRef ? c.toRef(out) : c.nhwc ? [lib.nhwcToNchw(out, s.N, s.Cout, s.OH, s.OW)] : Array.isArray(out) ? out : [out];
    if (!ref) ref = parts.map((p) => Float32Array.from(p));
    c.relError = parts.length === ref.length ? Math.max(...parts.map((p, k) => lib.relError(p, ref[k]))) : Infinity;
    c.ok = c.relError <= (c.tolerance ?? TOLERANCE);
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
    for (const k of lib.roundOrder(active.length, round)) {
      const c = active[k];
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
    macs: flops / 2,
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
        gflops: flops / ms / 1e6,
        ratioToOurs: ms / oursMs,
        relError: c.relError,
        ok: c.ok,
      };
    }),
  };
}

function printShape(r, title = '') {
  const rows = r.contenders.map((c) => [
    c.name,
    c.threads,
    lib.fmtTime(c.ms),
    `${lib.fmtTime(c.msMin)} - ${lib.fmtTime(c.msMax)}`,
    `${c.samples}${c.coldOnly ? ' (cold)' : ''}`,
    c.gflops >= 1 ? c.gflops.toFixed(1) : c.gflops.toFixed(3),
    c === r.contenders[0] ? '1.00' : `${c.ratioToOurs.toFixed(2)}`,
    c === r.contenders[0] ? '(reference)' : `${c.relError.toExponential(1)}${c.ok ? '' : ' MISMATCH'}`,
  ]);
  console.log(`\n${title}${r.shape}  ${r.name}  (${(2 * r.macs / 1e9).toFixed(3)} GFLOP per call)`);
  console.log(lib.table(['contender', 'threads', 'median', 'min - max', 'n', 'GFLOP/s', 'time / ours', 'rel. error'], rows));
}

async function main() {
  // --train: the LeNet training comparison (its own options: bench/peers/train.js).
  if (process.argv.includes('--train')) return require('./train').main(process.argv.slice(2).filter((a) => a !== '--train'));
  const o = parseArgs(process.argv.slice(2));
  const shapes = lib.selectShapes(o.shapes, fail);
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
  const baseline = o.baseline ? require(path.resolve(o.baseline, 'dist', 'index.js')) : null;
  const ctx = { cc, ort, tf, baseline };

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
    'training step: the forward pass (conv + bias) and the input, weight and bias gradients for a fixed upstream gradient; channelconv runs conv2d then conv2dBackward; tfjs its fused conv2d and its gradient kernels (Conv2DBackpropInput, Conv2DBackpropFilter on cpu, Conv3DBackpropFilterV2 on a depth-1 volume on wasm, which has no Conv2DBackpropFilter; each output part compared on its own); GFLOP/s counts 3 convolutions',
    "transposed convolution: each shape's backward-data problem (input of its output size, its weight read as IOHW, output of its input size, outputPadding where the stride leaves rows over) with bias; onnxruntime runs a one-node ConvTranspose model",
    ...(baseline ? [`channelconv baseline: ${path.resolve(o.baseline)} (version ${baseline.backendInfo().version}), conv2dSync, alternating with the rest`] : []),
    ...(o.precisions.includes('bf16') ? [`channelconv ... bf16: precision 'bf16' (bfloat16 inputs and weights, fp32 sums), compared with our fp32 result within ${BF16_TOLERANCE}`] : []),
  ];
  console.log(`channelconv vs peers: ${new Date().toISOString()}`);
  console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} logical CPUs; Node ${process.versions.node}; channelconv ${info.version} (GEMM ${info.cpu.isa})`);
  console.log(`peers: ${Object.entries(peerVersions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const n of notes) console.log(`- ${n}`);

  // Each section: its runner, a title, and the shapes it runs.
  const sections = {
    forward: { run: runShape, title: '', summary: 'Summary: time / ours per shape (above 1: channelconv conv2dSync is faster)', shapes },
    training: { run: runTraining, title: 'training step: ', shapes,
      summary: 'Summary, training step (forward + gradInput + gradWeight + gradBias): time / ours (above 1: channelconv is faster)' },
    transpose: { run: runTranspose, title: 'transposed convolution: ', shapes: shapes.filter((s) => !s.tiny),
      summary: 'Summary, transposed convolution: time / ours (above 1: channelconv conv2dTransposeSync is faster)' },
  };
  const bySection = {};
  for (const name of o.sections) {
    const sec = sections[name];
    bySection[name] = [];
    for (const s of sec.shapes) {
      const r = await sec.run(s, ctx, o);
      lib.progress.done();
      printShape(r, sec.title);
      for (const u of r.unavailable || []) console.log(`${u.name}: n/a (${u.reason})`);
      bySection[name].push(r);
    }
  }
  const results = bySection.forward || [];
  const all = Object.values(bySection).flat();
  const mismatches = all.flatMap((r) => r.contenders.filter((c) => !c.ok).map((c) => `${r.shape} ${c.name} (rel. error ${c.relError})`));
  for (const name of o.sections) {
    const rs = bySection[name];
    if (!rs.length) continue;
    console.log(`\n${sections[name].summary}`);
    const names = [...new Set(rs.flatMap((r) => r.contenders.slice(1).map((c) => c.name)))];
    console.log(lib.table(['shape', ...names], rs.map((r) => [r.shape, ...names.map((n) => {
      const c = r.contenders.find((x) => x.name === n);
      return c ? `${c.ratioToOurs.toFixed(2)}${c.coldOnly ? ' (cold)' : ''}` : 'n/a';
    })])));
  }
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
      training: bySection.training || [],
      transpose: bySection.transpose || [],
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
