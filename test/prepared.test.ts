// Prepared layers (createConv2d, from the CPU-speed issue), held to the same reliability bar as
// conv2d: hostile arguments give coded errors, use after dispose() is a coded error (never a crash),
// dispose() during calls in flight is safe, the weights are the ones given at creation (changing or
// transferring the caller's array later changes nothing), and a layer dropped without dispose() is
// freed by the FinalizationRegistry backstop. Skipped while the build has no createConv2d.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import * as cc from '../lib/index';
import { canSpawnNode, relError, rng, seedFromEnv } from './helpers';

interface Layer {
  run(input: cc.Tensor): Promise<cc.Tensor>;
  runSync(input: cc.Tensor): cc.Tensor;
  cost(inputShape: number[]): unknown;
  dispose(): void;
}
const create = (cc as unknown as { createConv2d?: (w: unknown, o?: unknown) => Layer }).createConv2d;
const entry = path.join(__dirname, '..', 'dist', 'index.js');
const seed = seedFromEnv();
const r = rng(seed);
const coded = (e: unknown) => e instanceof Error && /^ERR_CHANNELCONV_/.test(String((e as { code?: unknown }).code));

const W = () => ({ data: r.floats(6 * 4 * 3 * 3), shape: [6, 4, 3, 3] });
const X = () => ({ data: r.floats(2 * 4 * 9 * 11), shape: [2, 4, 9, 11] });

// JSON for a failure message; options with throwing getters cannot be stringified.
const safeJson = (v: unknown): string => {
  try {
    return JSON.stringify(v);
  } catch (e) {
    return `<unprintable: ${(e as Error).message}>`;
  }
};

