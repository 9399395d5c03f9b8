#!/usr/bin/env node
// channelconv vs onnxruntime-node (CPU EP) on S1..S7, alternating runs in one process, medians.
// onnxruntime-node is not a dependency: install it outside the repo and point ORT_NODE at it, e.g.
//   mkdir /tmp/ort && cd /tmp/ort && ONNXRUNTIME_NODE_INSTALL=skip npm i onnxruntime-node@1.30.0
//   ORT_NODE=/tmp/ort/node_modules/onnxruntime-node node bench/ort-compare.js [--threads 2] [--shapes S1,S7] [--ms 3000] [--ort-spin] [--fresh-out]
// The ONNX model (one Conv node, weight as an initializer so onnxruntime can prepack it) is encoded
// by hand below: protobuf wire format, the few ModelProto fields a Conv needs.
'use strict';
const path = require('path');

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const threads = Number(opt('threads', '2'));
const budget = Number(opt('ms', '3000'));
const ort = require(process.env.ORT_NODE || 'onnxruntime-node');
const cc = require(path.join(__dirname, '..', 'dist', 'index.js'));

const SHAPES = {
  S1: { x: [1, 100, 64, 64], w: [100, 100, 5, 5], pad: 2, stride: 1, groups: 1 },
  S2: { x: [8, 100, 64, 64], w: [100, 100, 5, 5], pad: 2, stride: 1, groups: 1 },
  S3: { x: [8, 64, 56, 56], w: [64, 64, 3, 3], pad: 1, stride: 1, groups: 1 },
  S4: { x: [8, 256, 56, 56], w: [64, 256, 1, 1], pad: 0, stride: 1, groups: 1 },
  S5: { x: [8, 3, 224, 224], w: [64, 3, 7, 7], pad: 3, stride: 2, groups: 1 },
  S6: { x: [1, 2, 3, 3], w: [1, 2, 2, 2], pad: 0, stride: 1, groups: 1 },
  S7: { x: [8, 128, 56, 56], w: [128, 1, 3, 3], pad: 1, stride: 1, groups: 128 },
};

// --- protobuf wire format ---
const varint = (n) => { const b = []; n = BigInt(n); do { let x = Number(n & 0x7fn); n >>= 7n; if (n) x |= 0x80; b.push(x); } while (n); return Buffer.from(b); };
const key = (f, wt) => varint((f << 3) | wt);
const vfield = (f, n) => Buffer.concat([key(f, 0), varint(n)]);
const bfield = (f, buf) => Buffer.concat([key(f, 2), varint(buf.length), buf]);
const sfield = (f, s) => bfield(f, Buffer.from(s, 'utf8'));
const intsAttr = (name, ints) => Buffer.concat([sfield(1, name), ...ints.map((v) => vfield(8, v)), vfield(20, 7)]);
const intAttr = (name, v) => Buffer.concat([sfield(1, name), vfield(3, v), vfield(20, 2)]);
const valueInfo = (name, dims) => bfield(11, Buffer.alloc(0)) && Buffer.concat([sfield(1, name),
  bfield(2, bfield(1, Buffer.concat([vfield(1, 1), bfield(2, Buffer.concat(dims.map((d) => bfield(1, vfield(1, d)))))])))]);

function convModel(s, wdata, oshape) {
  const k = s.w.slice(2);
  const node = Buffer.concat([sfield(1, 'X'), sfield(1, 'W'), sfield(2, 'Y'), sfield(4, 'Conv'),
    bfield(5, intsAttr('kernel_shape', k)), bfield(5, intsAttr('pads', [s.pad, s.pad, s.pad, s.pad])),
    bfield(5, intsAttr('strides', [s.stride, s.stride])), bfield(5, intAttr('group', s.groups))]);
  const init = Buffer.concat([...s.w.map((d) => vfield(1, d)), vfield(2, 1), sfield(8, 'W'),
    bfield(9, Buffer.from(wdata.buffer, wdata.byteOffset, wdata.byteLength))]);
  const graph = Buffer.concat([bfield(1, node), sfield(2, 'conv'), bfield(5, init),
    bfield(11, valueInfo('X', s.x)), bfield(12, valueInfo('Y', oshape))]);
  return Buffer.concat([vfield(1, 8), bfield(8, Buffer.concat([sfield(1, ''), vfield(2, 17)])), bfield(7, graph)]);
}

const median = (a) => { const b = a.slice().sort((x, y) => x - y); return b[b.length >> 1]; };

(async () => {
  console.log(`onnxruntime spin-waiting ${args.includes('--ort-spin') ? 'on (its default)' : 'off'}`);
  console.log(`threads ${threads}, channelconv isa ${cc.backendInfo().cpu.isa}, onnxruntime-node ${require(path.join(process.env.ORT_NODE || 'onnxruntime-node', 'package.json')).version}`);
  console.log('| shape | channelconv | onnxruntime-node | speed-up | channelconv GFLOP/s | max abs diff |');
  console.log('|-------|-------------|------------------|----------|---------------------|--------------|');
  for (const name of opt('shapes', Object.keys(SHAPES).join(',')).split(',')) {
    const s = SHAPES[name];
    const rand = (n) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5; return a; };
    const x = { data: rand(s.x.reduce((a, b) => a * b)), shape: s.x };
    const w = { data: rand(s.w.reduce((a, b) => a * b)), shape: s.w };
    const o = { padding: s.pad, stride: s.stride, groups: s.groups, threads };
    const { outputShape, flops } = cc.convCost(s.x, s.w, o);
    // Both libraries reuse output memory, as a serving loop would: onnxruntime from its arena,
    // channelconv through options.out (a fresh 25 MB array per call costs page faults: --fresh-out).
    if (!args.includes('--fresh-out')) o.out = new Float32Array(outputShape.reduce((a, b) => a * b));
    // onnxruntime's pool threads spin-wait after each run by default: alternating with channelconv,
    // they would hold a core while channelconv runs. Off unless --ort-spin (channelconv's OpenMP
    // threads sleep when idle: OMP_WAIT_POLICY=passive).
    const extra = args.includes('--ort-spin') ? {} : { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
    const sess = await ort.InferenceSession.create(convModel(s, w.data, outputShape), {
      intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', extra,
    });
    const feeds = { X: new ort.Tensor('float32', x.data, s.x) };
    const ours = cc.conv2dSync(x, w, o).data.slice();
    const theirs = (await sess.run(feeds)).Y.data;
    let diff = 0;
    for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
    const inner = name === 'S6' ? 2000 : 1;
    const ta = [], tb = [];
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) { cc.conv2dSync(x, w, o); await sess.run(feeds); }
    while (ta.length < 7 || (Date.now() - t0 < budget && ta.length < 100)) {
      let t = process.hrtime.bigint();
      for (let i = 0; i < inner; i++) cc.conv2dSync(x, w, o);
      ta.push(Number(process.hrtime.bigint() - t) / 1e6 / inner);
      t = process.hrtime.bigint();
      for (let i = 0; i < inner; i++) await sess.run(feeds);
      tb.push(Number(process.hrtime.bigint() - t) / 1e6 / inner);
    }
    const a = median(ta), b = median(tb);
    const fmt = (ms) => (ms < 0.1 ? `${(ms * 1000).toFixed(2)} µs` : `${ms.toFixed(2)} ms`);
    console.log(`| ${name} | ${fmt(a)} | ${fmt(b)} | ${(b / a).toFixed(2)}× | ${(flops / a / 1e6).toFixed(1)} | ${diff.toExponential(1)} |`);
    await sess.release();
  }
})().catch((e) => { console.error(e); process.exit(1); });
