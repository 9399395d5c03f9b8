// The native binding called directly, bypassing the TS layer: it must check everything itself (the
// descriptor's every slot, every array, the layer) and never crash the process. Each bad call gives
// a TypeError / RangeError with its code and a message naming what is wrong, from run, runAsync and
// plan alike.
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import type { Binding, NativeLayer } from '../binding';
import { DESC_LEN, slot, writeRequest, type Request } from '../lib/desc';
import { ALIAS, CHAN, classOf, EMPTY, GROUPS, LARGE, OPT, OUT, SHAPE, T, refConv, relError, rng, seedFromEnv } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const b = require('node-gyp-build')(path.join(__dirname, '..')) as Binding;
const seed = seedFromEnv();
console.log(`native-direct.test.ts seed ${seed} (CHANNELCONV_SEED=${seed} to replay)`);
const r = rng(seed);


// A good call: input [2, 4, 4], weight [3, 2, 2, 2], no padding -> output [3, 3, 3].
const request = (): Request => ({
  op: 'conv', direction: 'forward', inputShape: [2, 4, 4], weightShape: [3, 2, 2, 2],
  geometry: { stride: [1, 1], dilation: [1, 1], padMode: 'explicit', padding: [0, 0, 0, 0], outputPadding: [0, 0], groups: 1, layout: 'NCHW', weightLayout: 'OIHW' },
  bias: false, activation: 'none', precision: 'fp32', device: 'cpu', threads: 0, algorithm: -1,
});
const desc = (edit?: (d: Float64Array) => void) => {
  const d = writeRequest(new Float64Array(DESC_LEN), request());
  edit?.(d);
  return d;
};
const detached = (n: number): Float32Array => {
  const a = new Float32Array(n);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
};
// (desc, src, w, bias, dst, src2, dst2)
type Args = unknown[];
const good = (): Args => [desc(), r.floats(32), r.floats(24), null, new Float32Array(27), null, null];
const arg = (i: number, v: unknown): Args => { const a = good(); a[i] = v; return a; };
const at = (s: number, v: number): Args => arg(0, desc((d) => { d[s] = v; }));
// With a bias: the descriptor's bias slot says so.
const withBias = (bias: unknown): Args => { const a = arg(3, bias); a[0] = desc((d) => { d[slot.bias] = 1; }); return a; };

