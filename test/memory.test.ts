// Native memory an async call holds (input/weight/bias copies, its output buffer, the workspace) is
// reported to V8 with AdjustExternalMemory while the call runs, and taken off again when it ends,
// whether it resolves or rejects. (Balance over 100k+ calls, after forced GCs, is checked by
// scripts/soak.js: npm run test:soak.)
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import type { Binding } from '../binding';
import { conv2d, convCost } from '../lib/index';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const b = require('node-gyp-build')(path.join(__dirname, '..')) as Binding;
// V8 moves its own count by a few bytes for its internal buffers; ours are megabytes.
const SLACK = 64 * 1024;

describe('external memory reported to V8', () => {
  it('an async call adds its copies, output and workspace while it runs; they come off when it ends', async () => {
    const input = { data: new Float32Array(64 * 96 * 96).fill(1), shape: [64, 96, 96] };
    const weight = { data: new Float32Array(64 * 64 * 9).fill(1), shape: [64, 64, 3, 3] };
    const bias = new Float32Array(64);
    const cost = convCost(input.shape, weight.shape, { threads: 2 });
    const outBytes = 4 * cost.outputShape.reduce((a, v) => a * v, 1);
    const expected = 4 * (input.data.length + weight.data.length + bias.length) + outBytes + cost.workspaceBytes;
    const before = b.externalMemory();
    const p = conv2d(input, weight, { bias, threads: 2 });
    const during = b.externalMemory();
    expect(during - before).toBe(expected);
    const y = await p;
    await new Promise((res) => setTimeout(res, 0)); // the worker is destroyed after the promise settles
    // What is left is the output array itself, now an ArrayBuffer V8 counts on its own.
    const after = b.externalMemory();
    expect(after - before).toBeLessThanOrEqual(outBytes + 65536);
    expect(after - before).toBeGreaterThanOrEqual(0);
    expect(y.data[0]).toBe(64 * 9);
  });

  it('a caller out: the native output buffer is reported too, and everything comes off', async () => {
    const input = { data: new Float32Array(8 * 64 * 64).fill(1), shape: [8, 64, 64] };
    const weight = { data: new Float32Array(8 * 8 * 9).fill(1), shape: [8, 8, 3, 3] };
    const out = new Float32Array(8 * 62 * 62);
    const before = b.externalMemory();
    const p = conv2d(input, weight, { out, threads: 1 });
    expect(b.externalMemory() - before).toBeGreaterThanOrEqual(4 * (input.data.length + weight.data.length + out.length));
    await p;
    await new Promise((res) => setTimeout(res, 0));
    expect(Math.abs(b.externalMemory() - before)).toBeLessThan(SLACK);
    expect(out[0]).toBe(72);
  });

  it('a rejected call (out detached meanwhile) takes its memory off too', async () => {
    const input = { data: new Float32Array(16 * 64 * 64).fill(1), shape: [16, 64, 64] };
    const weight = { data: new Float32Array(16 * 16 * 9).fill(1), shape: [16, 16, 3, 3] };
    const out = new Float32Array(16 * 62 * 62);
    const before = b.externalMemory();
    const p = conv2d(input, weight, { out });
    structuredClone(out.buffer, { transfer: [out.buffer] });
    await expect(p).rejects.toMatchObject({ code: 'ERR_CHANNELCONV_INVALID_TYPE' });
    await new Promise((res) => setTimeout(res, 0));
    expect(Math.abs(b.externalMemory() - before)).toBeLessThan(SLACK);
  });
});
