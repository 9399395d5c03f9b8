// Concurrency: hundreds of async calls in flight at once, several worker_threads calling together,
// workers terminated in the middle of a long native call, and the contract for touching inputs while
// an async call runs (inputs are copied when it starts; `out` is written when it ends).
import { spawnSync } from 'child_process';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { describe, expect, it } from 'vitest';
import { conv2d, conv2dSync, convCost, type Conv2dOptions, type Tensor } from '../lib/index';
import { canSpawnNode, refConv, relError, rng, seedFromEnv } from './helpers';

const seed = seedFromEnv();
console.log(`concurrency.test.ts seed ${seed} (CHANNELCONV_SEED=${seed} to replay)`);
const r = rng(seed);
const root = path.join(__dirname, '..');
const entry = path.join(root, 'dist', 'index.js');

interface Case {
  input: Tensor;
  weight: Tensor;
  options: Conv2dOptions;
  ref: Float64Array;
}

/** A random small convolution (explicit padding, every layout, groups, bias, threads). */
function randomCase(): Case {
  for (;;) {
    const groups = r.pick([1, 1, 2, 3]);
    const Cg = r.int(1, 4);
    const C = Cg * groups;
    const K = groups * r.int(1, 4);
    const KH = r.int(1, 5), KW = r.int(1, 5), H = r.int(1, 14), W = r.int(1, 14), N = r.int(1, 2);
    const stride: [number, number] = [r.int(1, 3), r.int(1, 3)];
    const dilation: [number, number] = [r.int(1, 2), r.int(1, 2)];
    const padding: [number, number, number, number] = [r.int(0, 2), r.int(0, 2), r.int(0, 2), r.int(0, 2)];
    const layout = r.pick(['NCHW', 'NHWC'] as const);
    const weightLayout = r.pick(['OIHW', 'HWIO'] as const);
    const OH = Math.floor((H + padding[0] + padding[1] - dilation[0] * (KH - 1) - 1) / stride[0]) + 1;
    const OW = Math.floor((W + padding[2] + padding[3] - dilation[1] * (KW - 1) - 1) / stride[1]) + 1;
    if (OH < 1 || OW < 1) continue;
    const input = { data: r.floats(N * C * H * W), shape: layout === 'NCHW' ? [N, C, H, W] : [N, H, W, C] };
    const weight = { data: r.floats(K * Cg * KH * KW), shape: weightLayout === 'OIHW' ? [K, Cg, KH, KW] : [KH, KW, Cg, K] };
    const bias = r.next() < 0.5 ? r.floats(K) : undefined;
    const options: Conv2dOptions = { stride, dilation, padding, groups, layout, weightLayout, bias, threads: r.int(1, 3) };
    const ref = refConv(input, weight, { stride, dilation, padding, groups, layout, weightLayout, bias }).data;
    return { input, weight, options, ref };
  }
}

/** A convolution of roughly `macs` multiply-adds (for calls that must still be running later). */
function bigCase(macs: number): { input: Tensor; weight: Tensor } {
  const C = 64, K = 64, KH = 3;
  const side = Math.max(8, Math.round(Math.sqrt(macs / (C * K * KH * KH))));
  return {
    input: { data: r.floats(C * side * side), shape: [C, side, side] },
    weight: { data: r.floats(K * C * KH * KH), shape: [K, C, KH, KH] },
  };
}