// [label, args, code, text the message must contain]
const cases: [string, () => Args, string, string][] = [
  ['no arguments', () => [], T, 'desc must be a Float64Array'],
  ['desc a plain array', () => arg(0, new Array(DESC_LEN).fill(1)), T, 'desc must be a Float64Array'],
  ['desc too short', () => arg(0, new Float64Array(DESC_LEN - 1)), T, `at least ${DESC_LEN} elements`],
  ['desc detached', () => { const d = desc(); structuredClone(d.buffer, { transfer: [d.buffer] }); return arg(0, d); }, T, 'desc'],
  ['rank 5', () => at(slot.rank, 5), SHAPE, `slot ${slot.rank}`],
  ['rank 2', () => at(slot.rank, 2), SHAPE, `slot ${slot.rank}`],
  ['input dim NaN', () => at(slot.input + 1, NaN), SHAPE, `slot ${slot.input + 1}`],
  ['input dim Infinity', () => at(slot.input + 1, Infinity), SHAPE, `slot ${slot.input + 1}`],
  ['input dim 1.5', () => at(slot.input + 1, 1.5), SHAPE, `slot ${slot.input + 1}`],
  ['input dim -4', () => at(slot.input + 1, -4), SHAPE, `slot ${slot.input + 1}`],
  ['input dim 2^40', () => at(slot.input + 1, 2 ** 40), LARGE, 'input height'],
  ['input dim 1e300', () => at(slot.input + 1, 1e300), SHAPE, `slot ${slot.input + 1}`],
  ['weight dim 0', () => at(slot.weight, 0), SHAPE, `slot ${slot.weight}`],
  ['input elements past 2^31', () => arg(0, desc((d) => { d[slot.input + 1] = 65536; d[slot.input + 2] = 65536; })), LARGE, 'input'],
  ['weight elements past 2^31', () => arg(0, desc((d) => { d[slot.weight] = 65536; d[slot.weight + 2] = 128; d[slot.weight + 3] = 128; })), LARGE, 'weight'],
  ['output elements past 2^31', () => arg(0, desc((d) => { for (let i = 0; i < 4; i++) d[slot.pad + i] = 40000; })), LARGE, 'output'],
  ['channel mismatch', () => at(slot.weight + 1, 1), CHAN, 'the input has 2 channels'],
  ['groups not dividing', () => at(slot.groups, 3), GROUPS, 'groups'],
  ['groups 0', () => at(slot.groups, 0), OPT, 'groups'],
  ['groups 1.5', () => at(slot.groups, 1.5), OPT, `slot ${slot.groups}`],
  ['stride 0', () => at(slot.stride, 0), OPT, 'stride[0]'],
  ['stride NaN', () => at(slot.stride + 1, NaN), OPT, `slot ${slot.stride + 1}`],
  ['stride 2^31', () => at(slot.stride + 1, 2 ** 31), OPT, 'stride[1]'],
  ['stride 2^53 + 2', () => at(slot.stride + 1, 2 ** 53 + 2), OPT, `slot ${slot.stride + 1}`],
  ['dilation 0', () => at(slot.dilation, 0), OPT, 'dilation[0]'],
  ['padding -1', () => at(slot.pad + 1, -1), OPT, 'padding[bottom]'],
  ['padding Infinity', () => at(slot.pad + 1, Infinity), OPT, `slot ${slot.pad + 1}`],
  ['kernel larger than the input', () => arg(0, desc((d) => { d[slot.weight + 2] = 9; })), EMPTY, 'output would be empty'],
  ['pad mode 4', () => at(slot.padMode, 4), OPT, `slot ${slot.padMode}`],
  ['layout 2', () => at(slot.layout, 2), OPT, `slot ${slot.layout}`],
  ['weight layout -1', () => at(slot.weightLayout, -1), OPT, `slot ${slot.weightLayout}`],
  ['activation 2', () => at(slot.activation, 2), OPT, `slot ${slot.activation}`],
  ['precision 3', () => at(slot.precision, 3), OPT, `slot ${slot.precision}`],
  ['device 2', () => at(slot.device, 2), OPT, `slot ${slot.device}`],
  ['threads 1025', () => at(slot.threads, 1025), OPT, `slot ${slot.threads}`],
  ['threads -1', () => at(slot.threads, -1), OPT, `slot ${slot.threads}`],
  ['algorithm 99', () => at(slot.algorithm, 99), OPT, `slot ${slot.algorithm}`],
  ['algorithm -2', () => at(slot.algorithm, -2), OPT, `slot ${slot.algorithm}`],
  ['op 2', () => at(slot.op, 2), OPT, `slot ${slot.op}`],
  ['direction 3', () => at(slot.direction, 3), OPT, `slot ${slot.direction}`],
  ['skip weights on a forward call', () => at(slot.skipWeights, 1), OPT, 'backward-weights only'],
  ['input a Float64Array', () => arg(1, new Float64Array(32)), T, 'input.data must be a Float32Array, got a Float64Array'],
  ['input a DataView', () => arg(1, new DataView(new ArrayBuffer(128))), T, 'input.data'],
  ['input an ArrayBuffer', () => arg(1, new ArrayBuffer(128)), T, 'input.data'],
  ['input a Proxy of a Float32Array', () => arg(1, new Proxy(new Float32Array(32), {})), T, 'input.data'],
  ['input a Symbol', () => arg(1, Symbol('x')), T, 'input.data'],
  ['input a BigInt', () => arg(1, 5n), T, 'input.data'],
  ['input detached', () => arg(1, detached(32)), T, 'input.data is backed by a detached ArrayBuffer'],
  ['input one too short', () => arg(1, new Float32Array(31)), SHAPE, 'input.data has 31 elements, expected 32 for its shape [2, 4, 4]'],
  ['weight detached', () => arg(2, detached(24)), T, 'weight.data'],
  ['weight a plain object', () => arg(2, {}), T, 'weight.data must be a Float32Array, got an object'],
  ['weight one too long', () => arg(2, new Float32Array(25)), SHAPE, 'weight.data has 25 elements, expected 24'],
  ['bias an Int32Array', () => withBias(new Int32Array(3)), T, 'options.bias'],
  ['bias detached', () => withBias(detached(3)), T, 'options.bias'],
  ['bias too long', () => withBias(new Float32Array(4)), SHAPE, 'options.bias has 4 elements, expected 3 (one per output channel, weight.shape[0])'],
  ['a bias the descriptor does not announce', () => arg(3, new Float32Array(3)), T, 'descriptor slot 25 (bias) is 0'],
  ['no bias where the descriptor announces one', () => withBias(null), T, 'descriptor slot 25 (bias) is 1'],
  ['out null on a sync call', () => arg(4, null), T, 'options.out must be a Float32Array, got null'],
  ['out detached', () => arg(4, detached(27)), T, 'options.out'],
  ['out a string', () => arg(4, 'out'), T, 'options.out'],
  ['out one too short', () => arg(4, new Float32Array(26)), OUT, 'options.out has 26 elements, expected 27 for output shape [3, 3, 3]'],
  ['out one too long', () => arg(4, new Float32Array(28)), OUT, 'options.out has 28'],
  ['out is the input', () => { const a = good(); a[4] = (a[1] as Float32Array).subarray(0, 27); return a; }, ALIAS, 'options.out must not share memory'],
  ['out overlaps the end of the weight', () => { const buf = new Float32Array(60); const a = good(); a[2] = buf.subarray(0, 24); a[4] = buf.subarray(23, 50); return a; }, ALIAS, 'options.out'],
  ['out overlaps the bias', () => { const buf = new Float32Array(40); const a = withBias(buf.subarray(0, 3)); a[4] = buf.subarray(2, 29); return a; }, ALIAS, 'options.out'],
  ['a second input on a forward call', () => arg(5, new Float32Array(27)), T, 'backward-weights only'],
  ['a second output on a forward call', () => arg(6, new Float32Array(3)), T, 'does not compute'],
  ['a forced algorithm that cannot run it', () => arg(0, desc((d) => { d[slot.layout] = 1; d[slot.input] = 4; d[slot.input + 1] = 4; d[slot.input + 2] = 2; d[slot.algorithm] = b.backendInfo().algorithms.indexOf('direct'); })), OPT, "options.algorithm 'direct' cannot run this problem"],
];

