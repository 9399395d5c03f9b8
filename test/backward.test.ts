// conv2dBackward / conv2dTranspose and their sync forms, prepared layers' backward, and the cost
// functions: against float64 references written from the definitions (test/helpers.ts: refGrads
// accumulates the gradients term by term, refConvTranspose scatters as PyTorch defines
// conv_transpose2d), the ONNX ConvTranspose test cases (expected values copied from the ONNX
// operator tests, onnx/backend/test/case/node/convtranspose.py), PyTorch's semantics (the transposed
// convolution is conv2d's input gradient; its output size formula), random configurations, and the
// adjoint identity.
import { describe, expect, it } from 'vitest';
import {
  backendInfo, conv2d, conv2dBackward, conv2dBackwardSync, conv2dSync, conv2dTranspose, conv2dTransposeSync, convBackwardCost,
  convTransposeCost, createConv2d, type Conv2dBackwardOptions, type Conv2dTransposeOptions, type Gradient, type Tensor,
} from '../lib/index';
import { refConv, refConvTranspose, refGrads, relError, rng, samePad, seedFromEnv } from './helpers';

const seed = seedFromEnv();
console.log(`backward.test seed ${seed} (replay with CHANNELCONV_SEED=${seed})`);
const r = rng(seed);

const T = (data: number[] | Float32Array, shape: number[]): Tensor => ({ data: Float32Array.from(data), shape });
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const flat = (a: unknown): number[] => (Array.isArray(a) ? a.flatMap(flat) : [a as number]);

