// Default outputs of big calls (lib/output.ts: uninitialized arrays; native/binding/block_cache.cpp:
// recycled blocks for async copies and outputs). Whatever memory they come from, every call must
// return a new array of its own (exactly the output's size, not shared with any other result), with
// every element computed: compared with a call into a NaN-poisoned `out`.
import { describe, expect, it } from 'vitest';
import * as cc from '../lib/index';
import { rng, seedFromEnv } from './helpers';

const seed = seedFromEnv();
const r = rng(seed);
console.log(`outputs.test seed ${seed} (CHANNELCONV_SEED=${seed} to replay)`);

// Outputs above the 16384-element threshold (and the cache's 64 KB), plus a tiny one below.
const cases = [
  { x: [2, 8, 40, 44], w: [16, 8, 3, 3], o: { padding: 1 } },
  { x: [1, 16, 64, 64], w: [8, 16, 1, 1], o: {} },
  { x: [2, 8, 30, 30], w: [8, 1, 3, 3], o: { padding: 1, groups: 8 } },
  { x: [1, 2, 3, 3], w: [1, 2, 2, 2], o: {} },
];

const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
// Index of the first element that differs (bitwise equal floats expected: same kernel, same input), or -1.
const firstDiff = (a: Float32Array, b: Float32Array) => {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return a.length === b.length ? -1 : a.length;
};

describe('default outputs', () => {
  for (const c of cases) {
    it(`x ${c.x} w ${c.w}: sync, async and prepared results are complete and unshared`, async () => {
      const x = { data: r.floats(n(c.x)), shape: c.x };
      const w = { data: r.floats(n(c.w)), shape: c.w };
      const bias = r.floats(c.w[0]);
      const o = { ...c.o, bias, threads: 2 };
      const size = n(cc.convCost(c.x, c.w, o).outputShape);
      const want = new Float32Array(size).fill(NaN);
      cc.conv2dSync(x, w, { ...o, out: want });
      expect(want.every((v) => Number.isFinite(v))).toBe(true);
      const layer = cc.createConv2d(w, o);
      const results: Float32Array[] = [];
      // Several rounds, keeping every result alive: recycled memory must never be handed out twice.
      for (let round = 0; round < 4; round++) {
        results.push(cc.conv2dSync(x, w, o).data as Float32Array);
        results.push((await cc.conv2d(x, w, o)).data as Float32Array);
        results.push(layer.runSync(x).data);
        results.push((await layer.run(x)).data);
      }
      layer.dispose();
      const buffers = new Set<ArrayBufferLike>();
      for (const y of results) {
        expect(y).toBeInstanceOf(Float32Array);
        expect(y.length).toBe(size);
        expect(y.byteOffset).toBe(0);
        expect(y.buffer.byteLength).toBe(4 * size);
        expect(firstDiff(y, want)).toBe(-1);
        buffers.add(y.buffer);
      }
      expect(buffers.size).toBe(results.length);
      // Writing one result changes no other.
      results[0].fill(7);
      for (const y of results.slice(1)) expect(firstDiff(y, want)).toBe(-1);
    });
  }

  it('results of dropped async calls are recycled without corrupting later ones', async () => {
    const c = cases[0];
    const x = { data: r.floats(n(c.x)), shape: c.x };
    const w = { data: r.floats(n(c.w)), shape: c.w };
    const want = cc.conv2dSync(x, w, c.o).data.slice();
    for (let i = 0; i < 40; i++) {
      const y = (await cc.conv2d(x, w, c.o)).data;
      expect(firstDiff(y, want)).toBe(-1);
      y.fill(-1); // a dropped result scribbled on: must not show up in the next one
      if (i % 10 === 9) await new Promise((res) => setImmediate(res)); // finalizers run
    }
  });
});