describe('native binding called directly', () => {
  for (const [label, args, code, text] of cases) {
    it(`${label} -> ${code}`, () => {
      // run, runAsync (argument errors throw synchronously; an async call may leave out null) and
      // plan, for the cases about the descriptor.
      const calls: [string, (a: Args) => unknown][] = [
        ['run', (a) => (b.run as (...x: unknown[]) => unknown)(...a)],
        ['runAsync', (a) => (b.runAsync as (...x: unknown[]) => unknown)(...a)],
      ];
      for (const [name, call] of calls) {
        if (name === 'runAsync' && label === 'out null on a sync call') continue;
        let err: unknown;
        try {
          call(args());
        } catch (e) {
          err = e;
        }
        expect(err, `${name}: ${label}`).toBeInstanceOf(classOf(code));
        expect((err as { code: string }).code, name).toBe(code);
        expect((err as Error).message, name).toContain(text);
      }
    });
  }

  it('plan checks the descriptor as run does, and writes the results into it', () => {
    const plan = b.plan as (...a: unknown[]) => unknown;
    expect(() => plan()).toThrow(expect.objectContaining({ code: T }));
    expect(() => plan(desc((d) => { d[slot.groups] = 3; }))).toThrow(expect.objectContaining({ code: GROUPS }));
    expect(() => plan(desc((d) => { d[slot.input + 1] = 65536; d[slot.input + 2] = 65536; }))).toThrow(expect.objectContaining({ code: LARGE }));
    expect(() => plan(desc((d) => { d[slot.padMode] = 2; d[slot.stride] = 2 ** 31 - 1; }))).not.toThrow();
    const d = desc();
    plan(d);
    expect([d[slot.dstRank], d[slot.dst], d[slot.dst + 1], d[slot.dst + 2], d[slot.macs]]).toEqual([3, 3, 3, 3, 3 * 2 * 4 * 9]);
    expect(b.backendInfo().algorithms[d[slot.algorithmOut]]).toBe('direct');
    expect(() => plan(desc(), {})).not.toThrow(); // a non-layer second argument is no layer
  });

  it('a good call gives the reference result, sync and async, and extra arguments are ignored', async () => {
    const a = good();
    (b.run as (...x: unknown[]) => unknown)(...a, 'extra', Symbol('x'));
    const ref = refConv({ data: a[1] as Float32Array, shape: [2, 4, 4] }, { data: a[2] as Float32Array, shape: [3, 2, 2, 2] });
    expect(relError(a[4] as Float32Array, ref.data)).toBeLessThan(1e-5);
    const y = await b.runAsync(a[0] as Float64Array, a[1] as Float32Array, a[2] as Float32Array, null, null);
    expect(y).toBeInstanceOf(Float32Array);
    expect(relError(y as Float32Array, ref.data)).toBeLessThan(1e-5);
    expect((b.backendInfo as (...x: unknown[]) => { version: string })(1, 2).version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('an async call does not touch the caller\'s out (it makes its own output)', async () => {
    const a = good();
    const out = a[4] as Float32Array;
    out.fill(-7);
    const y = await (b.runAsync as (...x: unknown[]) => Promise<Float32Array>)(...a);
    expect(y).not.toBe(out);
    expect(out.every((v) => v === -7)).toBe(true);
  });

  it('the input can be detached while an async call runs: the call works on its own copy', async () => {
    const a = good();
    const ref = refConv({ data: a[1] as Float32Array, shape: [2, 4, 4] }, { data: a[2] as Float32Array, shape: [3, 2, 2, 2] });
    const p = (b.runAsync as (...x: unknown[]) => Promise<Float32Array>)(a[0], a[1], a[2], null, null);
    structuredClone((a[1] as Float32Array).buffer, { transfer: [(a[1] as Float32Array).buffer] });
    structuredClone((a[2] as Float32Array).buffer, { transfer: [(a[2] as Float32Array).buffer] });
    expect(relError(await p, ref.data)).toBeLessThan(1e-5);
  });
});

// The backward directions and the transposed convolution, raw: the same descriptor with direction
// 1 (backward-data: src = gradOutput [3, 3, 3], dst = gradInput [2, 4, 4]) or 2 (backward-weights:
// src = input, src2 = gradOutput, dst = gradWeight [3, 2, 2, 2], dst2 = gradBias [3], weight null),
// or op 1 (transposed: input [3, 3, 3], weight IOHW [3, 2, 2, 2] -> [2, 4, 4]).
const bwdDesc = (dir: 'backward_data' | 'backward_weights', edit?: (d: Float64Array) => void, bias = dir === 'backward_weights') => {
  const d = writeRequest(new Float64Array(DESC_LEN), { ...request(), direction: dir, bias });
  edit?.(d);
  return d;
};
const tDesc = (edit?: (d: Float64Array) => void) => {
  const d = writeRequest(new Float64Array(DESC_LEN), { ...request(), op: 'transpose', direction: 'backward_data', inputShape: [3, 3, 3], weightShape: [3, 2, 2, 2] });
  edit?.(d);
  return d;
};
const goodData = (): Args => [bwdDesc('backward_data'), r.floats(27), r.floats(24), null, new Float32Array(32), null, null];
const goodWeights = (): Args => [bwdDesc('backward_weights'), r.floats(32), null, null, new Float32Array(24), r.floats(27), new Float32Array(3)];
const goodT = (): Args => [tDesc(), r.floats(27), r.floats(24), null, new Float32Array(32), null, null];
const edit = (base: () => Args, i: number, v: unknown) => (): Args => { const a = base(); a[i] = v; return a; };
const backwardCases: [string, () => Args, string, string][] = [
  ['backward-data: gradOutput one too short', edit(goodData, 1, new Float32Array(26)), SHAPE, 'gradOutput.data has 26 elements, expected 27 for its shape [3, 3, 3]'],
  ['backward-data: gradOutput a Float64Array', edit(goodData, 1, new Float64Array(27)), T, 'gradOutput.data must be a Float32Array'],
  ['backward-data: gradOutput detached', edit(goodData, 1, detached(27)), T, 'gradOutput.data'],
  ['backward-data: weight missing', edit(goodData, 2, null), T, 'weight.data'],
  ['backward-data: gradInput one too long', edit(goodData, 4, new Float32Array(33)), OUT, 'gradInput has 33 elements, expected 32 for output shape [2, 4, 4]'],
  ['backward-data: gradInput null on a sync call', edit(goodData, 4, null), T, 'gradInput'],
  ['backward-data: a bias of the input channels is checked', edit(goodData, 3, new Float32Array(3)), SHAPE, 'options.bias has 3 elements, expected 2'],
  ['backward-data: gradInput is gradOutput', () => { const a = goodData(); const buf = r.floats(64); a[1] = buf.subarray(0, 27); a[4] = buf.subarray(20, 52); return a; }, ALIAS, 'gradInput must not share memory'],
  ['backward-data: a second input', edit(goodData, 5, new Float32Array(27)), T, 'backward-weights only'],
  ['backward-data: forced packed_gemm', () => { const a = goodData(); a[0] = bwdDesc('backward_data', (d) => { d[slot.algorithm] = b.backendInfo().algorithms.indexOf('packed_gemm'); }); return a; }, OPT, 'has no backward_data implementation'],
  ['backward-data: skip weights', () => { const a = goodData(); a[0] = bwdDesc('backward_data', (d) => { d[slot.skipWeights] = 1; }); return a; }, OPT, 'backward-weights only'],
  ['backward-weights: a weight passed', edit(goodWeights, 2, r.floats(24)), T, 'weight must be null for backward-weights'],
  ['backward-weights: a bias passed', edit(goodWeights, 3, r.floats(3)), T, 'bias must be null for backward-weights'],
  ['backward-weights: gradOutput missing', edit(goodWeights, 5, null), T, 'gradOutput.data must be a Float32Array'],
  ['backward-weights: gradOutput a plain array', edit(goodWeights, 5, new Array(27).fill(0)), T, 'gradOutput.data'],
  ['backward-weights: gradOutput one too long', edit(goodWeights, 5, new Float32Array(28)), SHAPE, 'gradOutput.data has 28 elements, expected 27 for the forward output shape [3, 3, 3]'],
  ['backward-weights: gradOutput detached', edit(goodWeights, 5, detached(27)), T, 'gradOutput.data'],
  ['backward-weights: gradWeight one too short', edit(goodWeights, 4, new Float32Array(23)), OUT, 'gradWeight has 23 elements, expected 24'],
  ['backward-weights: gradBias one too long', edit(goodWeights, 6, new Float32Array(4)), OUT, 'gradBias has 4 elements, expected 3'],
  ['backward-weights: gradBias an Int32Array', edit(goodWeights, 6, new Int32Array(3)), T, 'gradBias'],
  ['backward-weights: gradBias missing on a sync call', edit(goodWeights, 6, null), T, 'gradBias'],
  ['backward-weights: gradBias without the bias flag', () => { const a = goodWeights(); a[0] = bwdDesc('backward_weights', undefined, false); return a; }, T, 'does not compute'],
  ['backward-weights: gradWeight with skip weights', () => { const a = goodWeights(); a[0] = bwdDesc('backward_weights', (d) => { d[slot.skipWeights] = 1; }); return a; }, T, 'does not compute'],
  ['backward-weights: gradWeight is the input', () => { const a = goodWeights(); const buf = r.floats(40); a[1] = buf.subarray(0, 32); a[4] = buf.subarray(10, 34); return a; }, ALIAS, 'gradWeight must not share memory'],
  ['backward-weights: gradBias inside gradOutput', () => { const a = goodWeights(); const buf = r.floats(27); a[5] = buf; a[6] = buf.subarray(5, 8); return a; }, ALIAS, 'gradBias must not share memory'],
  ['backward-weights: gradBias inside gradWeight', () => { const a = goodWeights(); const buf = new Float32Array(24); a[4] = buf; a[6] = buf.subarray(0, 3); return a; }, ALIAS, 'gradWeight and gradBias must not share memory'],
  ['backward-weights: relu', () => { const a = goodWeights(); a[0] = bwdDesc('backward_weights', (d) => { d[slot.activation] = 1; }); return a; }, OPT, 'not to the weight gradient'],
  ['backward-weights: forced packed_gemm', () => { const a = goodWeights(); a[0] = bwdDesc('backward_weights', (d) => { d[slot.algorithm] = b.backendInfo().algorithms.indexOf('packed_gemm'); }); return a; }, OPT, 'has no backward_weights implementation'],
  ['backward-weights: skip weights 2', () => { const a = goodWeights(); a[0] = bwdDesc('backward_weights', (d) => { d[slot.skipWeights] = 2; }); return a; }, OPT, `slot ${slot.skipWeights}`],
  ['transposed: input channels != weight.shape[0]', () => { const a = goodT(); a[0] = tDesc((d) => { d[slot.input] = 2; }); a[1] = r.floats(18); return a; }, CHAN, 'weight.shape[0]'],
  ['transposed: outputPadding 1 with stride 1', () => { const a = goodT(); a[0] = tDesc((d) => { d[slot.outputPadding] = 1; }); return a; }, OPT, 'outputPadding[0] must be below max(stride, dilation) = 1'],
  ['transposed: outputPadding NaN', () => { const a = goodT(); a[0] = tDesc((d) => { d[slot.outputPadding + 1] = NaN; }); return a; }, OPT, `slot ${slot.outputPadding + 1}`],
  ['transposed: outputPadding -1', () => { const a = goodT(); a[0] = tDesc((d) => { d[slot.outputPadding] = -1; }); return a; }, OPT, 'outputPadding[0] must be >= 0'],
  ['transposed: padding empties the output', () => { const a = goodT(); a[0] = tDesc((d) => { d[slot.pad] = 3; d[slot.pad + 1] = 3; }); return a; }, EMPTY, 'output would be empty'],
  ['transposed: output past 2^31 (stride)', () => { const a = goodT(); a[0] = tDesc((d) => { d[slot.stride] = 2 ** 31 - 1; d[slot.stride + 1] = 2 ** 31 - 1; }); return a; }, LARGE, 'output'],
  ['transposed: out one too short', edit(goodT, 4, new Float32Array(31)), OUT, 'options.out has 31 elements, expected 32'],
  ['transposed: bias of the input channels', edit(goodT, 3, new Float32Array(3)), SHAPE, 'options.bias has 3 elements, expected 2'],
  ['transposed: same padding with outputPadding', () => { const a = goodT(); a[0] = tDesc((d) => { d[slot.padMode] = 2; d[slot.stride] = 2; d[slot.outputPadding] = 1; }); return a; }, OPT, "padding 'same'"],
];

describe('native binding called directly: the backward directions and the transposed convolution', () => {
  for (const [label, args, code, text] of backwardCases) {
    it(`${label} -> ${code}`, () => {
      for (const name of ['run', 'runAsync']) {
        const a = args();
        if (name === 'runAsync' && /null on a sync call|missing on a sync call/.test(label)) continue;
        let err: unknown;
        try {
          ((b as unknown as Record<string, (...x: unknown[]) => unknown>)[name])(...a);
        } catch (e) {
          err = e;
        }
        expect(err, `${name}: ${label}`).toBeInstanceOf(classOf(code));
        expect((err as { code: string }).code, name).toBe(code);
        expect((err as Error).message, name).toContain(text);
      }
    });
  }

  it('good calls of each direction give the reference result, sync and async', async () => {
    const x = r.floats(32), w = r.floats(24), gy = r.floats(27);
    const fwd = refConv({ data: x, shape: [2, 4, 4] }, { data: w, shape: [3, 2, 2, 2] });
    // backward-weights against <x, gw> = <conv(x, w)...>: the gradient is linear in x; check by the
    // adjoint identity with the forward reference, and the bias gradient by the sum of gy.
    const gw = new Float32Array(24), gb = new Float32Array(3);
    b.run(bwdDesc('backward_weights'), x, null, null, gw, gy, gb);
    let lhs = 0, rhs = 0;
    for (let i = 0; i < 27; i++) lhs += fwd.data[i] * gy[i];
    for (let i = 0; i < 24; i++) rhs += w[i] * gw[i];
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * Math.max(1, Math.abs(lhs)));
    for (let k = 0; k < 3; k++) expect(gb[k]).toBeCloseTo(gy.slice(9 * k, 9 * k + 9).reduce((s, v) => s + v, 0), 5);
    const [agw, agb] = (await b.runAsync(bwdDesc('backward_weights'), x, null, null, null, gy)) as [Float32Array, Float32Array];
    expect(agw).toEqual(gw);
    expect(agb).toEqual(gb);
    // The bias gradient alone: no weight gradient array, sync and async.
    const only = new Float32Array(3);
    b.run(bwdDesc('backward_weights', (d) => { d[slot.skipWeights] = 1; }), x, null, null, null, gy, only);
    expect(only).toEqual(gb);
    expect(await b.runAsync(bwdDesc('backward_weights', (d) => { d[slot.skipWeights] = 1; }), x, null, null, null, gy)).toEqual([null, gb]);
    // backward-data and the transposed convolution are the same problem: the same result.
    const gx = new Float32Array(32), tx = new Float32Array(32);
    b.run(bwdDesc('backward_data'), gy, w, null, gx);
    b.run(tDesc(), gy, w, null, tx);
    expect(tx).toEqual(gx);
    let rx = 0;
    for (let i = 0; i < 32; i++) rx += x[i] * gx[i];
    expect(Math.abs(lhs - rx)).toBeLessThan(1e-4 * Math.max(1, Math.abs(lhs)));
    expect(await b.runAsync(tDesc(), gy, w, null, null)).toEqual(tx);
  });
});

describe('native Layer called directly', () => {
  const make = (): NativeLayer => new b.Layer(r.floats(24), null, desc());
  it('checks its arguments', () => {
    const L = b.Layer as unknown as new (...a: unknown[]) => NativeLayer;
    expect(() => new L()).toThrow(expect.objectContaining({ code: T }));
    expect(() => new L(new Float32Array(23), null, desc())).toThrow(expect.objectContaining({ code: SHAPE, message: expect.stringContaining('weight.data has 23') }));
    expect(() => new L(new Float32Array(24), new Float32Array(4), desc())).toThrow(expect.objectContaining({ code: SHAPE, message: expect.stringContaining('one per output channel') }));
    expect(() => new L(new Float32Array(24), null, desc((d) => { d[slot.device] = 1; }))).toThrow(expect.objectContaining({ code: OPT }));
    expect(() => new L(new Float32Array(24), null, desc((d) => { d[slot.weight + 1] = 3; }))).toThrow(expect.objectContaining({ code: CHAN }));
  });

  it('runs in place of the weight, takes only the input and run options from the descriptor, and refuses when disposed', async () => {
    const w = r.floats(24);
    const layer = new b.Layer(w, null, desc());
    const x = r.floats(2 * 6 * 5);
    // The descriptor's weight slots lie (a 3x3 kernel): the layer's own 2x2 weight is used.
    const d = desc((q) => { q[slot.input + 1] = 6; q[slot.input + 2] = 5; q[slot.weight + 2] = 3; q[slot.weight + 3] = 3; });
    const y = new Float32Array(3 * 5 * 4);
    b.run(d, x, layer, null, y);
    const ref = refConv({ data: x, shape: [2, 6, 5] }, { data: w, shape: [3, 2, 2, 2] });
    expect(relError(y, ref.data)).toBeLessThan(1e-5);
    expect(relError((await b.runAsync(d, x, layer, null, null)) as Float32Array, ref.data)).toBeLessThan(1e-5);
    expect(() => b.run(d, x, layer, new Float32Array(3), y)).toThrow(expect.objectContaining({ code: T })); // a layer brings its own bias
    expect(() => b.run(desc((q) => { q[slot.device] = 1; }), x, layer, null, y)).toThrow(expect.objectContaining({ code: OPT }));
    expect(layer.bytes).toBeGreaterThanOrEqual(24 * 4);
    layer.dispose();
    expect(layer.bytes).toBe(0);
    expect(() => b.run(d, x, layer, null, y)).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_DISPOSED' }));
    expect(() => b.plan(d, layer)).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_DISPOSED' }));
    make().dispose();
  });
});
