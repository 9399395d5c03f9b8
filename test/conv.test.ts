// conv2d / conv2dSync against the float64 reference over random shapes and every option.
import { describe, expect, it } from 'vitest';
import { backendInfo, conv2d, conv2dSync, convCost, type Algorithm, type Conv2dOptions, type Tensor } from '../lib/index';
import { refConv, relError, rng, samePad, seedFromEnv } from './helpers';

const seed = seedFromEnv();
console.log(`conv.test seed ${seed} (replay with CHANNELCONV_SEED=${seed})`);

interface Case {
  input: Tensor;
  weight: Tensor;
  options: Conv2dOptions;
  ref: ReturnType<typeof refConv>;
  outShape: number[];
  label: string;
}

function randomCase(r: ReturnType<typeof rng>): Case | null {
  const groups = r.pick([1, 1, 1, 2, 3, 4]);
  const depthwise = r.next() < 0.1;
  const Cg = depthwise ? 1 : r.pick([1, 2, 3, 5, 8]);
  const C = depthwise ? r.pick([2, 3, 8]) : Cg * groups;
  const g = depthwise ? C : groups;
  const K = g * r.pick([1, 2, 3, 5]);
  let KH = r.pick([1, 2, 3, 5, 7]);
  let KW = r.pick([1, 2, 3, 5, 7]);
  const H = r.int(1, 17);
  const W = r.int(1, 17);
  const N = r.pick([1, 2, 3]);
  let stride: [number, number] = [r.pick([1, 1, 2, 3]), r.pick([1, 1, 2, 3])];
  let dilation: [number, number] = [r.pick([1, 1, 2]), r.pick([1, 1, 2])];
  if (r.next() < 1 / 3) { // stride-1 undilated 3x3 or 5x5, as networks mostly have (Winograd runs these)
    stride = [1, 1];
    dilation = [1, 1];
    KH = KW = r.pick([3, 3, 5]);
  }
  const layout = r.pick(['NCHW', 'NHWC'] as const);
  const weightLayout = r.pick(['OIHW', 'HWIO'] as const);
  const rank3 = N === 1 && r.next() < 0.5;
  const padKind = r.int(0, 6);
  let padding: Conv2dOptions['padding'];
  let resolved: [number, number, number, number];
  switch (padKind) {
    case 0: padding = undefined; resolved = [0, 0, 0, 0]; break;
    case 1: padding = 'valid'; resolved = [0, 0, 0, 0]; break;
    case 2:
    case 3: {
      const lower = padKind === 3;
      padding = lower ? 'same_lower' : 'same';
      const [t, b] = samePad(H, KH, stride[0], dilation[0], lower);
      const [l, rr] = samePad(W, KW, stride[1], dilation[1], lower);
      resolved = [t, b, l, rr];
      break;
    }
    case 4: { const p = r.int(0, 3); padding = p; resolved = [p, p, p, p]; break; }
    case 5: { const ph = r.int(0, 3), pw = r.int(0, 3); padding = [ph, pw]; resolved = [ph, ph, pw, pw]; break; }
    default: {
      const p: [number, number, number, number] = [r.int(0, 3), r.int(0, 3), r.int(0, 3), r.int(0, 3)];
      padding = p; resolved = p;
    }
  }
  const OH = Math.floor((H + resolved[0] + resolved[1] - dilation[0] * (KH - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((W + resolved[2] + resolved[3] - dilation[1] * (KW - 1) - 1) / stride[1]) + 1;
  if (OH < 1 || OW < 1) return null;
  const inShape = layout === 'NCHW' ? [N, C, H, W] : [N, H, W, C];
  const wShape = weightLayout === 'OIHW' ? [K, C / g, KH, KW] : [KH, KW, C / g, K];
  const input = { data: r.floats(N * C * H * W), shape: rank3 ? inShape.slice(1) : inShape };
  const weight = { data: r.floats(K * (C / g) * KH * KW), shape: wShape };
  const bias = r.next() < 0.5 ? r.floats(K) : undefined;
  const options: Conv2dOptions = { stride, dilation, padding, groups: g, layout, weightLayout, bias };
  if (r.next() < 0.3) options.threads = r.pick([1, 2]);
  const ref = refConv(input, weight, { stride, dilation, padding: resolved, groups: g, bias, layout, weightLayout });
  const outShape = rank3 ? ref.shape.slice(1) : ref.shape;
  const label = JSON.stringify({ inShape: input.shape, wShape, ...options, bias: !!bias });
  return { input, weight, options, ref, outShape, label };
}

describe('conv2dSync vs the float64 reference', () => {
  it('random sweep over every option (stride, dilation, all padding forms, groups, layouts, rank, bias)', () => {
    const r = rng(seed);
    let n = 0;
    while (n < 400) {
      const c = randomCase(r);
      if (!c) continue;
      n++;
      const y = conv2dSync(c.input, c.weight, c.options);
      expect(y.shape, c.label).toEqual(c.outShape);
      const err = relError(y.data, c.ref.data);
      expect(err, c.label).toBeLessThanOrEqual(1e-5);
    }
  });

  it('every algorithm of the registry, forced, on the random sweep: the reference result, or a RangeError naming those that can', () => {
    const r = rng(seed + 2);
    const names = backendInfo().algorithms as Algorithm[];
    const ran: Record<string, number> = Object.fromEntries(names.map((a) => [a, 0]));
    for (let n = 0; n < 150;) {
      const c = randomCase(r);
      if (!c) continue;
      n++;
      const auto = convCost(c.input.shape, c.weight.shape, c.options).algorithm;
      expect(names).toContain(auto);
      for (const algorithm of names) {
        let y;
        try {
          y = conv2dSync(c.input, c.weight, { ...c.options, algorithm });
        } catch (e) {
          expect(e, `${algorithm} ${c.label}`).toBeInstanceOf(RangeError);
          expect((e as { code: string }).code).toBe('ERR_CHANNELCONV_INVALID_OPTION');
          expect((e as Error).message).toMatch(new RegExp(`options\\.algorithm '${algorithm}' cannot run this problem: .*; valid here: 'auto', .*${auto}`));
          continue;
        }
        ran[algorithm]++;
        expect(y.algorithm).toBe(algorithm);
        expect(convCost(c.input.shape, c.weight.shape, { ...c.options, algorithm }).algorithm).toBe(algorithm);
        expect(relError(y.data, c.ref.data), `${algorithm} ${c.label}`).toBeLessThanOrEqual(1e-5);
      }
    }
    // Each entry ran on a good share of the sweep (an entry the sweep never reaches is untested).
    // (Winograd's entries run only the stride-1 undilated 3x3 / 5x5 third: a smaller share.)
    for (const a of names) expect(ran[a], `${a} ran on ${ran[a]} of 150 cases`).toBeGreaterThanOrEqual(5);
  });

  it('writes into options.out, poisoned with NaN first', () => {
    const r = rng(seed + 1);
    for (let i = 0; i < 30; ) {
      const c = randomCase(r);
      if (!c) continue;
      i++;
      const out = new Float32Array(c.ref.data.length).fill(NaN);
      const y = conv2dSync(c.input, c.weight, { ...c.options, out });
      expect(y.data).toBe(out);
      expect(relError(out, c.ref.data), c.label).toBeLessThanOrEqual(1e-5);
    }
  });

  it('1x1 stride-1 (the GEMM-only path) equals the same weights run through the general path', () => {
    const r = rng(seed + 2);
    const x = { data: r.floats(2 * 19 * 7 * 9), shape: [2, 19, 7, 9] };
    const w = { data: r.floats(13 * 19), shape: [13, 19, 1, 1] };
    const y1 = conv2dSync(x, w);
    // Same math through im2col: stride 1 with explicit zero padding on a 1x1 kernel forces im2col.
    const padded = conv2dSync(x, w, { padding: [1, 1, 1, 1] });
    for (let n = 0; n < 2; n++)
      for (let k = 0; k < 13; k++)
        for (let h = 0; h < 7; h++)
          for (let ww = 0; ww < 9; ww++) {
            const a = y1.data[((n * 13 + k) * 7 + h) * 9 + ww];
            const b = padded.data[((n * 13 + k) * 9 + h + 1) * 11 + ww + 1];
            expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(a)));
          }
    expect(relError(y1.data, refConv(x, w).data)).toBeLessThanOrEqual(1e-5);
  });

  it('large enough to use several threads and tiles: thread counts agree', () => {
    const r = rng(seed + 3);
    const x = { data: r.floats(2 * 16 * 33 * 35), shape: [2, 16, 33, 35] };
    const w = { data: r.floats(24 * 16 * 3 * 3), shape: [24, 16, 3, 3] };
    const ref = refConv(x, w, { padding: [1, 1, 1, 1] });
    for (const threads of [1, 2]) {
      const y = conv2dSync(x, w, { padding: 1, threads });
      expect(relError(y.data, ref.data)).toBeLessThanOrEqual(1e-5);
    }
  });

  it('reads Float32Array views with byte offsets (subarrays)', () => {
    const r = rng(seed + 4);
    const big = r.floats(3 + 2 * 5 * 6);
    const x = { data: big.subarray(3), shape: [2, 5, 6] };
    const wbig = r.floats(1 + 4 * 2 * 9);
    const w = { data: wbig.subarray(1), shape: [4, 2, 3, 3] };
    const y = conv2dSync(x, w, { padding: 'same' });
    expect(y.shape).toEqual([4, 5, 6]);
    expect(relError(y.data, refConv(x, w, { padding: [1, 1, 1, 1] }).data)).toBeLessThanOrEqual(1e-5);
  });

  it('NaN and Inf propagate as IEEE arithmetic', () => {
    const x = { data: new Float32Array([1, NaN, 3, 4, Infinity, 6, 7, 8, 9]), shape: [1, 3, 3] };
    const w = { data: new Float32Array([1]), shape: [1, 1, 1, 1] };
    const y = conv2dSync(x, w);
    expect(Number.isNaN(y.data[1])).toBe(true);
    expect(y.data[4]).toBe(Infinity);
    expect(y.data[8]).toBe(9);
  });

  it("'same' keeps ceil(H / stride) for any stride; the odd pixel goes bottom/right ('same') or top/left ('same_lower')", () => {
    for (const stride of [1, 2, 3]) {
      const c = convCost([1, 1, 10, 7], [1, 1, 4, 4], { padding: 'same', stride });
      expect(c.outputShape).toEqual([1, 1, Math.ceil(10 / stride), Math.ceil(7 / stride)]);
    }
    expect(convCost([1, 1, 5, 5], [1, 1, 2, 2], { padding: 'same' }).padding).toEqual([0, 1, 0, 1]);
    expect(convCost([1, 1, 5, 5], [1, 1, 2, 2], { padding: 'same_lower' }).padding).toEqual([1, 0, 1, 0]);
  });
});

describe('conv2d (async)', () => {
  it('equals conv2dSync bit for bit', async () => {
    const r = rng(seed + 5);
    for (let i = 0; i < 40; ) {
      const c = randomCase(r);
      if (!c) continue;
      i++;
      const a = conv2dSync(c.input, c.weight, c.options);
      const b = await conv2d(c.input, c.weight, c.options);
      expect(b.shape).toEqual(a.shape);
      expect(Buffer.from(b.data.buffer).equals(Buffer.from(a.data.buffer)), c.label).toBe(true);
    }
  });

  it('many concurrent calls all give correct results', async () => {
    const r = rng(seed + 6);
    const cases: Case[] = [];
    while (cases.length < 64) {
      const c = randomCase(r);
      if (c) cases.push(c);
    }
    const ys = await Promise.all(cases.map((c) => conv2d(c.input, c.weight, c.options)));
    ys.forEach((y, i) => expect(relError(y.data, cases[i].ref.data), cases[i].label).toBeLessThanOrEqual(1e-5));
  });

  it('does not block the event loop', async () => {
    const r = rng(seed + 7);
    const x = { data: r.floats(4 * 32 * 64 * 64), shape: [4, 32, 64, 64] };
    const w = { data: r.floats(32 * 32 * 5 * 5), shape: [32, 32, 5, 5] };
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await conv2d(x, w, { padding: 2 });
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });
});
