#!/usr/bin/env node
// Soak: tens of thousands of mixed calls (sync, async in batches, out/bias/layouts, lecture
// functions, convCost, rejected bad inputs, arrays detached during async calls) for SOAK_SECONDS
// (default 30). After a warm-up (a fifth of the time) the process's memory outside the JS heap (RSS
// less V8's heapTotal: native code, the addon, libuv; V8 grows its heap by its own heuristics, in
// jumps of ~15 MB at moments that vary from run to run), the live JS heap (heapUsed) and the native
// memory the addon has reported to V8 (binding.externalMemory(): the addon's own running total,
// which other memory the process frees does not move) are sampled after a full GC, with no call in
// flight; at the end the first must not have grown by more than SOAK_MAX_GROWTH_MB (default 48; a
// third of that in the second half), the live heap by more than a third of it in the second half,
// and the reported memory by more than 1 MB. This process runs nothing but the soak, so its memory
// is the soak's. Every result is checked against a reference.
// Run with --expose-gc (npm run test:soak does). Exit status 1 on any failure.
'use strict';
const path = require('path');
const cc = require(path.join(__dirname, '..', 'dist', 'index.js'));
const binding = require('node-gyp-build')(path.join(__dirname, '..'));

if (typeof global.gc !== 'function') {
  console.error('soak: run with node --expose-gc');
  process.exit(2);
}
const seconds = Number(process.env.SOAK_SECONDS || 30);
const maxGrowthMB = Number(process.env.SOAK_MAX_GROWTH_MB || 48);
let seed = Number(process.env.CHANNELCONV_SEED || (Date.now() % 2 ** 31));
console.log(`soak: ${seconds}s, seed ${seed} (CHANNELCONV_SEED=${seed} to replay)`);
const rand = () => { // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const floats = (n) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1; return a; };

// NCHW/OIHW float64 reference with stride and padding (layouts are exercised by the vitest suites).
function ref(x, xs, w, ws, stride, pad, bias) {
  const [C, H, W] = xs, [K, , KH, KW] = ws;
  const OH = Math.floor((H + 2 * pad - KH) / stride) + 1, OW = Math.floor((W + 2 * pad - KW) / stride) + 1;
  const y = new Float64Array(K * OH * OW);
  for (let k = 0; k < K; k++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let acc = bias ? bias[k] : 0;
        for (let c = 0; c < C; c++)
          for (let i = 0; i < KH; i++) {
            const ih = oh * stride - pad + i;
            if (ih < 0 || ih >= H) continue;
            for (let j = 0; j < KW; j++) {
              const iw = ow * stride - pad + j;
              if (iw >= 0 && iw < W) acc += x[(c * H + ih) * W + iw] * w[((k * C + c) * KH + i) * KW + j];
            }
          }
        y[(k * OH + oh) * OW + ow] = acc;
      }
  return y;
}
function near(y, r) {
  if (y.length !== r.length) return false;
  let scale = 1, err = 0;
  for (let i = 0; i < r.length; i++) scale = Math.max(scale, Math.abs(r[i]));
  for (let i = 0; i < r.length; i++) { const e = Math.abs(y[i] - r[i]); if (!(e <= err)) err = Number.isNaN(e) ? Infinity : e; }
  return err / scale < 1e-5;
}

function makeCase() {
  for (;;) {
    const C = int(1, 6), K = int(1, 8), H = int(1, 24), W = int(1, 24), KH = int(1, 5), KW = int(1, 5);
    const stride = int(1, 2), pad = int(0, 2);
    if (H + 2 * pad < KH || W + 2 * pad < KW) continue;
    const input = { data: floats(C * H * W), shape: [C, H, W] };
    const weight = { data: floats(K * C * KH * KW), shape: [K, C, KH, KW] };
    const bias = rand() < 0.5 ? floats(K) : undefined;
    const options = { stride, padding: pad, bias, threads: int(1, 2) };
    return { input, weight, options, ref: ref(input.data, input.shape, weight.data, weight.shape, stride, pad, bias) };
  }
}

let calls = 0, failures = 0;
const fail = (what) => { failures++; if (failures <= 10) console.error(`soak: FAIL ${what}`); };
const bad = [
  () => cc.conv2dSync({ data: new Float64Array(4), shape: [1, 2, 2] }, { data: new Float32Array(1), shape: [1, 1, 1, 1] }),
  () => cc.conv2dSync({ data: new Float32Array(4), shape: [1, 2, 2] }, { data: new Float32Array(1), shape: [1, 1, 1, 1] }, { stride: 0 }),
  () => cc.conv2dSync({ data: new Float32Array(4), shape: [1, 2, 2] }, { data: new Float32Array(9), shape: [1, 1, 3, 3] }),
  () => cc.convCost([1, 65536, 65536], [1, 1, 1, 1]),
  () => cc.tensor([[1], [2, 3]]),
];

async function step() {
  const kind = int(0, 9);
  if (kind <= 2) { // a batch of async calls
    const cases = Array.from({ length: int(1, 24) }, makeCase);
    const ys = await Promise.all(cases.map((c) => cc.conv2d(c.input, c.weight, c.options)));
    ys.forEach((y, i) => { if (!near(y.data, cases[i].ref)) fail('async result'); });
    calls += cases.length;
  } else if (kind <= 5) { // sync, sometimes into a reused out
    const c = makeCase();
    const out = rand() < 0.5 ? new Float32Array(c.ref.length) : undefined;
    const y = cc.conv2dSync(c.input, c.weight, { ...c.options, out });
    if (!near(y.data, c.ref)) fail('sync result');
    calls++;
  } else if (kind === 6) { // bad inputs must throw coded errors
    const f = bad[int(0, bad.length - 1)];
    try { f(); fail('bad input accepted'); } catch (e) { if (typeof e.code !== 'string') fail(`uncoded error ${e}`); }
    await cc.conv2d(null, null).then(() => fail('async bad input accepted'), (e) => { if (!e.code) fail('uncoded rejection'); });
    calls += 2;
  } else if (kind === 7) { // inputs transferred while the call runs; out detached while it runs
    const c = makeCase();
    const snapshot = c.ref;
    const p = cc.conv2d(c.input, c.weight, c.options);
    structuredClone(c.input.data.buffer, { transfer: [c.input.data.buffer] });
    const y = await p;
    if (!near(y.data, snapshot)) fail('result after transfer');
    const c2 = makeCase();
    const out = new Float32Array(c2.ref.length);
    const p2 = cc.conv2d(c2.input, c2.weight, { ...c2.options, out });
    const moved = new Float32Array(structuredClone(out.buffer, { transfer: [out.buffer] }));
    // A call of at most ASYNC_INLINE_MACS ran before conv2d returned: out already held its result
    // when it was detached. A larger one ran on the pool and must reject the detached out.
    if (cc.convCost(c2.input.shape, c2.weight.shape, c2.options).macs <= cc.ASYNC_INLINE_MACS) {
      await p2.then(() => { if (!near(moved, c2.ref)) fail('inline result in the detached out'); },
        (e) => fail(`inline call with out detached after it: ${e.code}`));
    } else {
      await p2.then(() => fail('detached out accepted'), (e) => { if (e.code !== 'ERR_CHANNELCONV_INVALID_TYPE') fail(`detached out: ${e.code}`); });
    }
    calls += 2;
  } else { // lecture functions, convCost, tensor/toNested
    const X = cc.tensor([[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]]);
    const K = cc.tensor([[[0, 1], [2, 3]], [[1, 2], [3, 4]]]);
    if (JSON.stringify(cc.toNested(cc.corr2dMultiIn(X, K))) !== '[[56,72],[104,120]]') fail('corr2dMultiIn');
    if (cc.convCost([100, 68, 68], [100, 100, 5, 5]).macs !== 1024000000) fail('convCost');
    calls += 2;
  }
}

function sample() {
  global.gc();
  global.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, native: m.rss - m.heapTotal, heapUsed: m.heapUsed, external: binding.externalMemory() };
}

