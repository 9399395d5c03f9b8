// Bad inputs: each gives the right error class and code, from the sync and the async API.
import { describe, expect, it } from 'vitest';
import { conv2d, conv2dSync, convCost, corr2d, corr2dMultiIn, createConv2d, tensor, toNested } from '../lib/index';

const x = () => ({ data: new Float32Array(2 * 5 * 5), shape: [2, 5, 5] });
const w = () => ({ data: new Float32Array(3 * 2 * 3 * 3), shape: [3, 2, 3, 3] });

type Case = [label: string, input: unknown, weight: unknown, options: unknown, type: typeof TypeError | typeof RangeError | typeof Error, code: string];

const cases: Case[] = [
  ['input not an object', 42, w(), undefined, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input null', null, w(), undefined, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input a Float32Array', new Float32Array(4), w(), undefined, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input.data Float64Array', { data: new Float64Array(50), shape: [2, 5, 5] }, w(), undefined, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input.data plain array', { data: new Array(50).fill(0), shape: [2, 5, 5] }, w(), undefined, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input.shape not an array', { data: new Float32Array(50), shape: '2,5,5' }, w(), undefined, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input.shape with a string', { data: new Float32Array(50), shape: [2, '5', 5] }, w(), undefined, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input rank 2', { data: new Float32Array(25), shape: [5, 5] }, w(), undefined, RangeError, 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['input rank 5', { data: new Float32Array(50), shape: [1, 1, 2, 5, 5] }, w(), undefined, RangeError, 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['data length vs shape', { data: new Float32Array(49), shape: [2, 5, 5] }, w(), undefined, RangeError, 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['NaN dimension', { data: new Float32Array(50), shape: [2, NaN, 5] }, w(), undefined, RangeError, 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['non-integer dimension', { data: new Float32Array(50), shape: [2, 2.5, 10] }, w(), undefined, RangeError, 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['zero dimension', { data: new Float32Array(0), shape: [2, 0, 5] }, w(), undefined, RangeError, 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['negative dimension', { data: new Float32Array(50), shape: [-2, -5, 5] }, w(), undefined, RangeError, 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['weight rank 3', x(), { data: new Float32Array(18), shape: [2, 3, 3] }, undefined, RangeError, 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['channel mismatch', x(), { data: new Float32Array(27), shape: [1, 3, 3, 3] }, undefined, RangeError, 'ERR_CHANNELCONV_CHANNEL_MISMATCH'],
  ['groups not dividing Cin', x(), w(), { groups: 3 }, RangeError, 'ERR_CHANNELCONV_INVALID_GROUPS'],
  ['groups not dividing Cout', x(), { data: new Float32Array(27), shape: [3, 1, 3, 3] }, { groups: 2 }, RangeError, 'ERR_CHANNELCONV_INVALID_GROUPS'],
  ['groups 0', x(), w(), { groups: 0 }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['stride 0', x(), w(), { stride: 0 }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['stride [1, 0]', x(), w(), { stride: [1, 0] }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['stride 1.5', x(), w(), { stride: 1.5 }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['stride string', x(), w(), { stride: '1' }, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['stride 3 entries', x(), w(), { stride: [1, 1, 1] }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['dilation 0', x(), w(), { dilation: 0 }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['negative padding', x(), w(), { padding: -1 }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['negative padding entry', x(), w(), { padding: [0, 0, -1, 0] }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['padding 3 entries', x(), w(), { padding: [1, 1, 1] }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['unknown padding word', x(), w(), { padding: 'full' }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['padding object', x(), w(), { padding: {} }, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['empty output', x(), { data: new Float32Array(3 * 2 * 7 * 7), shape: [3, 2, 7, 7] }, undefined, RangeError, 'ERR_CHANNELCONV_EMPTY_OUTPUT'],
  ['unknown layout', x(), w(), { layout: 'NWHC' }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['unknown weightLayout', x(), w(), { weightLayout: 'IOHW' }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['unknown device', x(), w(), { device: 'tpu' }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['threads 0', x(), w(), { threads: 0 }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['threads 1e6', x(), w(), { threads: 1e6 }, RangeError, 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['unknown option key', x(), w(), { strides: 2 }, TypeError, 'ERR_CHANNELCONV_UNKNOWN_OPTION'],
  ['options not an object', x(), w(), 5, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['bias Float64Array', x(), w(), { bias: new Float64Array(3) }, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['bias wrong length', x(), w(), { bias: new Float32Array(2) }, RangeError, 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['out wrong type', x(), w(), { out: [] }, TypeError, 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['out wrong length', x(), w(), { out: new Float32Array(3) }, RangeError, 'ERR_CHANNELCONV_OUT_MISMATCH'],
  ['element count past 2^31', { data: new Float32Array(1), shape: [1, 1, 1, 1] }, { data: new Float32Array(1), shape: [1, 1, 1, 1] }, { padding: 70000 }, RangeError, 'ERR_CHANNELCONV_TOO_LARGE'],
  ['cuda without CUDA', x(), w(), { device: 'cuda' }, Error, 'ERR_CHANNELCONV_NO_CUDA'],
];

describe('bad inputs', () => {
  for (const [label, input, weight, options, type, code] of cases) {
    it(`${label}: ${type.name} ${code}`, async () => {
      let err: unknown;
      try {
        conv2dSync(input as never, weight as never, options as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(type);
      expect((err as { code: string }).code).toBe(code);
      // The message names what is wrong.
      expect((err as Error).message.length).toBeGreaterThan(10);
      await expect(conv2d(input as never, weight as never, options as never)).rejects.toMatchObject({ code });
    });
  }

  it('out aliasing the input is refused', () => {
    const buf = new Float32Array(100);
    const input = { data: buf.subarray(0, 50), shape: [2, 5, 5] };
    const weight = { data: new Float32Array(2), shape: [1, 2, 1, 1] };
    expect(() => conv2dSync(input, weight, { out: buf.subarray(25, 50) })).toThrow(
      expect.objectContaining({ code: 'ERR_CHANNELCONV_ALIAS' }),
    );
  });

  it('messages name the parameter and show expected vs got', () => {
    expect(() => conv2dSync(x(), { data: new Float32Array(27), shape: [1, 3, 3, 3] })).toThrow(
      'the input has 2 channels (input.shape[0]) but the weight expects 3 (weight.shape[1] = 3 per group)');
    expect(() => conv2dSync({ data: new Float64Array(50), shape: [2, 5, 5] } as never, w())).toThrow(/input\.data must be a Float32Array, got Float64Array/);
    expect(() => conv2dSync(x(), w(), { stride: 0 })).toThrow(/options\.stride.*got 0/);
  });

  it('a channel mismatch says which tensor disagrees with which, from the call\'s point of view', () => {
    const input = { data: new Float32Array(2 * 5 * 8 * 8), shape: [2, 5, 8, 8] };
    const weight = { data: new Float32Array(4 * 3 * 3 * 3), shape: [4, 3, 3, 3] };
    expect(() => conv2dSync(input, weight)).toThrow(
      'the input has 5 channels (input.shape[1]) but the weight expects 3 (weight.shape[1] = 3 per group)');
    expect(() => conv2dSync(input, { data: new Float32Array(4 * 2 * 9), shape: [4, 2, 3, 3] }, { groups: 2 })).toThrow(
      /^input channels \(input\.shape\[1\] = 5\) must be divisible by groups \(2\)$/);
    const layer = createConv2d(weight);
    expect(() => layer.runSync(input)).toThrow(/^the input has 5 channels; this layer expects 3$/);
    // An NHWC input passed without layout: 'NHWC': its last dimension is the expected count.
    const nhwc = { data: new Float32Array(2 * 8 * 8 * 3), shape: [2, 8, 8, 3] };
    expect(() => conv2dSync(nhwc, weight)).toThrow(
      "the input has 8 channels (input.shape[1]) but the weight expects 3 (weight.shape[1] = 3 per group); " +
      "the input's last dimension is 3: if the input is NHWC, pass layout: 'NHWC'");
    expect(() => layer.runSync(nhwc)).toThrow(/this layer expects 3; the input's last dimension is 3: if the input is NHWC/);
    layer.dispose();
  });

  it('a bias of the wrong length names Cout', () => {
    expect(() => conv2dSync(x(), w(), { bias: new Float32Array(4) })).toThrow(
      'options.bias has 4 elements, expected 3 (one per output channel, weight.shape[0])');
    expect(() => conv2dSync(x(), { data: new Float32Array(18 * 3), shape: [3, 3, 2, 3] }, { weightLayout: 'HWIO', bias: new Float32Array(2) })).toThrow(
      'options.bias has 2 elements, expected 3 (one per output channel, weight.shape[3])');
    expect(() => createConv2d(w(), { bias: new Float32Array(2) })).toThrow(
      'options.bias has 2 elements, expected 3 (one per output channel, weight.shape[0])');
  });

  it('convCost validates its arguments too', () => {
    expect(() => convCost([2, 5] as never, [1, 2, 3, 3])).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_INVALID_SHAPE' }));
    expect(() => convCost('x' as never, [1, 2, 3, 3])).toThrow(TypeError);
    expect(() => convCost([1, 2, 5, 5], [1, 3, 3, 3])).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_CHANNEL_MISMATCH' }));
  });

  it('the lecture functions check ranks and channels', () => {
    expect(() => corr2d(tensor([1, 2, 3]), tensor([[1]]))).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_INVALID_SHAPE' }));
    expect(() => corr2dMultiIn(tensor([[[1]], [[2]]]), tensor([[[1]]]))).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_CHANNEL_MISMATCH' }));
    expect(() => tensor([[1, 2], [3]])).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_INVALID_SHAPE' }));
    expect(() => tensor([['a']] as never)).toThrow(TypeError);
    expect(() => toNested({ data: [1], shape: [1] } as never)).toThrow(TypeError);
  });
});
