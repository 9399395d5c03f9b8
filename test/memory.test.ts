// Native memory an async call holds (input/weight/bias copies, its output buffer, the workspace) and
// what a prepared layer holds are reported to V8 with AdjustExternalMemory, and taken off again when
// the call ends (resolved or rejected) or the layer is disposed. The binding's externalMemory() is
// the addon's own running total of what it reported in this environment: unlike V8's process-wide
// figure it does not move when unrelated ArrayBuffers are collected (other suites, other tests), so
// these assertions are exact. (Balance over 100k+ calls, after forced GCs: npm run test:soak.)
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import type { Binding } from '../binding';
import { conv2d, convCost, createConv2d } from '../lib/index';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const b = require('node-gyp-build')(path.join(__dirname, '..')) as Binding;
// Native blocks are 64-byte aligned and sized.
const block = (floats: number) => Math.ceil((4 * floats) / 64) * 64;
const settle = () => new Promise((res) => setTimeout(res, 0)); // the worker is destroyed after the promise settles

describe('external memory reported to V8', () => {
  it('an async call adds its copies, output and workspace while it runs; all of it comes off when it ends', async () => {
    const input = { data: new Float32Array(64 * 96 * 96).fill(1), shape: [64, 96, 96] };
    const weight = { data: new Float32Array(64 * 64 * 9).fill(1), shape: [64, 64, 3, 3] };
    const bias = new Float32Array(64);
    const cost = convCost(input.shape, weight.shape, { threads: 2 });
    const outFloats = cost.outputShape.reduce((a, v) => a * v, 1);
    const expected = block(input.data.length) + block(weight.data.length) + block(bias.length) + block(outFloats) +
      block(cost.workspaceBytes / 4);
    const before = b.externalMemory();
    const p = conv2d(input, weight, { bias, threads: 2 });
    expect(b.externalMemory() - before).toBe(expected);
    const y = await p;
    await settle();
    // The output array is V8's now (an external ArrayBuffer it counts itself); the addon's part is off.
    expect(b.externalMemory()).toBe(before);
    expect(y.data[0]).toBe(64 * 9);
  });

  it('a caller out: the call reports its own output block too, and everything comes off', async () => {
    const input = { data: new Float32Array(8 * 64 * 64).fill(1), shape: [8, 64, 64] };
    const weight = { data: new Float32Array(8 * 8 * 9).fill(1), shape: [8, 8, 3, 3] };
    const out = new Float32Array(8 * 62 * 62);
    const before = b.externalMemory();
    const p = conv2d(input, weight, { out, threads: 1 });
    expect(b.externalMemory() - before).toBeGreaterThanOrEqual(block(input.data.length) + block(weight.data.length) + block(out.length));
    await p;
    await settle();
    expect(b.externalMemory()).toBe(before);
    expect(out[0]).toBe(72);
  });

  it('a rejected call (out detached meanwhile) takes its memory off too', async () => {
    const input = { data: new Float32Array(16 * 64 * 64).fill(1), shape: [16, 64, 64] };
    const weight = { data: new Float32Array(16 * 16 * 9).fill(1), shape: [16, 16, 3, 3] };
    const out = new Float32Array(16 * 62 * 62);
    const before = b.externalMemory();
    const p = conv2d(input, weight, { out });
    expect(b.externalMemory()).toBeGreaterThan(before);
    structuredClone(out.buffer, { transfer: [out.buffer] });
    await expect(p).rejects.toMatchObject({ code: 'ERR_CHANNELCONV_INVALID_TYPE' });
    await settle();
    expect(b.externalMemory()).toBe(before);
  });

  it('a prepared layer reports what it holds (weights, then the panels it packs) until disposed', async () => {
    const weight = { data: new Float32Array(32 * 16 * 9).fill(1), shape: [32, 16, 3, 3] };
    const before = b.externalMemory();
    const layer = createConv2d(weight, { bias: new Float32Array(32) });
    expect(b.externalMemory() - before).toBe(layer.bytes);
    expect(layer.bytes).toBe(4 * (weight.data.length + 32));
    const x = { data: new Float32Array(16 * 40 * 40).fill(1), shape: [16, 40, 40] };
    layer.runSync(x); // the implicit GEMM packs the weights on first use
    expect(layer.bytes).toBeGreaterThan(4 * (weight.data.length + 32));
    expect(b.externalMemory() - before).toBe(layer.bytes);
    await layer.run(x);
    await settle();
    expect(b.externalMemory() - before).toBe(layer.bytes);
    layer.dispose();
    expect(b.externalMemory()).toBe(before);
  });
});