(async () => {
  const t0 = Date.now();
  const warmEnd = t0 + (seconds * 1000) / 5;
  while (Date.now() < warmEnd) await step();
  const before = sample();
  const warmCalls = calls;
  const end = t0 + seconds * 1000;
  const midT = (warmEnd + end) / 2;
  while (Date.now() < midT) await step();
  const mid = sample();
  while (Date.now() < end) await step();
  await new Promise((r) => setTimeout(r, 50)); // let finished workers be destroyed
  const after = sample();
  const mb = (b) => (b / 2 ** 20).toFixed(1);
  const growth = after.native - before.native;
  const extGrowth = after.external - before.external;
  console.log(`soak: ${calls} calls (${calls - warmCalls} after warm-up) in ${((Date.now() - t0) / 1000).toFixed(1)}s; ` +
    `RSS ${mb(before.rss)} -> ${mb(mid.rss)} -> ${mb(after.rss)} MB, outside the JS heap ${mb(before.native)} -> ` +
    `${mb(mid.native)} -> ${mb(after.native)} MB (${growth >= 0 ? '+' : ''}${mb(growth)}), live JS heap ` +
    `${mb(before.heapUsed)} -> ${mb(mid.heapUsed)} -> ${mb(after.heapUsed)} MB; ` +
    `reported to V8 ${mb(before.external)} -> ${mb(after.external)} MB; failures ${failures}`);
  if (growth > maxGrowthMB * 2 ** 20) fail(`memory outside the JS heap grew by ${mb(growth)} MB after warm-up (limit ${maxGrowthMB})`);
  // A leak grows with the number of calls; allocator caches level off. The second half must be flat.
  if (after.native - mid.native > (maxGrowthMB / 3) * 2 ** 20) fail(`memory outside the JS heap grew by ${mb(after.native - mid.native)} MB in the second half`);
  if (after.heapUsed - mid.heapUsed > (maxGrowthMB / 3) * 2 ** 20) fail(`the live JS heap grew by ${mb(after.heapUsed - mid.heapUsed)} MB in the second half`);
  if (Math.abs(extGrowth) > 2 ** 20) fail(`external memory drifted by ${mb(extGrowth)} MB: AdjustExternalMemory unbalanced`);
  if (calls < 10000 && seconds >= 30) fail(`only ${calls} calls`);
  console.log(failures ? 'soak: FAILED' : 'soak: OK');
  process.exit(failures ? 1 : 0);
})().catch((e) => { console.error('soak: crashed', e); process.exit(1); });
