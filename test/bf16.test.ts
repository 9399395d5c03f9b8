// precision 'bf16' through the public API: inputs and weights rounded to bfloat16, float32 sums. Each
// result is compared with a float64 convolution of the inputs rounded here, independently of the
// native code (bf16Round), which the native result must match tightly; and with the exact float64
// result, which it must match within the accuracy bound (README, "Precision"). Every kernel set this
// CPU runs, forced with CHANNELCONV_ISA in a child process (native AVX512_BF16 and the emulations),
// gives the same results.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import {
  backendInfo, conv2d, conv2dBackward, conv2dBackwardSync, conv2dSync, conv2dTransposeSync, convCost, createConv2d,
  type Tensor,
} from '../lib/index';
import { refConv, refConvTranspose, refGrads, relError, rng, seedFromEnv, type RefOptions } from './helpers';

const seed = seedFromEnv();
console.log(`bf16.test seed ${seed} (replay with CHANNELCONV_SEED=${seed})`);

/**
 * v rounded to bfloat16 (8 significant bits, ties to even), by arithmetic on the double value rather
 * than the bit manipulation the native code uses; float32 subnormals become zero (as AVX512_BF16's
 * conversion makes them), NaN and infinities stay.
 */
export function bf16Round(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  if (a < 2 ** -126) return v < 0 ? -0 : 0;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  const t = (a / 2 ** e) * 128; // in [128, 256): the significand with 7 fraction bits above the point
  const f = Math.floor(t);
  const up = t - f > 0.5 || (t - f === 0.5 && f % 2 === 1);
  return Math.sign(v) * Math.fround((up ? f + 1 : f) * 2 ** (e - 7));
}

const rounded = (t: Tensor): Tensor => ({ data: Float32Array.from(t.data, bf16Round), shape: t.shape });