describe('concurrent async calls', () => {
  it('400 calls with random shapes in flight at once, interleaved with sync calls, all correct', async () => {
    const cases = Array.from({ length: 400 }, randomCase);
    const pending = cases.map((c, i) => {
      const p = conv2d(c.input, c.weight, c.options);
      if (i % 10 === 0) { // sync calls on the main thread while the pool works
        const s = cases[(i * 7) % cases.length];
        expect(relError(conv2dSync(s.input, s.weight, s.options).data, s.ref)).toBeLessThan(1e-5);
      }
      return p;
    });
    const results = await Promise.all(pending);
    results.forEach((y, i) => {
      const err = relError(y.data, cases[i].ref);
      if (!(err < 1e-5)) throw new Error(`case ${i}: rel err ${err} (${JSON.stringify(cases[i].input.shape)} ${JSON.stringify(cases[i].weight.shape)})`);
    });
  });

  it('concurrent calls sharing one input, weight and bias, each with its own out', async () => {
    const c = randomCase();
    const size = c.ref.length;
    const outs = Array.from({ length: 100 }, () => new Float32Array(size).fill(NaN));
    const ys = await Promise.all(outs.map((out) => conv2d(c.input, c.weight, { ...c.options, out })));
    ys.forEach((y, i) => {
      expect(y.data).toBe(outs[i]);
      expect(relError(y.data, c.ref)).toBeLessThan(1e-5);
    });
  });

  it('a mix of good and bad calls in flight: the bad ones reject, the good ones are right', async () => {
    const cases = Array.from({ length: 100 }, randomCase);
    const settled = await Promise.allSettled(cases.map((c, i) =>
      i % 3 === 0 ? conv2d(c.input, c.weight, { ...c.options, groups: 0 }) : conv2d(c.input, c.weight, c.options)));
    settled.forEach((s, i) => {
      if (i % 3 === 0) {
        expect(s.status).toBe('rejected');
        expect((s as PromiseRejectedResult).reason.code).toBe('ERR_CHANNELCONV_INVALID_OPTION');
      } else {
        expect(s.status).toBe('fulfilled');
        expect(relError((s as PromiseFulfilledResult<Tensor>).value.data, cases[i].ref)).toBeLessThan(1e-5);
      }
    });
  });
});

describe('touching arguments while an async call runs', () => {
  // Input, weight and bias are copied when conv2d is called, so the result is that of the values
  // at call time whatever happens to the arrays afterwards.
  it('mutating input, weight and bias during the call does not change the result', async () => {
    const c = randomCase();
    const p = conv2d(c.input, c.weight, c.options);
    c.input.data.fill(NaN);
    c.weight.data.fill(1e30);
    c.options.bias?.fill(NaN);
    expect(relError((await p).data, c.ref)).toBeLessThan(1e-5);
  });

  it('transferring (detaching) input and weight during a big call does not change the result', async () => {
    const { input, weight } = bigCase(2e8);
    const ref = refConvSampled(input, weight);
    const p = conv2d(input, weight);
    const moved = [structuredClone(input.data.buffer, { transfer: [input.data.buffer] }),
      structuredClone(weight.data.buffer, { transfer: [weight.data.buffer] })];
    expect(input.data.length).toBe(0); // detached
    moved.length = 0;
    const y = await p;
    ref.check(y.data);
  });

  it('detaching `out` during the call rejects with ERR_CHANNELCONV_INVALID_TYPE; later calls are fine', async () => {
    const { input, weight } = bigCase(1e8);
    const size = convCost(input.shape, weight.shape).outputShape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(size);
    const p = conv2d(input, weight, { out });
    structuredClone(out.buffer, { transfer: [out.buffer] });
    await expect(p).rejects.toMatchObject({ code: 'ERR_CHANNELCONV_INVALID_TYPE', message: expect.stringContaining('options.out') });
    const c = randomCase();
    expect(relError((await conv2d(c.input, c.weight, c.options)).data, c.ref)).toBeLessThan(1e-5);
  });

  it('shrinking a resizable `out` during the call rejects; the process is fine', async () => {
    const { input, weight } = bigCase(1e8);
    const size = convCost(input.shape, weight.shape).outputShape.reduce((a, b) => a * b, 1);
    const rab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(4 * size, { maxByteLength: 4 * size });
    const out = new Float32Array(rab);
    const p = conv2d(input, weight, { out });
    rab.resize(4);
    await expect(p).rejects.toMatchObject({ code: 'ERR_CHANNELCONV_INVALID_TYPE' });
  });

  it.skipIf(!canSpawnNode())('transfer + GC while a call runs, in a child process with --expose-gc: no crash, right result', () => {
    // The freed memory of a transferred ArrayBuffer is unmapped by GC: reading it would crash. This
    // crashed (SIGSEGV) before async calls copied their inputs.
    const script = `
      const cc = require(${JSON.stringify(entry)});
      (async () => {
        const C = 32, H = 128;
        const mk = (n, v) => new Float32Array(n).fill(v);
        for (let i = 0; i < 4; i++) {
          const x = { data: mk(C * H * H, 1), shape: [C, H, H] };
          const w = { data: mk(32 * C * 9, 1), shape: [32, C, 3, 3] };
          const out = mk(32 * (H - 2) * (H - 2), 0);
          const p1 = cc.conv2d(x, w);
          const p2 = cc.conv2d(x, w, { out });
          let t = structuredClone(x.data.buffer, { transfer: [x.data.buffer] });
          let u = structuredClone(w.data.buffer, { transfer: [w.data.buffer] });
          t = u = null;
          global.gc();
          const junk = []; for (let j = 0; j < 8; j++) junk.push(mk(C * H * H, NaN));
          const y = await p1;
          if (y.data[0] !== 288 || y.data[y.data.length - 1] !== 288) throw new Error('wrong result ' + y.data[0]);
          await p2;
          if (out[0] !== 288) throw new Error('wrong out ' + out[0]);
        }
        console.log('survived');
      })().catch((e) => { console.error(e); process.exit(3); });
    `;
    const res = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(res.stderr).toBe('');
    expect(res.signal).toBeNull();
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('survived');
  });
});

