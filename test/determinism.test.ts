// Determinism: the same inputs and thread count give bit-identical outputs (sync, async, repeated);
// different thread counts agree within the documented tolerance (relative error 1e-5, the same bound
// as against the float64 reference; see docs/RELIABILITY.md).
import { describe, expect, it } from 'vitest';
import { conv2d, conv2dSync, type Conv2dOptions, type Tensor } from '../lib/index';
import { refConv, relError, rng, seedFromEnv } from './helpers';

const seed = seedFromEnv();
console.log(`determinism.test.ts seed ${seed} (CHANNELCONV_SEED=${seed} to replay)`);
const r = rng(seed);

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && bits(a).every((v, i) => v === bits(b)[i]);

interface Case { input: Tensor; weight: Tensor; options: Conv2dOptions; label: string }
function cases(): Case[] {
  const out: Case[] = [];
  // Small random shapes, and larger ones that span many column tiles and GEMM blocks.
  const dims = [
    ...Array.from({ length: 8 }, () => [r.int(1, 6), r.int(1, 9), r.int(3, 20), r.int(1, 5), r.pick([1, 2])]),
    [64, 64, 40, 3, 1], [3, 32, 70, 7, 2], [128, 96, 17, 1, 1], [32, 48, 33, 5, 1],
  ];
  for (const [C, K, H, KH, stride] of dims) {
    const layout = r.pick(['NCHW', 'NHWC'] as const);
    out.push({
      input: { data: r.floats(2 * C * H * (H + 3)), shape: layout === 'NCHW' ? [2, C, H, H + 3] : [2, H, H + 3, C] },
      weight: { data: r.floats(K * C * KH * KH), shape: [K, C, KH, KH] },
      options: { stride, padding: 'same', layout, bias: r.floats(K) },
      label: `C=${C} K=${K} H=${H} KH=${KH} stride=${stride} ${layout}`,
    });
  }
  return out;
}

describe('determinism', () => {
  const all = cases();
  for (const c of all) {
    it(`${c.label}: same threads -> identical bits (sync x3, async x3); threads 1/2/3/default within 1e-5`, async () => {
      const byThreads = new Map<number | undefined, Float32Array>();
      for (const threads of [1, 2, 3, undefined]) {
        const o = { ...c.options, threads };
        const first = conv2dSync(c.input, c.weight, o).data;
        for (let k = 0; k < 2; k++) expect(sameBits(conv2dSync(c.input, c.weight, o).data, first)).toBe(true);
        const asyncs = await Promise.all([0, 1, 2].map(() => conv2d(c.input, c.weight, o)));
        for (const y of asyncs) expect(sameBits(y.data, first)).toBe(true);
        byThreads.set(threads, first);
      }
      const one = byThreads.get(1)!;
      for (const [, y] of byThreads) expect(relError(y, one)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('different thread counts also agree with the float64 reference', () => {
    const input = { data: r.floats(64 * 40 * 43), shape: [64, 40, 43] };
    const weight = { data: r.floats(64 * 64 * 9), shape: [64, 64, 3, 3] };
    const ref = refConv(input, weight, { padding: [1, 1, 1, 1] }).data;
    for (const threads of [1, 2, 3]) expect(relError(conv2dSync(input, weight, { padding: 1, threads }).data, ref)).toBeLessThan(1e-5);
  });
});