function relL2(y: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (y[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / den);
}

interface Case {
  x: number[]; // NCHW shape
  w: number[]; // OIHW
  pad: number;
  stride?: number;
  dilation?: number;
  groups?: number;
}
// Odd sizes, channel counts odd and even (bf16 pairs channels: an odd last one pairs with zero),
// K crossing the GEMM's K blocks (64 * 25 = 1600 products), 1x1 (the packed GEMM), stride 2,
// dilation, groups, depthwise (the direct kernel on rounded values), a tiny call.
const cases: Case[] = [
  { x: [2, 7, 13, 11], w: [9, 7, 3, 3], pad: 1 },
  { x: [1, 64, 12, 17], w: [19, 64, 5, 5], pad: 2 },
  { x: [3, 33, 9, 10], w: [16, 33, 1, 1], pad: 0 },
  { x: [2, 3, 23, 21], w: [8, 3, 7, 7], pad: 3, stride: 2 },
  { x: [1, 10, 15, 15], w: [12, 5, 3, 3], pad: 2, dilation: 2, groups: 2 },
  { x: [2, 6, 14, 9], w: [6, 1, 3, 3], pad: 1, groups: 6 },
  { x: [1, 2, 3, 3], w: [1, 2, 2, 2], pad: 0 },
];

function setup(c: Case, layout: 'NCHW' | 'NHWC', seedOffset: number) {
  const r = rng(seed + seedOffset);
  const [N, C, H, W] = c.x;
  const x: Tensor = { data: r.floats(N * C * H * W), shape: layout === 'NHWC' ? [N, H, W, C] : c.x };
  const w: Tensor = { data: r.floats(c.w.reduce((a, b) => a * b)), shape: c.w };
  const bias = r.floats(c.w[0]);
  const s = c.stride ?? 1, d = c.dilation ?? 1;
  const ref: RefOptions = {
    padding: [c.pad, c.pad, c.pad, c.pad], stride: [s, s], dilation: [d, d], groups: c.groups ?? 1, bias, layout,
  };
  const opts = {
    padding: c.pad, stride: s, dilation: d, groups: c.groups ?? 1, bias, layout, precision: 'bf16' as const,
  };
  return { x, w, bias, ref, opts };
}

describe("precision: 'bf16'", () => {
  it('matches a float64 convolution of the rounded inputs, both layouts, sync and async', async () => {
    let i = 0;
    for (const c of cases)
      for (const layout of ['NCHW', 'NHWC'] as const) {
        const { x, w, ref, opts } = setup(c, layout, ++i);
        const want = refConv(rounded(x), rounded(w), ref).data;
        const exact = refConv(x, w, ref).data;
        const y = conv2dSync(x, w, opts).data;
        const what = `${JSON.stringify(c)} ${layout}`;
        expect(relError(y, want), what).toBeLessThanOrEqual(1e-5);
        expect(relError((await conv2d(x, w, opts)).data, want), what).toBeLessThanOrEqual(1e-5);
        // And it is not fp32: the rounding shows against the exact result (fp32 would be ~1e-7).
        expect(relError(y, exact), what).toBeGreaterThan(1e-5);
      }
  });

  it('every algorithm that can run the problem, forced, gives that result', () => {
    const names = backendInfo().algorithms;
    let i = 100;
    for (const c of cases)
      for (const layout of ['NCHW', 'NHWC'] as const) {
        const { x, w, ref, opts } = setup(c, layout, ++i);
        const want = refConv(rounded(x), rounded(w), ref).data;
        let ran = 0;
        for (const algorithm of names) {
          let y: Float32Array;
          try {
            y = conv2dSync(x, w, { ...opts, algorithm: algorithm as never }).data;
          } catch (e) {
            expect((e as { code?: string }).code).toBe('ERR_CHANNELCONV_INVALID_OPTION');
            continue;
          }
          ran++;
          expect(relError(y, want), `${algorithm} ${JSON.stringify(c)} ${layout}`).toBeLessThanOrEqual(1e-5);
        }
        expect(ran).toBeGreaterThan(0);
      }
  });

  it('relative L2 error against the exact result stays within the bound of the accuracy table', () => {
    // 64 x 3x3 = 576 products per output, x and w uniform in [-1, 1]: the table measures 2.07e-3.
    const r = rng(seed + 7);
    const x = { data: r.floats(64 * 14 * 14), shape: [1, 64, 14, 14] };
    const w = { data: r.floats(32 * 64 * 9), shape: [32, 64, 3, 3] };
    const e = relL2(conv2dSync(x, w, { precision: 'bf16' }).data, refConv(x, w).data);
    expect(e).toBeLessThanOrEqual(4.2e-3);
    expect(e).toBeGreaterThan(5e-4); // rounding happened
  });

  it("relu and bias stay float32: relu(sum of rounded products + bias)", () => {
    const { x, w, bias, ref, opts } = setup(cases[0], 'NCHW', 300);
    const want = refConv(rounded(x), rounded(w), ref).data.map((v) => (v > 0 ? v : 0));
    expect(bias.some((b) => bf16Round(b) !== b)).toBe(true); // a rounded bias would show
    expect(relError(conv2dSync(x, w, { ...opts, activation: 'relu' }).data, want)).toBeLessThanOrEqual(1e-5);
  });

  it('prepared layers pack bf16 weights once, at half the bytes of fp32 panels', async () => {
    const r = rng(seed + 8);
    const w = { data: r.floats(48 * 64 * 9), shape: [48, 64, 3, 3] };
    const x = { data: r.floats(2 * 64 * 10 * 10), shape: [2, 64, 10, 10] };
    const bias = r.floats(48);
    const options = { padding: 1, bias, algorithm: 'implicit_gemm' as const };
    const f32 = createConv2d(w, options), b16 = createConv2d(w, { ...options, precision: 'bf16' });
    const base = b16.bytes;
    expect(base).toBe(f32.bytes);
    const want = refConv(rounded(x), rounded(w), { padding: [1, 1, 1, 1], bias }).data;
    expect(relError(b16.runSync(x).data, want)).toBeLessThanOrEqual(1e-5);
    expect(relError((await b16.run(x)).data, want)).toBeLessThanOrEqual(1e-5);
    f32.runSync(x);
    const packed32 = f32.bytes - base, packed16 = b16.bytes - base;
    expect(packed32).toBe(48 * 64 * 9 * 4);
    expect(packed16 * 2).toBe(packed32);
    const cost = b16.cost(x.shape), full = convCost(x.shape, w.shape, { ...options, precision: 'bf16' });
    expect({ ...cost, workspaceBytes: 0 }).toEqual({ ...full, workspaceBytes: 0 });
    f32.dispose();
    b16.dispose();
  });

  it('the gradients: input and weight gradients from rounded operands, the bias gradient from gradOutput as given', async () => {
    let i = 400;
    for (const c of cases)
      for (const layout of ['NCHW', 'NHWC'] as const) {
        const { x, w, ref, opts } = setup(c, layout, ++i);
        const { bias: _bias, ...o } = opts;
        const r = rng(seed + i);
        const yShape = conv2dSync(x, w, o).shape;
        const gy: Tensor = { data: r.floats(yShape.reduce((a, b) => a * b)), shape: yShape };
        const geometry = { ...ref, bias: null };
        const want = refGrads(rounded(x), rounded(w), rounded(gy).data, geometry);
        const exact = refGrads(x, w, gy.data, geometry);
        const what = `${JSON.stringify(c)} ${layout}`;
        const names = ['sync', 'async'];
        for (const [k, g] of [conv2dBackwardSync(x, w, gy, o), await conv2dBackward(x, w, gy, o)].entries()) {
          expect(relError(g.gradInput!.data, want.gradInput), `${names[k]} input ${what}`).toBeLessThanOrEqual(1e-5);
          expect(relError(g.gradWeight!.data, want.gradWeight), `${names[k]} weight ${what}`).toBeLessThanOrEqual(1e-5);
          expect(relError(g.gradBias!, exact.gradBias), `${names[k]} bias ${what}`).toBeLessThanOrEqual(1e-5);
        }
        expect(relError(conv2dBackwardSync(x, w, gy, o).gradWeight!.data, exact.gradWeight), what).toBeGreaterThan(1e-5);
        // Every algorithm of both parts, forced.
        for (const algorithm of backendInfo().algorithms) {
          let f;
          try {
            f = conv2dBackwardSync(x, w, gy, { ...o, algorithm: algorithm as never, needs: ['input', 'weight'] });
          } catch (e) {
            expect((e as { code?: string }).code).toBe('ERR_CHANNELCONV_INVALID_OPTION');
            continue;
          }
          expect(relError(f.gradInput!.data, want.gradInput), `${algorithm} input ${what}`).toBeLessThanOrEqual(1e-5);
          expect(relError(f.gradWeight!.data, want.gradWeight), `${algorithm} weight ${what}`).toBeLessThanOrEqual(1e-5);
        }
      }
  });

  it('the transposed convolution and a prepared layer\'s backward pass', () => {
    const r = rng(seed + 500);
    // Transposed: input [N, Cin_t, H, W], weight IOHW [Cin_t, Cout_t, KH, KW]
    const x: Tensor = { data: r.floats(2 * 9 * 7 * 6), shape: [2, 9, 7, 6] };
    const w: Tensor = { data: r.floats(9 * 5 * 3 * 3), shape: [9, 5, 3, 3] };
    const to = { stride: 2, padding: 1, outputPadding: 1, precision: 'bf16' as const };
    const want = refConvTranspose(rounded(x), rounded(w), { stride: [2, 2], padding: [1, 1, 1, 1], outputPadding: [1, 1] });
    expect(relError(conv2dTransposeSync(x, w, to).data, want.data)).toBeLessThanOrEqual(1e-5);
    // A prepared layer: forward, then backward through its packed bf16 weights.
    const wf: Tensor = { data: r.floats(12 * 7 * 3 * 3), shape: [12, 7, 3, 3] };
    const xf: Tensor = { data: r.floats(2 * 7 * 10 * 11), shape: [2, 7, 10, 11] };
    const layer = createConv2d(wf, { padding: 1, precision: 'bf16' });
    const gy: Tensor = { data: r.floats(2 * 12 * 10 * 11), shape: [2, 12, 10, 11] };
    const g = layer.backwardSync(xf, gy, ['input', 'weight']);
    const wantG = refGrads(rounded(xf), rounded(wf), rounded(gy).data, { padding: [1, 1, 1, 1] });
    expect(relError(g.gradInput!.data, wantG.gradInput)).toBeLessThanOrEqual(1e-5);
    expect(relError(g.gradWeight!.data, wantG.gradWeight)).toBeLessThanOrEqual(1e-5);
    layer.dispose();
  });

  it("an unknown precision is an INVALID_OPTION RangeError naming 'bf16'", () => {
    const x = { data: new Float32Array(9), shape: [1, 3, 3] }, w = { data: new Float32Array(1), shape: [1, 1, 1, 1] };
    expect(() => conv2dSync(x, w, { precision: 'fp16' as never })).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_CHANNELCONV_INVALID_OPTION', message: expect.stringContaining("'bf16'") }),
    );
  });

  it('bf16Round (the test oracle) rounds ties to even and handles the edges', () => {
    expect(bf16Round(1 + 2 ** -8)).toBe(1);
    expect(bf16Round(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(bf16Round(1 + 2 ** -8 + 2 ** -20)).toBe(1 + 2 ** -7);
    expect(bf16Round(-3.14159265)).toBe(-3.140625);
    expect(bf16Round(3.4028234663852886e38)).toBe(Infinity);
    expect(bf16Round(1e-40)).toBe(0);
    expect(bf16Round(2 ** -126)).toBe(2 ** -126);
  });
});

// Child processes, one per kernel set this CPU runs: the same bf16 convolutions (data from a seeded
// generator both sides share), and which bf16 path the set reports.
const root = path.join(__dirname, '..');
function filler(seed: number): (n: number) => Float32Array {
  let s = seed >>> 0;
  return (n) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      a[i] = s / 2 ** 31 - 1;
    }
    return a;
  };
}
const child = `
const cc = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
const [cases, seed] = JSON.parse(process.argv[1]);
const fill = (${filler.toString()})(seed);
const out = { isa: cc.backendInfo().cpu.isa, bf16: cc.backendInfo().cpu.bf16, results: [] };
for (const c of cases) {
  const x = { data: fill(c.x.reduce((a, b) => a * b)), shape: c.x }, w = { data: fill(c.w.reduce((a, b) => a * b)), shape: c.w };
  const o = { padding: c.pad, stride: c.stride ?? 1, groups: c.groups ?? 1, precision: 'bf16' };
  out.results.push(Array.from(cc.conv2dSync(x, w, o).data));
}
console.log(JSON.stringify(out));
`;