// Checks a big output at a few hundred sampled points (the full float64 reference would be slow).
function refConvSampled(input: Tensor, weight: Tensor) {
  const [C, H, Wd] = input.shape;
  const [K, , KH, KW] = weight.shape;
  const OH = H - KH + 1, OW = Wd - KW + 1;
  const x = Float32Array.from(input.data), w = Float32Array.from(weight.data);
  const points = Array.from({ length: 300 }, () => [r.int(0, K - 1), r.int(0, OH - 1), r.int(0, OW - 1)]);
  const want = points.map(([k, oh, ow]) => {
    let acc = 0;
    for (let c = 0; c < C; c++)
      for (let i = 0; i < KH; i++)
        for (let j = 0; j < KW; j++) acc += x[(c * H + oh + i) * Wd + ow + j] * w[((k * C + c) * KH + i) * KW + j];
    return acc;
  });
  return {
    check(y: Float32Array) {
      expect(y.length).toBe(K * OH * OW);
      const got = points.map(([k, oh, ow]) => y[(k * OH + oh) * OW + ow]);
      expect(relError(got, want)).toBeLessThan(1e-5);
    },
  };
}

// --- worker_threads -----------------------------------------------------------------------------
const workerScript = `
const { parentPort, workerData } = require('worker_threads');
const cc = require(workerData.entry);
parentPort.on('message', async (msg) => {
  if (msg.kind === 'cases') {
    const out = [];
    for (const c of msg.cases) {
      const ys = await Promise.all([cc.conv2d(c.input, c.weight, c.options), cc.conv2d(c.input, c.weight, c.options)]);
      const s = cc.conv2dSync(c.input, c.weight, c.options);
      out.push([ys[0].data, ys[1].data, s.data]);
    }
    parentPort.postMessage(out);
  } else if (msg.kind === 'long') {
    const { input, weight } = msg;
    parentPort.postMessage('started');
    if (msg.sync) cc.conv2dSync(input, weight);
    else await Promise.all(Array.from({ length: msg.calls }, () => cc.conv2d(input, weight)));
    parentPort.postMessage('finished');
  }
});
`;

function startWorker(): Worker {
  return new Worker(workerScript, { eval: true, workerData: { entry } });
}