// A random forward geometry with its resolved padding (every padding form), both layouts, rank 3 and 4.
function randomGeometry() {
  const depthwise = r.next() < 0.15;
  const groups = depthwise ? r.pick([2, 3, 8]) : r.pick([1, 1, 1, 2, 3]);
  const Cg = depthwise ? 1 : r.pick([1, 2, 3, 5]);
  const C = Cg * groups, K = groups * (depthwise ? r.pick([1, 2]) : r.pick([1, 2, 3, 5]));
  const KH = r.pick([1, 2, 3, 5]), KW = r.pick([1, 2, 3, 4]);
  const H = r.int(1, 13), W = r.int(1, 13), N = r.pick([1, 2, 3]);
  const stride: [number, number] = [r.pick([1, 1, 2, 3, 5]), r.pick([1, 1, 2, 3])];
  const dilation: [number, number] = [r.pick([1, 1, 2]), r.pick([1, 1, 2, 3])];
  const layout = r.pick(['NCHW', 'NHWC'] as const), weightLayout = r.pick(['OIHW', 'HWIO'] as const);
  const kind = r.int(0, 4);
  let padding: Conv2dBackwardOptions['padding'];
  let resolved: [number, number, number, number];
  if (kind === 0) { padding = 'valid'; resolved = [0, 0, 0, 0]; }
  else if (kind === 1 || kind === 2) {
    padding = kind === 1 ? 'same' : 'same_lower';
    const [t, b] = samePad(H, KH, stride[0], dilation[0], kind === 2), [le, ri] = samePad(W, KW, stride[1], dilation[1], kind === 2);
    resolved = [t, b, le, ri];
  } else if (kind === 3) { const p = r.int(0, 3); padding = p; resolved = [p, p, p, p]; }
  else { const p: [number, number, number, number] = [r.int(0, 3), r.int(0, 3), r.int(0, 3), r.int(0, 3)]; padding = p; resolved = p; }
  const OH = Math.floor((H + resolved[0] + resolved[1] - dilation[0] * (KH - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((W + resolved[2] + resolved[3] - dilation[1] * (KW - 1) - 1) / stride[1]) + 1;
  if (OH < 1 || OW < 1) return null;
  const rank3 = N === 1 && r.next() < 0.4;
  const inShape = layout === 'NCHW' ? [N, C, H, W] : [N, H, W, C];
  const outShape = layout === 'NCHW' ? [N, K, OH, OW] : [N, OH, OW, K];
  const input = T(r.floats(N * C * H * W), rank3 ? inShape.slice(1) : inShape);
  const weight = T(r.floats(K * Cg * KH * KW), weightLayout === 'OIHW' ? [K, Cg, KH, KW] : [KH, KW, Cg, K]);
  const gradOutput = T(r.floats(N * K * OH * OW), rank3 ? outShape.slice(1) : outShape);
  const options: Conv2dBackwardOptions = { stride, dilation, padding, groups, layout, weightLayout };
  const ref = refGrads(input, weight, gradOutput.data, { stride, dilation, padding: resolved, groups, layout, weightLayout });
  return { input, weight, gradOutput, options, ref, label: JSON.stringify({ in: input.shape, w: weight.shape, ...options }) };
}

describe('conv2dBackward', () => {
  it('random configurations: every gradient against the float64 reference, sync and async, every algorithm', async () => {
    const names = backendInfo().algorithms;
    let n = 0;
    for (let t = 0; t < 80; t++) {
      const c = randomGeometry();
      if (!c) continue;
      n++;
      const g = conv2dBackwardSync(c.input, c.weight, c.gradOutput, c.options);
      expect(g.gradInput!.shape, c.label).toEqual(c.input.shape);
      expect(g.gradWeight!.shape, c.label).toEqual(c.weight.shape);
      expect(relError(g.gradInput!.data, c.ref.gradInput), c.label).toBeLessThan(1e-5);
      expect(relError(g.gradWeight!.data, c.ref.gradWeight), c.label).toBeLessThan(1e-5);
      expect(relError(g.gradBias!, c.ref.gradBias), c.label).toBeLessThan(1e-5);
      if (t % 4 === 0) {
        const a = await conv2dBackward(c.input, c.weight, c.gradOutput, c.options);
        expect(a.gradInput!.data).toEqual(g.gradInput!.data);
        expect(a.gradWeight!.data).toEqual(g.gradWeight!.data);
        expect(a.gradBias).toEqual(g.gradBias);
      }
      // Every algorithm that can run both parts of this problem, forced.
      for (const algorithm of names) {
        let f;
        try {
          f = conv2dBackwardSync(c.input, c.weight, c.gradOutput, { ...c.options, algorithm: algorithm as never, needs: ['input', 'weight'] });
        } catch (e) {
          expect((e as { code: string }).code).toBe('ERR_CHANNELCONV_INVALID_OPTION');
          continue;
        }
        expect(f.algorithms).toEqual({ input: algorithm, weight: algorithm });
        expect(relError(f.gradInput!.data, c.ref.gradInput), `${algorithm} ${c.label}`).toBeLessThan(1e-5);
        expect(relError(f.gradWeight!.data, c.ref.gradWeight), `${algorithm} ${c.label}`).toBeLessThan(1e-5);
      }
    }
    expect(n).toBeGreaterThan(40);
  });

  it('needs computes only what is asked (and nothing for an empty list)', async () => {
    const x = T(r.floats(2 * 3 * 6 * 6), [2, 3, 6, 6]), w = T(r.floats(4 * 3 * 3 * 3), [4, 3, 3, 3]), gy = T(r.floats(2 * 4 * 4 * 4), [2, 4, 4, 4]);
    const ref = refGrads(x, w, gy.data);
    const subsets: Gradient[][] = [[], ['input'], ['weight'], ['bias'], ['input', 'bias'], ['weight', 'bias'], ['bias', 'weight', 'input']];
    for (const needs of subsets) {
      for (const g of [conv2dBackwardSync(x, w, gy, { needs }), await conv2dBackward(x, w, gy, { needs })]) {
        expect(Object.keys(g).filter((k) => k !== 'algorithms').sort()).toEqual(needs.map((n) => `grad${n[0].toUpperCase()}${n.slice(1)}`).sort());
        if (g.gradInput) expect(relError(g.gradInput.data, ref.gradInput)).toBeLessThan(1e-5);
        if (g.gradWeight) expect(relError(g.gradWeight.data, ref.gradWeight)).toBeLessThan(1e-5);
        if (g.gradBias) expect(relError(g.gradBias, ref.gradBias)).toBeLessThan(1e-5);
      }
    }
  });

  it('the async call copies input, weight and gradOutput when it starts: changing them afterwards changes nothing', async () => {
    const x = T(r.floats(2 * 8 * 20 * 20), [2, 8, 20, 20]), w = T(r.floats(8 * 8 * 3 * 3), [8, 8, 3, 3]);
    const gy = T(r.floats(2 * 8 * 20 * 20), [2, 8, 20, 20]);
    const ref = conv2dBackwardSync(x, w, gy, { padding: 1 });
    const p = conv2dBackward(x, w, gy, { padding: 1 });
    x.data.fill(7); w.data.fill(-3); gy.data.fill(5);
    const g = await p;
    expect(g.gradInput!.data).toEqual(ref.gradInput!.data);
    expect(g.gradWeight!.data).toEqual(ref.gradWeight!.data);
    expect(g.gradBias).toEqual(ref.gradBias);
  });

  it('the adjoint identity <conv2d(x, w), g> = <x, gradInput> = <w, gradWeight>', () => {
    for (let t = 0; t < 20; t++) {
      const c = randomGeometry();
      if (!c) continue;
      const y = conv2dSync(c.input, c.weight, c.options);
      const g = conv2dBackwardSync(c.input, c.weight, c.gradOutput, c.options);
      let lhs = 0, ri = 0, rw = 0, scale = 1;
      for (let i = 0; i < y.data.length; i++) { lhs += y.data[i] * c.gradOutput.data[i]; scale += Math.abs(y.data[i] * c.gradOutput.data[i]); }
      for (let i = 0; i < c.input.data.length; i++) ri += c.input.data[i] * g.gradInput!.data[i];
      for (let i = 0; i < c.weight.data.length; i++) rw += c.weight.data[i] * g.gradWeight!.data[i];
      expect(Math.abs(lhs - ri) / scale, c.label).toBeLessThan(1e-5);
      expect(Math.abs(lhs - rw) / scale, c.label).toBeLessThan(1e-5);
    }
  });

  it('backpropagates through a fused relu when gradOutput is masked by output > 0 (the README recipe)', () => {
    const x = T(r.floats(1 * 4 * 7 * 7), [1, 4, 7, 7]), w = T(r.floats(5 * 4 * 3 * 3), [5, 4, 3, 3]), bias = r.floats(5);
    const y = conv2dSync(x, w, { padding: 1, bias, activation: 'relu' });
    const upstream = r.floats(y.data.length);
    const masked = upstream.map((v, i) => (y.data[i] > 0 ? v : 0));
    const g = conv2dBackwardSync(x, w, { data: masked, shape: y.shape }, { padding: 1 });
    // Reference: d/dx of sum(upstream * relu(conv(x) + bias)), from the pre-activation in float64.
    const pre = refConv(x, w, { padding: [1, 1, 1, 1], bias });
    const refMasked = Float32Array.from(upstream, (v, i) => (pre.data[i] > 0 ? v : 0));
    const ref = refGrads(x, w, refMasked, { padding: [1, 1, 1, 1] });
    expect(relError(g.gradInput!.data, ref.gradInput)).toBeLessThan(1e-5);
    expect(relError(g.gradWeight!.data, ref.gradWeight)).toBeLessThan(1e-5);
    expect(relError(g.gradBias!, ref.gradBias)).toBeLessThan(1e-5);
  });

  it('large enough for several threads and tiles: 1 and 2 threads agree with the reference; same threads give the same bits', () => {
    const x = T(r.floats(2 * 24 * 30 * 30), [2, 24, 30, 30]), w = T(r.floats(40 * 24 * 3 * 3), [40, 24, 3, 3]);
    const gy = T(r.floats(2 * 40 * 15 * 15), [2, 40, 15, 15]);
    const [pt, pb] = samePad(30, 3, 2, 1, false);
    const ref = refGrads(x, w, gy.data, { stride: [2, 2], padding: [pt, pb, pt, pb] });
    for (const threads of [1, 2]) {
      const g = conv2dBackwardSync(x, w, gy, { stride: 2, padding: 'same', threads });
      expect(relError(g.gradInput!.data, ref.gradInput)).toBeLessThan(1e-5);
      expect(relError(g.gradWeight!.data, ref.gradWeight)).toBeLessThan(1e-5);
      const again = conv2dBackwardSync(x, w, gy, { stride: 2, padding: 'same', threads });
      expect(again.gradWeight!.data).toEqual(g.gradWeight!.data);
      expect(again.gradInput!.data).toEqual(g.gradInput!.data);
      expect(again.gradBias).toEqual(g.gradBias);
    }
  });

  it('gradOutput must have the forward output\'s exact shape: RangeError naming expected and got', async () => {
    const x = T(r.floats(3 * 5 * 5), [3, 5, 5]), w = T(r.floats(2 * 3 * 3 * 3), [2, 3, 3, 3]);
    expect(() => conv2dBackwardSync(x, w, T(new Float32Array(18), [2, 9]))).toThrow(
      expect.objectContaining({ code: 'ERR_CHANNELCONV_INVALID_SHAPE', message: expect.stringContaining('gradOutput.shape must have rank 3 or 4') }));
    for (const shape of [[2, 4, 3], [1, 2, 3, 3], [2, 3, 4], [3, 3, 2]]) {
      const gy = T(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
      const check = (e: unknown) => {
        expect(e).toBeInstanceOf(RangeError);
        expect(e).toMatchObject({ code: 'ERR_CHANNELCONV_INVALID_SHAPE' });
        expect((e as Error).message).toContain('gradOutput.shape must be [2, 3, 3]');
        expect((e as Error).message).toContain(`got [${shape.join(', ')}]`);
      };
      try { conv2dBackwardSync(x, w, gy); expect.unreachable(); } catch (e) { check(e); }
      await conv2dBackward(x, w, gy).then(() => expect.unreachable(), check);
    }
  });
});

describe('conv2dTranspose', () => {
  // ONNX ConvTranspose operator tests (onnx/backend/test/case/node/convtranspose.py): input x, weight
  // W, attributes, expected y, as the ONNX test cases give them.
  const x9 = T(range(9), [1, 1, 3, 3]);
  const ones = T(new Float32Array(18).fill(1), [1, 2, 3, 3]);
  const twice = (c: number[][]) => [c, c];
  it('ONNX test "convtranspose": default attributes', () => {
    const y = conv2dTransposeSync(x9, ones);
    expect(y.shape).toEqual([1, 2, 5, 5]);
    expect(Array.from(y.data)).toEqual(flat(twice([
      [0, 1, 3, 3, 2], [3, 8, 15, 12, 7], [9, 21, 36, 27, 15], [9, 20, 33, 24, 13], [6, 13, 21, 15, 8]])));
  });
  it('ONNX test "convtranspose_attributes": strides [3, 2], output_padding [1, 1] (output_shape [10, 8])', () => {
    const y = conv2dTransposeSync(x9, ones, { stride: [3, 2], outputPadding: [1, 1] });
    expect(y.shape).toEqual([1, 2, 10, 8]);
    const rows = [[0, 0, 1, 1, 3, 2, 2, 0], [0, 0, 1, 1, 3, 2, 2, 0], [0, 0, 1, 1, 3, 2, 2, 0], [3, 3, 7, 4, 9, 5, 5, 0],
      [3, 3, 7, 4, 9, 5, 5, 0], [3, 3, 7, 4, 9, 5, 5, 0], [6, 6, 13, 7, 15, 8, 8, 0], [6, 6, 13, 7, 15, 8, 8, 0],
      [6, 6, 13, 7, 15, 8, 8, 0], [0, 0, 0, 0, 0, 0, 0, 0]];
    expect(Array.from(y.data)).toEqual(flat(twice(rows)));
  });
  it('ONNX test "convtranspose_pads": strides [3, 2], pads [1, 2, 1, 2]', () => {
    // ONNX pads are [top, left, bottom, right]: top 1, left 2, bottom 1, right 2.
    const y = conv2dTransposeSync(x9, ones, { stride: [3, 2], padding: [1, 1, 2, 2] });
    expect(y.shape).toEqual([1, 2, 7, 3]);
    expect(Array.from(y.data)).toEqual(flat(twice([[1, 1, 3], [1, 1, 3], [7, 4, 9], [7, 4, 9], [7, 4, 9], [13, 7, 15], [13, 7, 15]])));
  });
  it('ONNX test "convtranspose_dilations": dilations [2, 2]', () => {
    const y = conv2dTransposeSync(T([3, 8, 1, 9, 5, 7, 3, 2, 6], [1, 1, 3, 3]), T([7, 2, 1, 9], [1, 1, 2, 2]), { dilation: 2 });
    expect(y.shape).toEqual([1, 1, 5, 5]);
    expect(Array.from(y.data)).toEqual([21, 56, 13, 16, 2, 63, 35, 67, 10, 14, 24, 22, 76, 76, 21, 9, 5, 88, 45, 63, 3, 2, 33, 18, 54]);
  });
  it('ONNX test "convtranspose_autopad_same": auto_pad SAME_UPPER, strides [2, 2] (output = input x stride)', () => {
    const y = conv2dTransposeSync(x9, ones, { stride: 2, padding: 'same' });
    expect(y.shape).toEqual([1, 2, 6, 6]);
    expect(Array.from(y.data)).toEqual(flat(twice([[0, 0, 1, 1, 3, 2], [0, 0, 1, 1, 3, 2], [3, 3, 8, 5, 12, 7], [3, 3, 7, 4, 9, 5],
      [9, 9, 20, 11, 24, 13], [6, 6, 13, 7, 15, 8]])));
  });

  it('PyTorch semantics: each input pixel spreads weight·x over a stride-spaced block (conv_transpose2d(arange(4), ones(2x2), stride 2))', () => {
    const y = conv2dTransposeSync(T(range(4), [1, 1, 2, 2]), T([1, 1, 1, 1], [1, 1, 2, 2]), { stride: 2 });
    expect(Array.from(y.data)).toEqual([0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]);
  });

  it('PyTorch semantics: the transposed convolution is conv2d\'s input gradient, for the same geometry', () => {
    for (let t = 0; t < 20; t++) {
      const c = randomGeometry();
      if (!c || c.options.padding === 'same_lower') continue;
      const g = conv2dBackwardSync(c.input, c.weight, c.gradOutput, { ...c.options, needs: ['input'] });
      // The forward weight's memory is the transposed weight: OIHW = IOHW of the transpose, HWIO = HWOI.
      const wl = c.options.weightLayout === 'HWIO' ? 'HWOI' : 'IOHW';
      // padding 'same' of the transpose asks for output = input x stride: the forward input size may differ.
      const hw = (s: number[]) => (c.options.layout === 'NHWC' ? s.slice(-3, -1) : s.slice(-2));
      const [fh, fw] = hw(c.input.shape), [gh, gw] = hw(c.gradOutput.shape);
      const stride = c.options.stride as [number, number];
      if (c.options.padding === 'same' && (fh !== gh * stride[0] || fw !== gw * stride[1])) continue;
      // outputPadding: the rows the forward input has beyond what the transposed size formula reaches.
      const y = conv2dTransposeSync(c.gradOutput, c.weight, { ...transposeGeometry(c), weightLayout: wl });
      expect(y.shape, c.label).toEqual(c.input.shape);
      expect(relError(y.data, g.gradInput!.data), c.label).toBeLessThan(1e-6);
    }
  });

  it('random configurations against the scatter reference: bias, relu, outputPadding, groups, layouts, rank 3 and 4, sync and async, every algorithm', async () => {
    const names = backendInfo().algorithms;
    let n = 0;
    for (let t = 0; t < 80; t++) {
      const depthwise = r.next() < 0.15;
      const groups = depthwise ? r.pick([2, 4]) : r.pick([1, 1, 2, 3]);
      const Cg = depthwise ? 1 : r.pick([1, 2, 4, 7]), Og = depthwise ? 1 : r.pick([1, 2, 3, 5]);
      const C = Cg * groups, KH = r.pick([1, 2, 3, 4]), KW = r.pick([1, 2, 3, 5]), H = r.int(1, 9), W = r.int(1, 9), N = r.pick([1, 2]);
      const stride: [number, number] = [r.pick([1, 2, 3]), r.pick([1, 2, 4])];
      const dilation: [number, number] = [r.pick([1, 2]), r.pick([1, 3])];
      const outputPadding: [number, number] = [r.int(0, Math.max(...[stride[0], dilation[0]]) - 1), r.int(0, Math.max(stride[1], dilation[1]) - 1)];
      const layout = r.pick(['NCHW', 'NHWC'] as const), weightLayout = r.pick(['IOHW', 'HWOI'] as const);
      const same = r.next() < 0.2;
      let padding: Conv2dTransposeOptions['padding'];
      let resolved: [number, number, number, number];
      if (same) {
        const [pt, pb] = samePad(H * stride[0], KH, stride[0], dilation[0], false), [pl, pr] = samePad(W * stride[1], KW, stride[1], dilation[1], false);
        padding = 'same';
        resolved = [pt, pb, pl, pr];
      } else {
        resolved = [r.int(0, 2), r.int(0, 2), r.int(0, 2), r.int(0, 2)];
        padding = resolved;
      }
      const op: [number, number] = same ? [0, 0] : outputPadding;
      // 'same': output = input x stride (TensorFlow), which may pass the full output (zeros there).
      const OH = same ? H * stride[0] : (H - 1) * stride[0] - resolved[0] - resolved[1] + dilation[0] * (KH - 1) + op[0] + 1;
      const OW = same ? W * stride[1] : (W - 1) * stride[1] - resolved[2] - resolved[3] + dilation[1] * (KW - 1) + op[1] + 1;
      if (OH < 1 || OW < 1) continue;
      n++;
      const rank3 = N === 1 && r.next() < 0.4;
      const shape = layout === 'NCHW' ? [N, C, H, W] : [N, H, W, C];
      const input = T(r.floats(N * C * H * W), rank3 ? shape.slice(1) : shape);
      const weight = T(r.floats(C * Og * KH * KW), weightLayout === 'IOHW' ? [C, Og, KH, KW] : [KH, KW, Og, C]);
      const bias = r.next() < 0.5 ? r.floats(Og * groups) : undefined;
      const relu = r.next() < 0.3;
      const options: Conv2dTransposeOptions = { stride, dilation, padding, groups, layout, weightLayout, bias, activation: relu ? 'relu' : 'none', ...(same ? {} : { outputPadding: op }) };
      const ref = refConvTranspose(input, weight, { stride, dilation, padding: resolved, outputPadding: op, groups, bias, relu, layout, weightLayout,
        outputSize: same ? [H * stride[0], W * stride[1]] : undefined });
      const label = JSON.stringify({ in: input.shape, w: weight.shape, ...options, bias: !!bias });
      const y = conv2dTransposeSync(input, weight, options);
      expect(y.shape, label).toEqual(ref.shape);
      expect(relError(y.data, ref.data), label).toBeLessThan(1e-5);
      expect(convTransposeCost(input.shape, weight.shape, options).outputShape).toEqual(ref.shape);
      if (t % 4 === 0) {
        const a = await conv2dTranspose(input, weight, options);
        expect(a.data).toEqual(y.data);
        const out = new Float32Array(y.data.length).fill(NaN);
        expect(conv2dTransposeSync(input, weight, { ...options, out }).data).toBe(out);
        expect(out).toEqual(y.data);
      }
      for (const algorithm of names) {
        let f;
        try {
          f = conv2dTransposeSync(input, weight, { ...options, algorithm: algorithm as never });
        } catch (e) {
          expect((e as { code: string }).code).toBe('ERR_CHANNELCONV_INVALID_OPTION');
          continue;
        }
        expect(f.algorithm).toBe(algorithm);
        expect(relError(f.data, ref.data), `${algorithm} ${label}`).toBeLessThan(1e-5);
      }
    }
    expect(n).toBeGreaterThan(40);
  });

  it('outputPadding must be below max(stride, dilation), and 0 with padding \'same\'', () => {
    const x = T(r.floats(2 * 4 * 4), [1, 2, 4, 4]), w = T(r.floats(2 * 3 * 3 * 3), [2, 3, 3, 3]);
    const rangeErr = (o: Conv2dTransposeOptions, text: string) =>
      expect(() => conv2dTransposeSync(x, w, o)).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_INVALID_OPTION', message: expect.stringContaining(text) }));
    rangeErr({ stride: 2, outputPadding: 2 }, 'outputPadding[0] must be below max(stride, dilation) = 2');
    rangeErr({ stride: [1, 2], outputPadding: [0, 2] }, 'outputPadding[1]');
    rangeErr({ stride: 2, padding: 'same', outputPadding: 1 }, "padding 'same'");
    expect(conv2dTransposeSync(x, w, { dilation: 3, outputPadding: 2 }).shape).toEqual([1, 3, 4 + 6 + 2, 4 + 6 + 2]);
    expect(() => conv2dTransposeSync(T(r.floats(2), [1, 2, 1, 1]), T(r.floats(2), [2, 1, 1, 1]), { padding: 1 }))
      .toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_EMPTY_OUTPUT' }));
  });
});

// The transposed convolution's options giving back a random forward geometry's input size.
function transposeGeometry(c: NonNullable<ReturnType<typeof randomGeometry>>): Conv2dTransposeOptions {
  const o = c.options;
  const nhwc = o.layout === 'NHWC';
  const rank = c.input.shape.length;
  const H = c.input.shape[nhwc ? rank - 3 : rank - 2], W = c.input.shape[nhwc ? rank - 2 : rank - 1];
  const OH = c.gradOutput.shape[nhwc ? rank - 3 : rank - 2], OW = c.gradOutput.shape[nhwc ? rank - 2 : rank - 1];
  const wl = o.weightLayout === 'HWIO';
  const KH = c.weight.shape[wl ? 0 : 2], KW = c.weight.shape[wl ? 1 : 3];
  const [sh, sw] = o.stride as [number, number], [dh, dw] = o.dilation as [number, number];
  if (o.padding === 'same') return { stride: [sh, sw], dilation: [dh, dw], padding: 'same', groups: o.groups, layout: o.layout };
  const p = o.padding === 'valid' ? [0, 0, 0, 0] : typeof o.padding === 'number' ? [o.padding, o.padding, o.padding, o.padding] : o.padding as number[];
  const oph = H - ((OH - 1) * sh - p[0] - p[1] + dh * (KH - 1) + 1), opw = W - ((OW - 1) * sw - p[2] - p[3] + dw * (KW - 1) + 1);
  return { stride: [sh, sw], dilation: [dh, dw], padding: p as [number, number, number, number], outputPadding: [oph, opw], groups: o.groups, layout: o.layout };
}

describe('prepared layers: backward', () => {
  it('layer.backward(Sync) equals conv2dBackward with the layer\'s weight and options, packing once', async () => {
    for (let t = 0; t < 12; t++) {
      const c = randomGeometry();
      if (!c) continue;
      const { needs: _n, ...opts } = c.options;
      const layer = createConv2d(c.weight, { ...opts, bias: r.floats(c.weight.shape[c.options.weightLayout === 'HWIO' ? 3 : 0]), activation: 'relu' });
      const g = layer.backwardSync(c.input, c.gradOutput);
      expect(relError(g.gradInput!.data, c.ref.gradInput), c.label).toBeLessThan(1e-5);
      expect(relError(g.gradWeight!.data, c.ref.gradWeight), c.label).toBeLessThan(1e-5);
      expect(relError(g.gradBias!, c.ref.gradBias), c.label).toBeLessThan(1e-5);
      const bytes = layer.bytes;
      const a = await layer.backward(c.input, c.gradOutput, ['input']);
      expect(Object.keys(a).sort()).toEqual(['algorithms', 'gradInput']);
      expect(a.gradInput!.data).toEqual(g.gradInput!.data);
      expect(layer.bytes).toBe(bytes); // packed on the first call only
      layer.dispose();
      expect(() => layer.backwardSync(c.input, c.gradOutput)).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_DISPOSED' }));
    }
  });
});

describe('cost of the backward pass and of the transposed convolution', () => {
  it('convBackwardCost: one part per gradient, multiply-adds of the forward problem each, workspace the larger', () => {
    const c = convBackwardCost([8, 64, 56, 56], [64, 64, 3, 3], { padding: 1 });
    const macs = 8 * 64 * 64 * 9 * 56 * 56;
    expect(c.gradInput!.outputShape).toEqual([8, 64, 56, 56]);
    expect(c.gradWeight!.outputShape).toEqual([64, 64, 3, 3]);
    expect(c.gradInput!.macs).toBe(macs);
    expect(c.gradWeight!.macs).toBe(macs);
    expect(c.macs).toBe(2 * macs);
    expect(c.flops).toBe(4 * macs);
    expect(c.workspaceBytes).toBe(Math.max(c.gradInput!.workspaceBytes, c.gradWeight!.workspaceBytes));
    expect(backendInfo().algorithms).toContain(c.gradInput!.algorithm);
    expect(backendInfo().algorithms).toContain(c.gradWeight!.algorithm);
    const b = convBackwardCost([8, 64, 56, 56], [64, 64, 3, 3], { padding: 1, needs: ['bias'] });
    expect(b).toEqual({ macs: 0, flops: 0, workspaceBytes: 0 });
    const d = convBackwardCost([1, 8, 9, 9], [8, 1, 3, 3], { groups: 8, needs: ['input'] });
    expect(d.gradWeight).toBeUndefined();
    expect(d.gradInput!.algorithm).toBe('direct');
  });
  it('convTransposeCost: the output size formula, and the algorithm the call reports', () => {
    const c = convTransposeCost([2, 16, 7, 9], [16, 4, 3, 5], { stride: [2, 3], padding: [1, 0, 2, 1], outputPadding: [1, 2], dilation: [1, 2] });
    expect(c.outputShape).toEqual([2, 4, (7 - 1) * 2 - 1 + 2 + 1 + 1, (9 - 1) * 3 - 3 + 8 + 2 + 1]);
    expect(c.macs).toBe(2 * 16 * 4 * 3 * 5 * 7 * 9);
    const y = conv2dTransposeSync(T(r.floats(2 * 16 * 63), [2, 16, 7, 9]), T(r.floats(16 * 4 * 15), [16, 4, 3, 5]),
      { stride: [2, 3], padding: [1, 0, 2, 1], outputPadding: [1, 2], dilation: [1, 2] });
    expect(y.algorithm).toBe(c.algorithm);
    expect(y.shape).toEqual(c.outputShape);
  });
});

describe('training step through the public API', () => {
  it('a forward pass, the gradients, and an SGD step lower a quadratic loss', async () => {
    const x = T(r.floats(2 * 3 * 8 * 8), [2, 3, 8, 8]);
    const target = T(r.floats(2 * 4 * 8 * 8), [2, 4, 8, 8]);
    const w = T(r.floats(4 * 3 * 3 * 3).map((v) => v * 0.1), [4, 3, 3, 3]);
    const bias = new Float32Array(4);
    const loss = (y: Float32Array) => y.reduce((s, v, i) => s + 0.5 * (v - target.data[i]) ** 2, 0);
    let prev = Infinity;
    for (let step = 0; step < 5; step++) {
      const y = await conv2d(x, w, { padding: 'same', bias });
      const l = loss(y.data);
      expect(l).toBeLessThan(prev);
      prev = l;
      const g = await conv2dBackward(x, w, { data: y.data.map((v, i) => v - target.data[i]), shape: y.shape }, { padding: 'same', needs: ['weight', 'bias'] });
      for (let i = 0; i < w.data.length; i++) w.data[i] -= 0.002 * g.gradWeight!.data[i];
      for (let i = 0; i < 4; i++) bias[i] -= 0.002 * g.gradBias![i];
    }
  });
});