describe("precision: 'bf16' on every kernel set (CHANNELCONV_ISA)", () => {
  it('native and emulated kernels agree, each set says which it runs', () => {
    const sub = [cases[0], cases[1], cases[3], cases[5]];
    const fill = filler(seed);
    const wants = sub.map((c) => {
      const s = c.stride ?? 1;
      const x = { data: fill(c.x.reduce((a, b) => a * b)), shape: c.x }, w = { data: fill(c.w.reduce((a, b) => a * b)), shape: c.w };
      return refConv(rounded(x), rounded(w), { padding: [c.pad, c.pad, c.pad, c.pad], stride: [s, s], groups: c.groups ?? 1 }).data;
    });
    const outputs: { isa: string; bf16: string; results: number[][] }[] = [];
    for (const isa of backendInfo().cpu.supportedIsas) {
      const p = spawnSync(process.execPath, ['-e', child, JSON.stringify([sub, seed])], {
        env: { ...process.env, CHANNELCONV_ISA: isa }, encoding: 'utf8', maxBuffer: 64 << 20,
      });
      expect(p.status, p.stderr).toBe(0);
      const out = JSON.parse(p.stdout);
      expect(out.isa).toBe(isa);
      expect(out.bf16).toBe(isa === 'avx512bf16' ? 'native' : 'emulated');
      out.results.forEach((y: number[], i: number) => expect(relError(y, wants[i]), `${isa} case ${i}`).toBeLessThanOrEqual(1e-5));
      outputs.push(out);
    }
    for (const o of outputs.slice(1))
      o.results.forEach((y, i) => expect(relError(y, outputs[0].results[i]), `${o.isa} vs ${outputs[0].isa}`).toBeLessThanOrEqual(2e-5));
  });
});