describe('worker_threads', () => {
  it('4 workers and the main thread compute at once, all correct', async () => {
    const perWorker = Array.from({ length: 4 }, () => Array.from({ length: 25 }, randomCase));
    const workers = perWorker.map(() => startWorker());
    try {
      const results = await Promise.all(workers.map((w, i) => new Promise<Float32Array[][]>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.postMessage({ kind: 'cases', cases: perWorker[i].map(({ input, weight, options }) => ({ input, weight, options })) });
      })));
      const mainCases = Array.from({ length: 50 }, randomCase);
      for (const c of mainCases) expect(relError((await conv2d(c.input, c.weight, c.options)).data, c.ref)).toBeLessThan(1e-5);
      results.forEach((res, wi) => res.forEach((ys, ci) => {
        for (const y of ys) expect(relError(y, perWorker[wi][ci].ref)).toBeLessThan(1e-5);
      }));
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });

  for (const mode of ['sync', 'async'] as const) {
    it(`a worker terminated in the middle of long ${mode} native calls: the process survives`, async () => {
      // Long enough (seconds) that the worker is inside the native call when it is terminated.
      const { input, weight } = bigCase(mode === 'sync' ? 6e9 : 1.5e9);
      const w = startWorker();
      const exited = new Promise<number>((resolve) => w.once('exit', resolve));
      let finished = false;
      const started = new Promise<void>((resolve) => w.on('message', (m) => {
        if (m === 'started') resolve();
        if (m === 'finished') finished = true;
      }));
      w.postMessage({ kind: 'long', sync: mode === 'sync', calls: 8, input, weight });
      await started;
      await new Promise((res) => setTimeout(res, 20));
      await w.terminate();
      expect(await exited).toBe(1);
      // V8 may let the worker post 'finished' between the native call's return and the termination.
      void finished;
      // This process still computes correctly, sync and async.
      const c = randomCase();
      expect(relError(conv2dSync(c.input, c.weight, c.options).data, c.ref)).toBeLessThan(1e-5);
      expect(relError((await conv2d(c.input, c.weight, c.options)).data, c.ref)).toBeLessThan(1e-5);
    });
  }

  it.skipIf(!canSpawnNode())('a worker that is the only user of the addon exits or is terminated after parallel calls (child process)', () => {
    // Node unloads an addon when the last environment using it exits; libgomp's pool threads must
    // not be left running in unmapped code (the addon is linked -z nodelete). Crashed before.
    const script = `
      const { Worker } = require('worker_threads');
      const src = \`
        const { parentPort, workerData } = require('worker_threads');
        const cc = require(workerData.entry);
        const C = 32, H = 96;
        const x = { data: new Float32Array(C * H * H).fill(1), shape: [C, H, H] };
        const w = { data: new Float32Array(32 * C * 9).fill(1), shape: [32, C, 3, 3] };
        const y = cc.conv2dSync(x, w, { threads: 2 });
        cc.conv2d(x, w, { threads: 2 }).then((z) => parentPort.postMessage(y.data[0] + z.data[0]));
      \`;
      (async () => {
        for (let i = 0; i < 6; i++) {
          const wk = new Worker(src, { eval: true, workerData: { entry: ${JSON.stringify(entry)} } });
          const exited = new Promise((res) => wk.once('exit', res));
          const v = await new Promise((res, rej) => { wk.once('message', res); wk.once('error', rej); });
          if (v !== 576) throw new Error('wrong ' + v);
          if (i % 2) await wk.terminate(); else await exited; // natural exit
          await new Promise((res) => setTimeout(res, 20));
        }
        console.log('survived');
      })().catch((e) => { console.error(e); process.exit(3); });
    `;
    const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
    if (res.status !== 0) console.log('child:', res.status, res.signal, res.stdout, res.stderr, res.error);
    expect(res.signal).toBeNull();
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('survived');
  });

  it.skipIf(!canSpawnNode())('process.exit() while async calls and a worker\'s sync call are running exits cleanly (child process)', () => {
    for (const delay of [0, 15, 40]) {
      const script = `
        const { Worker } = require('worker_threads');
        const cc = require(${JSON.stringify(entry)});
        const x = { data: new Float32Array(64 * 200 * 200).fill(1), shape: [64, 200, 200] };
        const w = { data: new Float32Array(64 * 64 * 9).fill(1), shape: [64, 64, 3, 3] };
        for (let i = 0; i < 6; i++) cc.conv2d(x, w);
        new Worker('const cc = require(' + JSON.stringify(${JSON.stringify(entry)}) + '); const x = { data: new Float32Array(64 * 200 * 200), shape: [64, 200, 200] }; cc.conv2dSync(x, { data: new Float32Array(64 * 64 * 9), shape: [64, 64, 3, 3] });', { eval: true });
        setTimeout(() => process.exit(7), ${delay});
      `;
      const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
      expect(res.signal, res.stderr).toBeNull();
      expect(res.status, res.stderr).toBe(7);
    }
  });

  it('many workers started and terminated at random moments while calling', async () => {
    const { input, weight } = bigCase(5e7);
    for (let round = 0; round < 3; round++) {
      const ws = Array.from({ length: 4 }, () => startWorker());
      ws.forEach((w, i) => w.postMessage({ kind: 'long', sync: i % 2 === 0, calls: 4, input, weight }));
      await new Promise((res) => setTimeout(res, r.int(0, 40)));
      await Promise.all(ws.map((w) => w.terminate()));
    }
    const c = randomCase();
    expect(relError((await conv2d(c.input, c.weight, c.options)).data, c.ref)).toBeLessThan(1e-5);
  });
});