describe.skipIf(!create)('prepared layers (createConv2d)', () => {
  console.log(`prepared.test.ts seed ${seed}`);
  const make = create!;

  it('run and runSync equal conv2dSync with the same weight and options', async () => {
    for (const options of [{}, { padding: 'same', stride: 2 }, { bias: r.floats(6), dilation: [2, 1] }, { groups: 2 }]) {
      const weight = (options as { groups?: number }).groups ? { data: r.floats(6 * 2 * 9), shape: [6, 2, 3, 3] } : W();
      const layer = make(weight, options);
      try {
        for (let k = 0; k < 3; k++) {
          const x = X();
          const want = cc.conv2dSync(x, weight, options as cc.Conv2dOptions);
          expect(relError(layer.runSync(x).data, want.data)).toBeLessThan(1e-5);
          const y = await layer.run(x);
          expect(y.shape).toEqual(want.shape);
          expect(relError(y.data, want.data)).toBeLessThan(1e-5);
        }
      } finally {
        layer.dispose();
      }
    }
  });

  it('hostile arguments give coded errors: at creation, and at run time (sync throws, async rejects)', async () => {
    const badCreate: [unknown, unknown][] = [
      [null, undefined], [{ data: new Float64Array(9), shape: [1, 1, 3, 3] }, undefined], [W(), { stride: 0 }],
      [W(), { strides: 1 }], [W(), { bias: new Float32Array(5) }], [{ data: new Float32Array(9), shape: [1, 1, 3] }, undefined],
      [W(), { padding: Symbol('p') }], [W(), Object.defineProperty({}, 'groups', { get() { throw new Error('boom'); }, enumerable: true })],
    ];
    for (const [w, o] of badCreate) {
      // Refused at creation, or (at the latest) by the first run.
      let err: unknown;
      try {
        const l = make(w, o);
        try { l.runSync(X()); } finally { l.dispose(); }
      } catch (e) { err = e; }
      expect(coded(err), `createConv2d(${String(w)}, ${safeJson(o)}) gave ${String(err)}`).toBe(true);
    }
    const weight = W();
    const layer = make(weight);
    try {
      const badInputs: unknown[] = [null, { data: new Float32Array(10), shape: [2, 4, 9, 11] }, { data: r.floats(3 * 81), shape: [3, 9, 9] },
        { data: new Float64Array(4 * 81), shape: [4, 9, 9] }, { data: new Float32Array(4), shape: [4, 1, 1] }, 5n];
      for (const x of badInputs) {
        let err: unknown;
        try { layer.runSync(x as never); } catch (e) { err = e; }
        expect(coded(err), `runSync gave ${String(err)}`).toBe(true);
        let p: Promise<unknown> | undefined;
        expect(() => { p = layer.run(x as never); }).not.toThrow();
        const rej = await p!.then(() => undefined, (e) => e);
        expect(coded(rej), `run gave ${String(rej)}`).toBe(true);
      }
      const x = X(); // and the layer still works
      expect(relError(layer.runSync(x).data, cc.conv2dSync(x, weight).data)).toBeLessThan(1e-5);
    } finally {
      layer.dispose();
    }
  });

  it('use after dispose() is a coded error; dispose() twice is fine', async () => {
    const layer = make(W());
    layer.dispose();
    expect(() => layer.dispose()).not.toThrow();
    let err: unknown;
    try { layer.runSync(X()); } catch (e) { err = e; }
    expect(coded(err), String(err)).toBe(true);
    const rej = await layer.run(X()).then(() => undefined, (e) => e);
    expect(coded(rej), String(rej)).toBe(true);
  });

  it('dispose() while calls are in flight: each resolves correctly or rejects with a coded error', async () => {
    const weight = { data: r.floats(32 * 32 * 9), shape: [32, 32, 3, 3] };
    const layer = make(weight);
    const x = { data: r.floats(32 * 64 * 64), shape: [32, 64, 64] };
    const want = cc.conv2dSync(x, weight);
    const inflight = Array.from({ length: 20 }, () => layer.run(x));
    layer.dispose();
    const settled = await Promise.allSettled(inflight);
    for (const s of settled) {
      if (s.status === 'fulfilled') expect(relError(s.value.data, want.data)).toBeLessThan(1e-5);
      else expect(coded(s.reason), String(s.reason)).toBe(true);
    }
  });

  it('the weights are those given at creation: changing or transferring the array later changes nothing', async () => {
    const weight = W();
    const x = X();
    const want = cc.conv2dSync(x, weight);
    const layer = make(weight);
    try {
      weight.data.fill(NaN);
      expect(relError(layer.runSync(x).data, want.data)).toBeLessThan(1e-5);
      structuredClone(weight.data.buffer, { transfer: [weight.data.buffer] });
      expect(relError((await layer.run(x)).data, want.data)).toBeLessThan(1e-5);
    } finally {
      layer.dispose();
    }
  });

  it.skipIf(!canSpawnNode())('transferring the input during run() + GC: no crash, the result of the input at call time (child process)', () => {
    // The same hazard as conv2d's (docs/RELIABILITY.md): detached memory is freed by GC under the pool thread.
    const script = `
      const cc = require(${JSON.stringify(entry)});
      (async () => {
        const C = 32, H = 128;
        const layer = cc.createConv2d({ data: new Float32Array(32 * C * 9).fill(1), shape: [32, C, 3, 3] });
        for (let i = 0; i < 4; i++) {
          const x = { data: new Float32Array(C * H * H).fill(1), shape: [C, H, H] };
          const p = layer.run(x);
          let t = structuredClone(x.data.buffer, { transfer: [x.data.buffer] });
          t = null;
          global.gc();
          const junk = []; for (let j = 0; j < 8; j++) junk.push(new Float32Array(C * H * H).fill(NaN));
          const y = await p;
          if (y.data[0] !== 288) throw new Error('wrong result ' + y.data[0]);
        }
        layer.dispose();
        console.log('survived');
      })().catch((e) => { console.error(e); process.exit(3); });
    `;
    const res = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(res.signal, res.stderr).toBeNull();
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toContain('survived');
  });

  it.skipIf(!canSpawnNode())('layers dropped without dispose() are freed (FinalizationRegistry backstop), in a child process', () => {
    // 4000 layers of 1.2 MB of weights each: 4.8 GB if none were ever freed.
    const script = `
      const cc = require(${JSON.stringify(entry)});
      const w = { data: new Float32Array(128 * 256 * 9).fill(0.01), shape: [128, 256, 3, 3] };
      const x = { data: new Float32Array(256 * 3 * 3).fill(1), shape: [256, 3, 3] };
      const rss = () => process.memoryUsage().rss / 2 ** 20;
      (async () => {
        let r0 = 0;
        for (let i = 0; i < 4000; i++) {
          const layer = cc.createConv2d(w);
          if (i % 2) await layer.run(x); else layer.runSync(x);
          if (i % 200 === 199) { global.gc(); await new Promise((r) => setTimeout(r, 5)); }
          if (i === 399) r0 = rss();
        }
        global.gc(); await new Promise((r) => setTimeout(r, 50)); global.gc();
        console.log(JSON.stringify({ r0, r1: rss() }));
      })().catch((e) => { console.error(e); process.exit(3); });
    `;
    const res = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 300_000 });
    expect(res.signal, res.stderr).toBeNull();
    expect(res.status, res.stderr).toBe(0);
    const { r0, r1 } = JSON.parse(res.stdout.trim().split('\n').pop()!);
    console.log(`prepared layers without dispose(): RSS ${r0.toFixed(0)} MB after 400 layers, ${r1.toFixed(0)} MB after 4000`);
    expect(r1 - r0).toBeLessThan(400);
  });
});
