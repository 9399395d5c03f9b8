// The native binding called directly, bypassing the TS layer: it must check everything itself and
// never crash the process.
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import type { Binding } from '../binding';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const b = require('node-gyp-build')(path.join(__dirname, '..')) as Binding;
const params = () => ({
  stride: [1, 1], dilation: [1, 1], padMode: 'explicit', padding: [0, 0, 0, 0], groups: 1, layout: 'NCHW', weightLayout: 'OIHW',
});
const X = () => new Float32Array(2 * 4 * 4);
const W = () => new Float32Array(3 * 2 * 2 * 2);

type Args = unknown[];
const good = (): Args => [X(), [2, 4, 4], W(), [3, 2, 2, 2], null, params(), new Float32Array(3 * 3 * 3)];
const variant = (i: number, v: unknown): Args => { const a = good(); a[i] = v; return a; };
const withParam = (k: string, v: unknown): Args => { const a = good(); (a[5] as Record<string, unknown>)[k] = v; return a; };

const cases: [string, Args, string][] = [
  ['no arguments', [], 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input Float64Array', variant(0, new Float64Array(32)), 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input plain array', variant(0, [1, 2, 3]), 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input.shape string', variant(1, 'abc'), 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['input.shape NaN', variant(1, [2, NaN, 4]), 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['input.shape 2^53', variant(1, [2, 2 ** 53, 4]), 'ERR_CHANNELCONV_TOO_LARGE'],
  ['input.shape huge', variant(1, [2, 2 ** 40, 4]), 'ERR_CHANNELCONV_TOO_LARGE'],
  ['input.shape negative', variant(1, [2, -4, 4]), 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['input length mismatch', variant(0, new Float32Array(31)), 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['weight rank 2', variant(3, [3, 8]), 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['bias wrong length', variant(4, new Float32Array(2)), 'ERR_CHANNELCONV_INVALID_SHAPE'],
  ['bias Int32Array', variant(4, new Int32Array(3)), 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['params null', variant(5, null), 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['out too short', variant(6, new Float32Array(3)), 'ERR_CHANNELCONV_OUT_MISMATCH'],
  ['out a string', variant(6, 'out'), 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['stride 0', withParam('stride', [0, 1]), 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['stride not array', withParam('stride', 1), 'ERR_CHANNELCONV_INVALID_TYPE'],
  ['groups 1.5', withParam('groups', 1.5), 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['padMode unknown', withParam('padMode', 'full'), 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['padding negative', withParam('padding', [0, -1, 0, 0]), 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['padding 2 entries', withParam('padding', [1, 1]), 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['layout unknown', withParam('layout', 'CHWN'), 'ERR_CHANNELCONV_INVALID_OPTION'],
  ['threads negative', withParam('threads', -1), 'ERR_CHANNELCONV_INVALID_OPTION'],
];

describe('native binding called directly', () => {
  for (const [label, args, code] of cases) {
    it(`${label} -> ${code}`, async () => {
      expect(() => (b.conv2dSync as (...a: unknown[]) => void)(...args)).toThrow(expect.objectContaining({ code }));
      expect(() => (b.conv2dAsync as (...a: unknown[]) => void)(...args)).toThrow(expect.objectContaining({ code }));
    });
  }

  it('out overlapping the input is refused', () => {
    const buf = new Float32Array(64);
    const a = good();
    a[0] = buf.subarray(0, 32);
    a[6] = buf.subarray(30, 57);
    expect(() => (b.conv2dSync as (...x: unknown[]) => void)(...a)).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_ALIAS' }));
  });

  it('a good call still works after all that', async () => {
    const a = good();
    (a[0] as Float32Array).fill(1);
    (a[2] as Float32Array).fill(1);
    await (b.conv2dAsync as (...x: unknown[]) => Promise<void>)(...a);
    expect(Array.from(a[6] as Float32Array)).toEqual(new Array(27).fill(8));
  });
});
