// A catalogue of hostile inputs for every public function, and for the native binding called
// directly. Each bad input must give a TypeError or RangeError (Error for out-of-memory / no CUDA)
// with its `code` and a message naming the parameter — from the sync and the async API alike — and
// never crash the process. test/errors.test.ts holds the first table and test/native-direct.test.ts
// the native binding's; this file adds what they do not cover. Odd-but-valid inputs (subarrays, pooled Buffer slices,
// SharedArrayBuffers, frozen objects, other realms) must work and give the reference result.
import * as vm from 'vm';
import { describe, expect, it } from 'vitest';
import {
  backendInfo, conv2d, conv2dBackward, conv2dBackwardSync, conv2dSync, conv2dTranspose, conv2dTransposeSync, convBackwardCost,
  convCost, convTransposeCost, corr2d, corr2dMultiIn, corr2dMultiInOut, corr2dMultiInOut1x1, createConv2d, tensor, toNested,
  type Tensor,
} from '../lib/index';
import { ALIAS, CHAN, classOf, GROUPS, LARGE, OPT, OUT, SHAPE, T, UNKNOWN, refConv, relError, rng, seedFromEnv } from './helpers';

const seed = seedFromEnv();
console.log(`hostile.test.ts seed ${seed} (CHANNELCONV_SEED=${seed} to replay)`);
const r = rng(seed);


// --- hostile value factories --------------------------------------------------------------------
const detached = (n: number): Float32Array => {
  const a = new Float32Array(n);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
};
const boom = () => { throw new Error('boom from a getter'); };
const throwingGetter = (key: string, base: object = {}): object =>
  Object.defineProperty({ ...base }, key, { get: boom, enumerable: true });
const revoked = (): object => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy; };
const trapProxy = (target: object, trap: 'ownKeys' | 'get' | 'getOwnPropertyDescriptor'): object =>
  new Proxy(target, { [trap]: () => { throw new Error(`boom from the ${trap} trap`); } });

// What call() throws (undefined when it returns).
const thrownBy = (call: () => unknown): unknown => {
  try {
    call();
  } catch (e) {
    return e;
  }
  return undefined;
};
// err is the coded error: the class of `code`, that code, and a message naming `name`.
function expectCoded(err: unknown, code: string, name: string, label?: string): void {
  expect(err, label).toBeInstanceOf(classOf(code));
  expect((err as { code: string }).code, label).toBe(code);
  expect((err as Error).message, label).toContain(name);
}

const X = (): Tensor => ({ data: r.floats(2 * 5 * 5), shape: [2, 5, 5] });
const W = (): Tensor => ({ data: r.floats(3 * 2 * 3 * 3), shape: [3, 2, 3, 3] });
const data50 = () => new Float32Array(50);

// --- conv2d / conv2dSync ------------------------------------------------------------------------
// [label, input, weight, options, code, name the message must contain]
type ConvCase = [string, () => unknown, () => unknown, () => unknown, string, string];
const inp = (v: unknown) => () => v;
const opts = (o: unknown) => () => o;
const none = () => undefined;

const convCases: ConvCase[] = [
  // input: wrong types
  ['input undefined', inp(undefined), W, none, T, 'input'],
  ['input a string', inp('x'), W, none, T, 'input'],
  ['input a function', inp(() => 1), W, none, T, 'input'],
  ['input a Symbol', inp(Symbol('x')), W, none, T, 'input'],
  ['input a BigInt', inp(10n), W, none, T, 'input'],
  ['input an array of tensors', () => [X()], W, none, T, 'input'],
  ['input a revoked Proxy', revoked, W, none, T, 'input'],
  ['input.data getter throws', () => throwingGetter('data', { shape: [2, 5, 5] }), W, none, T, 'input'],
  ['input.shape getter throws', () => throwingGetter('shape', { data: data50() }), W, none, T, 'input'],
  ['input.data missing', inp({ shape: [2, 5, 5] }), W, none, T, 'input.data'],
  ['input.data null', inp({ data: null, shape: [2, 5, 5] }), W, none, T, 'input.data'],
  ['input.data Int8Array', inp({ data: new Int8Array(50), shape: [2, 5, 5] }), W, none, T, 'input.data'],
  ['input.data Uint8ClampedArray', inp({ data: new Uint8ClampedArray(50), shape: [2, 5, 5] }), W, none, T, 'input.data'],
  ['input.data DataView', inp({ data: new DataView(new ArrayBuffer(200)), shape: [2, 5, 5] }), W, none, T, 'input.data'],
  ['input.data ArrayBuffer', inp({ data: new ArrayBuffer(200), shape: [2, 5, 5] }), W, none, T, 'input.data'],
  ['input.data Proxy of a Float32Array', inp({ data: new Proxy(data50(), {}), shape: [2, 5, 5] }), W, none, T, 'input.data'],
  ['input.data array-like object', inp({ data: { length: 50 }, shape: [2, 5, 5] }), W, none, T, 'input.data'],
  ['input.data Float32Array over a detached buffer', () => ({ data: detached(50), shape: [2, 5, 5] }), W, none, T, 'input.data'],
  ['input.data BigInt64Array', inp({ data: new BigInt64Array(50), shape: [2, 5, 5] }), W, none, T, 'input.data'],
  // input.shape
  ['input.shape null', inp({ data: data50(), shape: null }), W, none, T, 'input.shape'],
  ['input.shape Int32Array', inp({ data: data50(), shape: new Int32Array([2, 5, 5]) }), W, none, T, 'input.shape'],
  ['input.shape with holes', inp({ data: data50(), shape: new Array(3) }), W, none, T, 'input.shape[0]'],
  ['input.shape with a Symbol', inp({ data: data50(), shape: [2, Symbol('d'), 5] }), W, none, T, 'input.shape[1]'],
  ['input.shape with a BigInt', inp({ data: data50(), shape: [2n, 5, 5] }), W, none, T, 'input.shape[0]'],
  ['input.shape with null', inp({ data: data50(), shape: [2, null, 5] }), W, none, T, 'input.shape[1]'],
  ['input.shape Infinity', inp({ data: data50(), shape: [2, Infinity, 5] }), W, none, SHAPE, 'input.shape[1]'],
  ['input.shape -Infinity', inp({ data: data50(), shape: [2, -Infinity, 5] }), W, none, SHAPE, 'input.shape[1]'],
  ['input.shape 1e-300', inp({ data: data50(), shape: [2, 1e-300, 5] }), W, none, SHAPE, 'input.shape[1]'],
  ['input.shape -0', inp({ data: data50(), shape: [2, -0, 5] }), W, none, SHAPE, 'input.shape[1]'],
  ['input.shape 2^31', inp({ data: data50(), shape: [2, 2 ** 31, 5] }), W, none, LARGE, 'input.shape[1]'],
  ['input.shape 2^53 + 2', inp({ data: data50(), shape: [2, 2 ** 53 + 2, 5] }), W, none, LARGE, 'input.shape[1]'],
  ['input.shape 1e300', inp({ data: data50(), shape: [1e300, 5, 5] }), W, none, LARGE, 'input.shape[0]'],
  ['input.shape rank 0', inp({ data: data50(), shape: [] }), W, none, SHAPE, 'input.shape'],
  ['input.shape rank 1', inp({ data: data50(), shape: [50] }), W, none, SHAPE, 'input.shape'],
  ['input.shape rank 1000', inp({ data: data50(), shape: new Array(1000).fill(1) }), W, none, SHAPE, 'input.shape'],
  ['input.shape rank 5 with a Symbol', inp({ data: data50(), shape: [1, Symbol('s'), 2, 5, 5] }), W, none, SHAPE, 'input.shape'],
  ['input.shape Proxy with a throwing get', () => ({ data: data50(), shape: trapProxy([2, 5, 5], 'get') }), W, none, T, 'input.shape'],
  // element counts
  ['input elements past 2^31 (shape vs data)', inp({ data: data50(), shape: [2, 65536, 65536] }), W, none, SHAPE, 'input.data'],
  ['input elements past 2^53 (shape vs data)', inp({ data: data50(), shape: [2 ** 20, 2 ** 20, 2 ** 20] }), W, none, SHAPE, 'input.data'],
  ['input data one too long', inp({ data: new Float32Array(51), shape: [2, 5, 5] }), W, none, SHAPE, 'input.data'],
  ['output elements past 2^31 (padding)', X, W, opts({ padding: 30000 }), LARGE, 'output'],
  // weight
  ['weight undefined', X, inp(undefined), none, T, 'weight'],
  ['weight.data Float64Array', X, inp({ data: new Float64Array(54), shape: [3, 2, 3, 3] }), none, T, 'weight.data'],
  ['weight.data plain array', X, inp({ data: new Array(54).fill(0), shape: [3, 2, 3, 3] }), none, T, 'weight.data'],
  ['weight.data detached', X, () => ({ data: detached(54), shape: [3, 2, 3, 3] }), none, T, 'weight.data'],
  ['weight rank 5', X, inp({ data: new Float32Array(54), shape: [1, 3, 2, 3, 3] }), none, SHAPE, 'weight.shape'],
  ['weight rank 2', X, inp({ data: new Float32Array(54), shape: [6, 9] }), none, SHAPE, 'weight.shape'],
  ['weight NaN dimension', X, inp({ data: new Float32Array(54), shape: [3, 2, NaN, 3] }), none, SHAPE, 'weight.shape[2]'],
  ['weight channels > input channels', X, inp({ data: new Float32Array(3 * 4 * 9), shape: [3, 4, 3, 3] }), none, CHAN, 'weight.shape[1]'],
  ['weight channels vs groups', X, W, opts({ groups: 2 }), GROUPS, 'groups'],
  ['HWIO weight channel mismatch', X, inp({ data: new Float32Array(3 * 3 * 3 * 3), shape: [3, 3, 3, 3] }), opts({ weightLayout: 'HWIO' }), CHAN, 'weight.shape[2]'],
  ['NHWC input channel mismatch', inp({ data: data50(), shape: [5, 5, 2] }), inp({ data: new Float32Array(27), shape: [1, 3, 3, 3] }), opts({ layout: 'NHWC' }), CHAN, 'weight.shape[1]'],
  ['groups larger than channels', X, W, opts({ groups: 4 }), GROUPS, 'groups'],
  // options: stride / dilation / padding / groups / threads
  ['stride NaN', X, W, opts({ stride: NaN }), OPT, 'options.stride'],
  ['stride Infinity', X, W, opts({ stride: Infinity }), OPT, 'options.stride'],
  ['stride -1', X, W, opts({ stride: -1 }), OPT, 'options.stride'],
  ['stride 2^31', X, W, opts({ stride: 2 ** 31 }), OPT, 'options.stride'],
  ['stride [1]', X, W, opts({ stride: [1] }), OPT, 'options.stride'],
  ['stride [1, "1"]', X, W, opts({ stride: [1, '1'] }), T, 'options.stride[1]'],
  ['stride [1, NaN]', X, W, opts({ stride: [1, NaN] }), OPT, 'options.stride[1]'],
  ['stride Symbol', X, W, opts({ stride: Symbol('s') }), T, 'options.stride'],
  ['stride BigInt', X, W, opts({ stride: 1n }), T, 'options.stride'],
  ['stride true', X, W, opts({ stride: true }), T, 'options.stride'],
  ['stride null', X, W, opts({ stride: null }), T, 'options.stride'],
  ['stride object', X, W, opts({ stride: { h: 1, w: 1 } }), T, 'options.stride'],
  ['stride Int32Array', X, W, opts({ stride: new Int32Array([1, 1]) }), T, 'options.stride'],
  ['stride array with a throwing index getter', X, W, () => ({ stride: Object.defineProperty([1, 1], 0, { get: boom }) }), T, 'options.stride'],
  ['dilation NaN', X, W, opts({ dilation: NaN }), OPT, 'options.dilation'],
  ['dilation [2, 0]', X, W, opts({ dilation: [2, 0] }), OPT, 'options.dilation[1]'],
  ['dilation 1.5', X, W, opts({ dilation: 1.5 }), OPT, 'options.dilation'],
  ['dilation string', X, W, opts({ dilation: '2' }), T, 'options.dilation'],
  ['dilation too big for the input', X, W, opts({ dilation: 3 }), 'ERR_CHANNELCONV_EMPTY_OUTPUT', 'kernel'],
  ['padding "SAME" (case matters)', X, W, opts({ padding: 'SAME' }), OPT, 'options.padding'],
  ['padding ""', X, W, opts({ padding: '' }), OPT, 'options.padding'],
  ['padding 5 entries', X, W, opts({ padding: [1, 1, 1, 1, 1] }), OPT, 'options.padding'],
  ['padding 1 entry', X, W, opts({ padding: [1] }), OPT, 'options.padding'],
  ['padding [1.5, 0]', X, W, opts({ padding: [1.5, 0] }), OPT, 'options.padding[0]'],
  ['padding [0, 0, 0, NaN]', X, W, opts({ padding: [0, 0, 0, NaN] }), OPT, 'options.padding[3]'],
  ['padding 2^31', X, W, opts({ padding: 2 ** 31 }), OPT, 'options.padding'],
  ['padding Symbol', X, W, opts({ padding: Symbol('p') }), T, 'options.padding'],
  ['padding BigInt', X, W, opts({ padding: 1n }), T, 'options.padding'],
  ['padding [1n, 1n]', X, W, opts({ padding: [1n, 1n] }), T, 'options.padding[0]'],
  ['groups 1.5', X, W, opts({ groups: 1.5 }), OPT, 'options.groups'],
  ['groups NaN', X, W, opts({ groups: NaN }), OPT, 'options.groups'],
  ['groups "1"', X, W, opts({ groups: '1' }), T, 'options.groups'],
  ['groups 1n', X, W, opts({ groups: 1n }), T, 'options.groups'],
  ['groups -1', X, W, opts({ groups: -1 }), OPT, 'options.groups'],
  ['groups 2^31', X, W, opts({ groups: 2 ** 31 }), OPT, 'options.groups'],
  ['threads -1', X, W, opts({ threads: -1 }), OPT, 'options.threads'],
  ['threads 1.5', X, W, opts({ threads: 1.5 }), OPT, 'options.threads'],
  ['threads 1025', X, W, opts({ threads: 1025 }), OPT, 'options.threads'],
  ['threads NaN', X, W, opts({ threads: NaN }), OPT, 'options.threads'],
  ['threads "2"', X, W, opts({ threads: '2' }), T, 'options.threads'],
  ['threads 2n', X, W, opts({ threads: 2n }), T, 'options.threads'],
  // options: words
  ['layout "nchw"', X, W, opts({ layout: 'nchw' }), OPT, 'options.layout'],
  ['layout 1', X, W, opts({ layout: 1 }), T, 'options.layout'],
  ['layout null', X, W, opts({ layout: null }), T, 'options.layout'],
  ['weightLayout "oihw"', X, W, opts({ weightLayout: 'oihw' }), OPT, 'options.weightLayout'],
  ['weightLayout Symbol', X, W, opts({ weightLayout: Symbol('w') }), T, 'options.weightLayout'],
  ['device "gpu"', X, W, opts({ device: 'gpu' }), OPT, 'options.device'],
  ['device 0', X, W, opts({ device: 0 }), T, 'options.device'],
  // options: the object itself
  ['unknown option "Stride"', X, W, opts({ Stride: 2 }), UNKNOWN, 'Stride'],
  ['unknown option "" (empty name)', X, W, opts({ '': 1 }), UNKNOWN, '""'],
  ['unknown option "__proto__" (from JSON)', X, W, () => JSON.parse('{"__proto__": {"stride": 2}}'), UNKNOWN, '__proto__'],
  ['unknown option "constructor"', X, W, opts({ constructor: 1 }), UNKNOWN, 'constructor'],
  ['options a string', X, W, opts('stride=2'), T, 'options'],
  ['options a Symbol', X, W, opts(Symbol('o')), T, 'options'],
  ['options a BigInt', X, W, opts(2n), T, 'options'],
  ['options true', X, W, opts(true), T, 'options'],
  ['options an array', X, W, opts([1, 1]), T, 'options'],
  ['options a Float32Array', X, W, opts(new Float32Array(2)), T, 'options'],
  ['options a function', X, W, opts(() => ({})), T, 'options'],
  ['options getter throws', X, W, () => throwingGetter('stride'), T, 'options.stride'],
  ['options Proxy whose ownKeys throws', X, W, () => trapProxy({}, 'ownKeys'), T, 'options'],
  ['options Proxy whose get throws', X, W, () => trapProxy({ stride: 1 }, 'get'), T, 'options.stride'],
  ['options revoked Proxy', X, W, revoked, T, 'options'],
  // bias
  ['bias Float64Array', X, W, opts({ bias: new Float64Array(3) }), T, 'options.bias'],
  ['bias plain array', X, W, opts({ bias: [0, 0, 0] }), T, 'options.bias'],
  ['bias null', X, W, opts({ bias: null }), T, 'options.bias'],
  ['bias length 0', X, W, opts({ bias: new Float32Array(0) }), SHAPE, 'options.bias'],
  ['bias length 4', X, W, opts({ bias: new Float32Array(4) }), SHAPE, 'options.bias'],
  ['bias detached', X, W, () => ({ bias: detached(3) }), T, 'options.bias'],
  // out
  ['out Float64Array', X, W, opts({ out: new Float64Array(27) }), T, 'options.out'],
  ['out null', X, W, opts({ out: null }), T, 'options.out'],
  ['out one too long', X, W, opts({ out: new Float32Array(28) }), OUT, 'options.out'],
  ['out detached', X, W, () => ({ out: detached(27) }), T, 'options.out'],
  // CUDA
  ['device cuda without CUDA', X, W, opts({ device: 'cuda' }), 'ERR_CHANNELCONV_NO_CUDA', 'cuda'],
];

async function expectBoth(call: (sync: boolean) => unknown, code: string, name: string): Promise<void> {
  expectCoded(thrownBy(() => call(true)), code, name, 'sync call');
  // The async form never throws synchronously: it rejects with the same error.
  let p: unknown;
  expect(() => { p = call(false); }).not.toThrow();
  expectCoded(await (p as Promise<unknown>).then(() => undefined, (e: unknown) => e), code, name, 'async call');
}

describe('hostile inputs: conv2d and conv2dSync', () => {
  for (const [label, input, weight, options, code, name] of convCases) {
    it(`${label} -> ${code}`, async () => {
      await expectBoth(
        (sync) => (sync ? conv2dSync : conv2d)(input() as never, weight() as never, options() as never),
        code, name,
      );
    });
  }

  it('a throwing getter keeps its error as `cause`', () => {
    const err = thrownBy(() => conv2dSync(X(), W(), throwingGetter('stride') as never)) as Error & { cause?: Error };
    expect(err.cause?.message).toBe('boom from a getter');
  });

  it('long shapes are abbreviated in messages', () => {
    expect(() => conv2dSync({ data: data50(), shape: new Array(1000).fill(1) }, W())).toThrow(/an Array\(1000\)/);
  });

  describe('out aliasing', () => {
    const buf = new Float32Array(200);
    const x = () => ({ data: buf.subarray(0, 50), shape: [2, 5, 5] });
    const w = () => ({ data: buf.subarray(100, 154), shape: [3, 2, 3, 3] });
    const aliasCases: [string, () => unknown, () => unknown, () => unknown][] = [
      ['out is input.data', x, W, () => ({ out: buf.subarray(0, 27) })],
      ['out overlaps the end of input.data', x, W, () => ({ out: buf.subarray(49, 76) })],
      ['out overlaps weight.data', X, w, () => ({ out: buf.subarray(120, 147) })],
      ['out overlaps the bias', X, W, () => ({ bias: buf.subarray(60, 63), out: buf.subarray(40, 67) })],
      ['out over the same memory through another view', X, W, () => ({ bias: new Float32Array(buf.buffer, 4 * 160, 3), out: buf.subarray(161, 188) })],
    ];
    for (const [label, input, weight, options] of aliasCases) {
      it(`${label} -> ${ALIAS}`, async () => {
        await expectBoth((sync) => (sync ? conv2dSync : conv2d)(input() as never, weight() as never, options() as never), ALIAS, 'options.out');
      });
    }
    it('out right next to the input (touching, not overlapping) is fine', async () => {
      const b = new Float32Array(77);
      const input = { data: b.subarray(0, 50), shape: [2, 5, 5] };
      input.data.set(r.floats(50));
      const weight = W();
      const y = conv2dSync(input, weight, { out: b.subarray(50, 77) });
      expect(relError(y.data, refConv(input, weight).data)).toBeLessThan(1e-5);
      const y2 = await conv2d(input, weight, { out: b.subarray(50, 77) });
      expect(relError(y2.data, refConv(input, weight).data)).toBeLessThan(1e-5);
    });
  });
});

// --- convCost -----------------------------------------------------------------------------------
const costCases: [string, unknown, unknown, unknown, string, string][] = [
  ['inputShape undefined', undefined, [1, 2, 3, 3], undefined, T, 'inputShape'],
  ['inputShape a Float32Array', new Float32Array([2, 5, 5]), [1, 2, 3, 3], undefined, T, 'inputShape'],
  ['inputShape a revoked Proxy', revoked(), [1, 2, 3, 3], undefined, T, 'inputShape'],
  ['inputShape with a BigInt', [2n, 5, 5], [1, 2, 3, 3], undefined, T, 'inputShape[0]'],
  ['inputShape with holes', [2, , 5], [1, 2, 3, 3], undefined, T, 'inputShape[1]'],
  ['inputShape 0', [0, 5, 5], [1, 0, 3, 3], undefined, SHAPE, 'inputShape[0]'],
  ['inputShape 2^31 elements', [1, 65536, 65536, 1], [1, 65536, 1, 1], undefined, LARGE, 'input'],
  ['inputShape past 2^53 elements', [2 ** 20, 2 ** 20, 2 ** 20], [1, 2 ** 20, 1, 1], undefined, LARGE, 'input'],
  ['inputShape dimension 2^31', [1, 2 ** 31, 1], [1, 1, 1, 1], undefined, LARGE, 'inputShape[1]'],
  ['weightShape 2^31 elements', [65536, 1, 1], [65536, 65536, 1, 1], undefined, LARGE, 'weight'],
  ['weightShape rank 3', [2, 5, 5], [2, 3, 3], undefined, SHAPE, 'weightShape'],
  ['weightShape a string', [2, 5, 5], '1,2,3,3', undefined, T, 'weightShape'],
  ['channel mismatch', [2, 5, 5], [1, 3, 3, 3], undefined, CHAN, 'weight.shape[1]'],
  ['groups mismatch', [4, 5, 5], [3, 2, 3, 3], { groups: 2 }, GROUPS, 'groups'],
  ['output past 2^31', [1, 1, 1], [1, 1, 1, 1], { padding: 40000 }, LARGE, 'output'],
  ['empty output', [1, 2, 2], [1, 1, 3, 3], undefined, 'ERR_CHANNELCONV_EMPTY_OUTPUT', 'output'],
  ['unknown option', [2, 5, 5], [1, 2, 3, 3], { strid: 1 }, UNKNOWN, 'strid'],
  ['options getter throws', [2, 5, 5], [1, 2, 3, 3], throwingGetter('padding'), T, 'options.padding'],
  ['out in convCost is allowed but checked', [2, 5, 5], [1, 2, 3, 3], { out: new Float64Array(9) }, T, 'options.out'],
  ['dilation 0', [2, 5, 5], [1, 2, 3, 3], { dilation: 0 }, OPT, 'options.dilation'],
  // Found by the fuzzer: 'same' padding for a huge dilated kernel passed the padding limit.
  ['same padding past 2^31 (huge dilation)', [4, 8, 8], [4, 4, 7, 3], { padding: 'same', dilation: [2 ** 31 - 1, 1] }, LARGE, "'same' padding"],
  ['same_lower padding past 2^31', [4, 8, 8], [4, 4, 3, 65536], { padding: 'same_lower', dilation: [1, 2 ** 31 - 1] }, LARGE, "'same' padding"],
];

describe('hostile inputs: convCost', () => {
  for (const [label, a, b, o, code, name] of costCases) {
    it(`${label} -> ${code}`, () => {
      expectCoded(thrownBy(() => convCost(a as never, b as never, o as never)), code, name);
    });
  }
  it('frozen shapes and options are fine, and the result is fresh', () => {
    const c = convCost(Object.freeze([2, 5, 5]) as never, Object.freeze([3, 2, 3, 3]) as never, Object.freeze({ padding: 'same' as const }));
    expect(c.outputShape).toEqual([3, 5, 5]);
    c.outputShape.push(9);
    expect(convCost([2, 5, 5], [3, 2, 3, 3], { padding: 'same' }).outputShape).toEqual([3, 5, 5]);
  });
});

// --- conv2dTranspose / conv2dTransposeSync / convTransposeCost -----------------------------------
// A good call: input [3, 5, 5], weight IOHW [3, 2, 3, 3] -> output [2, 7, 7].
const XT = (): Tensor => ({ data: r.floats(3 * 25), shape: [3, 5, 5] });
const EMPTY = 'ERR_CHANNELCONV_EMPTY_OUTPUT';
const transposeCases: ConvCase[] = [
  ['input undefined', inp(undefined), W, none, T, 'input'],
  ['input.data Float64Array', inp({ data: new Float64Array(75), shape: [3, 5, 5] }), W, none, T, 'input.data'],
  ['input.data detached', () => ({ data: detached(75), shape: [3, 5, 5] }), W, none, T, 'input.data'],
  ['input rank 5', inp({ data: new Float32Array(75), shape: [1, 1, 3, 5, 5] }), W, none, SHAPE, 'input.shape'],
  ['weight a revoked Proxy', XT, revoked, none, T, 'weight'],
  ['weight rank 3', XT, inp({ data: new Float32Array(54), shape: [3, 2, 9] }), none, SHAPE, 'weight.shape'],
  ['input channels != weight.shape[0]', inp({ data: data50(), shape: [2, 5, 5] }), W, none, CHAN, 'weight.shape[0]'],
  ['HWOI weight: input channels != weight.shape[3]', XT, inp({ data: new Float32Array(54), shape: [3, 3, 3, 2] }), opts({ weightLayout: 'HWOI' }), CHAN, 'weight.shape[3]'],
  ['weight.shape[0] not divisible by groups', XT, W, opts({ groups: 2 }), GROUPS, 'groups'],
  ['weightLayout "OIHW" (a convolution\'s)', XT, W, opts({ weightLayout: 'OIHW' }), OPT, 'options.weightLayout'],
  ['weightLayout "HWIO" (a convolution\'s)', XT, W, opts({ weightLayout: 'HWIO' }), OPT, 'options.weightLayout'],
  ['weightLayout 1', XT, W, opts({ weightLayout: 1 }), T, 'options.weightLayout'],
  ['padding "same_lower" (not a transposed padding)', XT, W, opts({ padding: 'same_lower' }), OPT, 'options.padding'],
  ['padding -1', XT, W, opts({ padding: -1 }), OPT, 'options.padding'],
  ['padding that empties the output', XT, W, opts({ padding: 4 }), EMPTY, 'output would be empty'],
  ['outputPadding NaN', XT, W, opts({ stride: 2, outputPadding: NaN }), OPT, 'options.outputPadding'],
  ['outputPadding -1', XT, W, opts({ stride: 2, outputPadding: -1 }), OPT, 'options.outputPadding'],
  ['outputPadding "1"', XT, W, opts({ stride: 2, outputPadding: '1' }), T, 'options.outputPadding'],
  ['outputPadding [1]', XT, W, opts({ stride: 2, outputPadding: [1] }), OPT, 'options.outputPadding'],
  ['outputPadding [0, 1n]', XT, W, opts({ stride: 2, outputPadding: [0, 1n] }), T, 'options.outputPadding[1]'],
  ['outputPadding null', XT, W, opts({ outputPadding: null }), T, 'options.outputPadding'],
  ['outputPadding 1 with stride 1', XT, W, opts({ outputPadding: 1 }), OPT, 'outputPadding[0] must be below max(stride, dilation) = 1'],
  ['outputPadding = stride', XT, W, opts({ stride: [1, 3], outputPadding: [0, 3] }), OPT, 'outputPadding[1] must be below'],
  ['outputPadding with padding "same"', XT, W, opts({ stride: 2, padding: 'same', outputPadding: 1 }), OPT, "padding 'same'"],
  ['outputPadding 2^31', XT, W, opts({ stride: 2, outputPadding: 2 ** 31 }), OPT, 'options.outputPadding'],
  ['unknown option "output_padding"', XT, W, opts({ output_padding: 1 }), UNKNOWN, 'output_padding'],
  ['stride 0', XT, W, opts({ stride: 0 }), OPT, 'options.stride'],
  ['stride 2^31 - 1 makes the output too large', XT, W, opts({ stride: 2 ** 31 - 1 }), LARGE, 'output'],
  ['dilation [1, NaN]', XT, W, opts({ dilation: [1, NaN] }), OPT, 'options.dilation[1]'],
  ['bias length 3 (the input channels)', XT, W, opts({ bias: new Float32Array(3) }), SHAPE, 'options.bias has 3 elements, expected 2'],
  ['bias a plain array', XT, W, opts({ bias: [0, 0] }), T, 'options.bias'],
  ['activation "sigmoid"', XT, W, opts({ activation: 'sigmoid' }), OPT, 'options.activation'],
  ['out one too short', XT, W, opts({ out: new Float32Array(97) }), OUT, 'options.out'],
  ['out is the input', () => { const d = r.floats(200); return { data: d.subarray(0, 75), shape: [3, 5, 5] }; }, W, none, T, 'input'],
  ['algorithm "packed_gemm" (forward only)', XT, W, opts({ algorithm: 'packed_gemm' }), OPT, "has no backward_data implementation"],
  ['algorithm "winograd"', XT, W, opts({ algorithm: 'winograd' }), OPT, 'options.algorithm'],
  ['device cuda without CUDA', XT, W, opts({ device: 'cuda' }), 'ERR_CHANNELCONV_NO_CUDA', 'cuda'],
  ['options an array', XT, W, opts([]), T, 'options'],
];
// 'out is the input' above is a valid call with a fresh output: replaced by a real alias case.
transposeCases.splice(transposeCases.findIndex((c) => c[0] === 'out is the input'), 1);

describe('hostile inputs: conv2dTranspose and conv2dTransposeSync', () => {
  for (const [label, input, weight, options, code, name] of transposeCases) {
    it(`${label} -> ${code}`, async () => {
      await expectBoth((sync) => (sync ? conv2dTransposeSync : conv2dTranspose)(input() as never, weight() as never, options() as never), code, name);
    });
  }
  it('out sharing memory with the input -> ' + ALIAS, async () => {
    const buf = r.floats(200);
    const input = { data: buf.subarray(0, 75), shape: [3, 5, 5] };
    await expectBoth((sync) => (sync ? conv2dTransposeSync : conv2dTranspose)(input, W(), { out: buf.subarray(50, 148) }), ALIAS, 'options.out');
  });
  it('convTransposeCost checks the same', () => {
    for (const [label, , , options, code, name] of transposeCases) {
      if (/^(input|weight|out|bias|device|HWOI)|the input/.test(label)) continue;
      expectCoded(thrownBy(() => convTransposeCost([3, 5, 5], [3, 2, 3, 3], options() as never)), code, name, label);
    }
    expect(() => convTransposeCost([3, 5, 5] as never, undefined as never)).toThrow(expect.objectContaining({ code: T }));
  });
});

// --- conv2dBackward / conv2dBackwardSync / convBackwardCost / layer.backward -----------------------
// A good call: input [2, 5, 5], weight [3, 2, 3, 3], gradOutput [3, 3, 3].
const GY = (): Tensor => ({ data: r.floats(27), shape: [3, 3, 3] });
type BackwardCase = [string, () => unknown, () => unknown, () => unknown, () => unknown, string, string];
const gyv = (v: unknown) => () => v;
const backwardCases: BackwardCase[] = [
  ['input undefined', inp(undefined), W, GY, none, T, 'input'],
  ['input.data detached', () => ({ data: detached(50), shape: [2, 5, 5] }), W, GY, none, T, 'input.data'],
  ['weight a string', X, inp('w'), GY, none, T, 'weight'],
  ['weight.data one too short', X, inp({ data: new Float32Array(53), shape: [3, 2, 3, 3] }), GY, none, SHAPE, 'weight.data'],
  ['gradOutput undefined', X, W, gyv(undefined), none, T, 'gradOutput'],
  ['gradOutput a Float32Array', X, W, gyv(new Float32Array(27)), none, T, 'gradOutput'],
  ['gradOutput.data Float64Array', X, W, gyv({ data: new Float64Array(27), shape: [3, 3, 3] }), none, T, 'gradOutput.data'],
  ['gradOutput.data detached', X, W, () => ({ data: detached(27), shape: [3, 3, 3] }), none, T, 'gradOutput.data'],
  ['gradOutput.data one too long', X, W, gyv({ data: new Float32Array(28), shape: [3, 3, 3] }), none, SHAPE, 'gradOutput.data'],
  ['gradOutput.shape getter throws', X, W, () => throwingGetter('shape', { data: new Float32Array(27) }), none, T, 'gradOutput'],
  ['gradOutput.shape with a Symbol', X, W, gyv({ data: new Float32Array(27), shape: [3, Symbol('s'), 3] }), none, T, 'gradOutput.shape[1]'],
  ['gradOutput rank 2', X, W, gyv({ data: new Float32Array(27), shape: [3, 9] }), none, SHAPE, 'gradOutput.shape'],
  ['gradOutput of the wrong shape', X, W, gyv({ data: new Float32Array(27), shape: [3, 9, 1] }), none, SHAPE, 'gradOutput.shape must be [3, 3, 3], the forward output'],
  ['gradOutput of another rank', X, W, gyv({ data: new Float32Array(27), shape: [1, 3, 3, 3] }), none, SHAPE, 'got [1, 3, 3, 3]'],
  ['gradOutput for other options (padding 1)', X, W, GY, opts({ padding: 1 }), SHAPE, 'must be [3, 5, 5]'],
  ['unknown option bias', X, W, GY, opts({ bias: new Float32Array(3) }), UNKNOWN, '"bias"'],
  ['unknown option out', X, W, GY, opts({ out: new Float32Array(50) }), UNKNOWN, '"out"'],
  ['unknown option activation', X, W, GY, opts({ activation: 'relu' }), UNKNOWN, '"activation"'],
  ['unknown option outputPadding', X, W, GY, opts({ outputPadding: 0 }), UNKNOWN, '"outputPadding"'],
  ['needs a string', X, W, GY, opts({ needs: 'input' }), T, 'options.needs'],
  ['needs null', X, W, GY, opts({ needs: null }), T, 'options.needs'],
  ['needs a Set', X, W, GY, opts({ needs: new Set(['input']) }), T, 'options.needs'],
  ['needs an unknown word', X, W, GY, opts({ needs: ['input', 'output'] }), OPT, "options.needs[1] must be one of 'input', 'weight', 'bias'"],
  ['needs "Input" (case matters)', X, W, GY, opts({ needs: ['Input'] }), OPT, 'options.needs[0]'],
  ['needs a number', X, W, GY, opts({ needs: [1] }), T, 'options.needs[0]'],
  ['needs a Symbol', X, W, GY, opts({ needs: [Symbol('input')] }), T, 'options.needs[0]'],
  ['needs with a hole', X, W, GY, opts({ needs: new Array(1) }), T, 'options.needs[0]'],
  ['needs twice the same', X, W, GY, opts({ needs: ['weight', 'weight'] }), OPT, "lists 'weight' twice"],
  ['needs four entries', X, W, GY, opts({ needs: ['input', 'weight', 'bias', 'input'] }), OPT, 'at most once'],
  ['needs a 1e6-entry array', X, W, GY, () => ({ needs: new Array(1e6).fill('input') }), OPT, 'at most once'],
  ['needs with a throwing index getter', X, W, GY, () => ({ needs: Object.defineProperty(['input'], 0, { get: boom }) }), T, 'options.needs'],
  ['needs a revoked Proxy', X, W, GY, () => ({ needs: revoked() }), T, 'options.needs'],
  ['stride NaN', X, W, GY, opts({ stride: NaN }), OPT, 'options.stride'],
  ['padding "SAME"', X, W, GY, opts({ padding: 'SAME' }), OPT, 'options.padding'],
  ['weightLayout "IOHW" (a transposed convolution\'s)', X, W, GY, opts({ weightLayout: 'IOHW' }), OPT, 'options.weightLayout'],
  ['groups not dividing', X, W, GY, opts({ groups: 2 }), GROUPS, 'groups'],
  ['channel mismatch', inp({ data: new Float32Array(75), shape: [3, 5, 5] }), W, GY, none, CHAN, 'the input has 3 channels'],
  ['algorithm "packed_gemm" (forward only)', X, W, GY, opts({ algorithm: 'packed_gemm' }), OPT, 'has no backward_data implementation'],
  ['algorithm "packed_gemm", weight gradient only', X, W, GY, opts({ algorithm: 'packed_gemm', needs: ['weight'] }), OPT, 'has no backward_weights implementation'],
  ['device cuda without CUDA', X, W, GY, opts({ device: 'cuda' }), 'ERR_CHANNELCONV_NO_CUDA', 'cuda'],
  ['options a number', X, W, GY, opts(3), T, 'options'],
];

describe('hostile inputs: conv2dBackward and conv2dBackwardSync', () => {
  for (const [label, input, weight, gy, options, code, name] of backwardCases) {
    it(`${label} -> ${code}`, async () => {
      await expectBoth((sync) => (sync ? conv2dBackwardSync : conv2dBackward)(input() as never, weight() as never, gy() as never, options() as never), code, name);
    });
  }
  it('input and gradOutput may share memory (they are only read); the gradients stay the reference ones', async () => {
    const buf = r.floats(50);
    const x = { data: buf, shape: [2, 5, 5] }, w = W(), gy = { data: buf.subarray(0, 27), shape: [3, 3, 3] };
    const a = conv2dBackwardSync(x, w, gy), b = await conv2dBackward(x, w, gy);
    expect(a.gradWeight!.data).toEqual(b.gradWeight!.data);
    expect(a.gradInput!.data.every(Number.isFinite)).toBe(true);
  });
  it('convBackwardCost checks shapes and options as conv2dBackward does', () => {
    for (const [label, , , , options, code, name] of backwardCases) {
      if (/^(input|weight|gradOutput|channel mismatch|device)/.test(label)) continue;
      const err = thrownBy(() => convBackwardCost([2, 5, 5], [3, 2, 3, 3], options() as never));
      if (code === SHAPE) { expect(err, label).toBeUndefined(); continue; } // no gradOutput to check
      expectCoded(err, code, name, label);
    }
    expect(() => convBackwardCost([2n, 5, 5] as never, [3, 2, 3, 3])).toThrow(expect.objectContaining({ code: T, message: expect.stringContaining('inputShape[0]') }));
    expect(() => convBackwardCost([2, 5, 5], [3, 2, 3] as never)).toThrow(expect.objectContaining({ code: SHAPE, message: expect.stringContaining('weightShape') }));
  });
  it('a prepared layer\'s backward checks its arguments, and refuses once disposed', async () => {
    const layer = createConv2d(W(), { bias: r.floats(3), activation: 'relu' });
    const cases: [string, () => unknown, string, string][] = [
      ['needs "all"', () => layer.backwardSync(X(), GY(), 'all' as never), T, 'needs'],
      ['needs an unknown word', () => layer.backwardSync(X(), GY(), ['grad'] as never), OPT, 'needs[0]'],
      ['gradOutput of the wrong shape', () => layer.backwardSync(X(), { data: new Float32Array(27), shape: [3, 1, 9] }), SHAPE, 'gradOutput.shape must be [3, 3, 3]'],
      ['input channel mismatch', () => layer.backwardSync({ data: new Float32Array(75), shape: [3, 5, 5] }, GY()), CHAN, 'this layer expects 2'],
      ['gradOutput undefined', () => layer.backwardSync(X(), undefined as never), T, 'gradOutput'],
    ];
    for (const [label, call, code, name] of cases) expectCoded(thrownBy(call), code, name, label);
    await expect(layer.backward(X(), GY(), ['bias', 'bias'])).rejects.toMatchObject({ code: OPT });
    layer.dispose();
    expect(() => layer.backwardSync(X(), GY())).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_DISPOSED' }));
    await expect(layer.backward(X(), GY())).rejects.toMatchObject({ code: 'ERR_CHANNELCONV_DISPOSED' });
  });
});

// --- the lecture functions ----------------------------------------------------------------------
const t2 = () => tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
const t3 = (c = 2) => ({ data: r.floats(c * 9), shape: [c, 3, 3] });
const k4 = (co: number, ci: number, kh = 2) => ({ data: r.floats(co * ci * kh * kh), shape: [co, ci, kh, kh] });
type Fn = (a: never, b: never) => unknown;
const lectureCases: [string, Fn, () => unknown, () => unknown, string, string][] = [
  ['corr2d X null', corr2d as Fn, () => null, () => tensor([[1]]), T, 'X'],
  ['corr2d X rank 3', corr2d as Fn, () => t3(), () => tensor([[1]]), SHAPE, 'X.shape'],
  ['corr2d K Float64Array', corr2d as Fn, t2, () => ({ data: new Float64Array(1), shape: [1, 1] }), T, 'K.data'],
  ['corr2d K larger than X', corr2d as Fn, t2, () => ({ data: new Float32Array(16), shape: [4, 4] }), 'ERR_CHANNELCONV_EMPTY_OUTPUT', 'output'],
  ['corr2d X detached', corr2d as Fn, () => ({ data: detached(9), shape: [3, 3] }), () => tensor([[1]]), T, 'X.data'],
  ['corr2d K getter throws', corr2d as Fn, t2, () => throwingGetter('shape', { data: new Float32Array(1) }), T, 'K'],
  ['corr2dMultiIn channel mismatch', corr2dMultiIn as Fn, () => t3(2), () => ({ data: new Float32Array(12), shape: [3, 2, 2] }), CHAN, 'K.shape[0]'],
  ['corr2dMultiIn K rank 4', corr2dMultiIn as Fn, () => t3(2), () => k4(1, 2), SHAPE, 'K.shape'],
  ['corr2dMultiIn X shape/data mismatch', corr2dMultiIn as Fn, () => ({ data: new Float32Array(17), shape: [2, 3, 3] }), () => k4(1, 2), SHAPE, 'X.data'],
  ['corr2dMultiInOut channel mismatch', corr2dMultiInOut as Fn, () => t3(2), () => k4(3, 3), CHAN, 'weight.shape[1]'],
  ['corr2dMultiInOut X rank 4', corr2dMultiInOut as Fn, () => ({ data: new Float32Array(18), shape: [1, 2, 3, 3] }), () => k4(3, 2), SHAPE, 'X.shape'],
  ['corr2dMultiInOut K a plain array', corr2dMultiInOut as Fn, () => t3(2), () => [[[[1]]]], T, 'K'],
  ['corr2dMultiInOut1x1 K 2x2', corr2dMultiInOut1x1 as Fn, () => t3(2), () => k4(3, 2, 2), SHAPE, 'K must be [co, ci, 1, 1]'],
  ['corr2dMultiInOut1x1 channel mismatch', corr2dMultiInOut1x1 as Fn, () => t3(2), () => k4(3, 4, 1), CHAN, 'weight.shape[1]'],
  ['corr2dMultiInOut1x1 K BigInt shape', corr2dMultiInOut1x1 as Fn, () => t3(2), () => ({ data: new Float32Array(6), shape: [3n, 2, 1, 1] }), T, 'K.shape[0]'],
  ['corr2dMultiInOut1x1 X Symbol', corr2dMultiInOut1x1 as Fn, () => Symbol('x'), () => k4(3, 2, 1), T, 'X'],
];

describe('hostile inputs: corr2d, corr2dMultiIn, corr2dMultiInOut, corr2dMultiInOut1x1', () => {
  for (const [label, fn, a, b, code, name] of lectureCases) {
    it(`${label} -> ${code}`, () => {
      expectCoded(thrownBy(() => fn(a() as never, b() as never)), code, name);
    });
  }
});

// --- tensor / toNested --------------------------------------------------------------------------
const deep = (depth: number): unknown => { let v: unknown = 1; for (let i = 0; i < depth; i++) v = [v]; return v; };
const tensorCases: [string, () => unknown, string, string][] = [
  ['undefined', () => undefined, T, 'tensor'],
  ['a string', () => '1', T, 'tensor'],
  ['a Float32Array', () => new Float32Array(2), T, 'tensor'],
  ['a Symbol element', () => [1, Symbol('e')], T, '[1]'],
  ['a BigInt element', () => [1, 2n], T, '[1]'],
  ['a null element', () => [[1, 2], [3, null]], T, '[1][1]'],
  ['a hole', () => [1, , 3], T, '[1]'],
  ['ragged', () => [[1, 2], [3]], SHAPE, '[1]'],
  ['an array where a number belongs', () => [[1, 2], [3, [4]]], T, '[1][1]'],
  ['empty', () => [], SHAPE, 'empty'],
  ['empty inner', () => [[]], SHAPE, 'empty'],
  ['nested 65 deep', () => deep(65), SHAPE, 'deeper than 64'],
  ['2^31 elements (sparse)', () => new Array(2 ** 31), LARGE, '2147483648'],
  ['2^32 - 1 elements (sparse)', () => new Array(2 ** 32 - 1), LARGE, 'limit'],
  ['an element getter throws', () => Object.defineProperty([1, 2], 1, { get: boom }), T, 'tensor'],
  ['a revoked Proxy inside', () => [[1], revoked()], T, 'tensor'],
];

describe('hostile inputs: tensor and toNested', () => {
  for (const [label, v, code, name] of tensorCases) {
    it(`tensor(${label}) -> ${code}`, () => {
      expectCoded(thrownBy(() => tensor(v() as never)), code, name);
    });
  }
  it('tensor of a number, NaN and Infinity elements, and frozen arrays work', () => {
    expect(tensor(5)).toEqual({ data: new Float32Array([5]), shape: [] });
    const t = tensor(Object.freeze([Object.freeze([NaN, Infinity]), Object.freeze([-0, 1e40])]) as never);
    expect(t.shape).toEqual([2, 2]);
    expect(Array.from(t.data)).toEqual([NaN, Infinity, -0, Infinity]); // 1e40 rounds to float32 Infinity
    expect(tensor(deep(64) as never).shape.length).toBe(64);
  });
  const nestedCases: [string, () => unknown, string, string][] = [
    ['null', () => null, T, 't'],
    ['a Float32Array', () => new Float32Array(3), T, 't'],
    ['data Float64Array', () => ({ data: new Float64Array(2), shape: [2] }), T, 't.data'],
    ['data detached', () => ({ data: detached(4), shape: [2, 2] }), T, 't.data'],
    ['shape/data mismatch', () => ({ data: new Float32Array(3), shape: [2, 2] }), SHAPE, 't.data'],
    ['shape NaN', () => ({ data: new Float32Array(3), shape: [NaN] }), SHAPE, 't.shape[0]'],
    ['shape 2^31', () => ({ data: new Float32Array(3), shape: [2 ** 31] }), LARGE, 't.shape[0]'],
    ['shape rank 65', () => ({ data: new Float32Array(1), shape: new Array(65).fill(1) }), SHAPE, 't.shape'],
    ['a getter throws', () => throwingGetter('data', { shape: [1] }), T, 't'],
  ];
  for (const [label, v, code, name] of nestedCases) {
    it(`toNested(${label}) -> ${code}`, () => {
      expectCoded(thrownBy(() => toNested(v() as never)), code, name);
    });
  }
  it('toNested reads the shape once (a getter cannot switch it)', () => {
    let reads = 0;
    const t = { data: new Float32Array([1, 2, 3, 4]), get shape() { reads++; return reads === 1 ? [2, 2] : [4, 1, 1, 1, 1]; } };
    expect(toNested(t as never)).toEqual([[1, 2], [3, 4]]);
    expect(reads).toBe(1);
  });
});

// --- backendInfo --------------------------------------------------------------------------------
describe('hostile inputs: backendInfo', () => {
  it('ignores arguments and returns a fresh object each call', () => {
    const a = (backendInfo as (...x: unknown[]) => ReturnType<typeof backendInfo>)(Symbol('x'), null, 1n);
    expect(typeof a.version).toBe('string');
    expect(a.cpu.threads).toBeGreaterThanOrEqual(1);
    a.cpu.threads = -5;
    (a.cuda.devices as unknown[]).push('junk');
    const b = backendInfo();
    expect(b.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(b.cuda.devices).toEqual([]);
  });
});

// --- odd but valid ------------------------------------------------------------------------------
function checkConv(input: Tensor, weight: Tensor, y: Tensor, o: Parameters<typeof refConv>[2] = {}): void {
  const ref = refConv(input, weight, o);
  expect(y.data.length).toBe(ref.data.length);
  expect(relError(y.data, ref.data)).toBeLessThan(1e-5);
}

describe('odd but valid inputs', () => {
  it('subarrays at byte offsets, for input, weight, bias and out', async () => {
    const big = r.floats(1000);
    const input = { data: big.subarray(3, 53), shape: [2, 5, 5] };
    const weight = { data: big.subarray(101, 155), shape: [3, 2, 3, 3] };
    const bias = big.subarray(301, 304);
    const outBuf = new Float32Array(40).fill(NaN);
    const out = outBuf.subarray(7, 34);
    const y = conv2dSync(input, weight, { bias, out });
    expect(y.data).toBe(out);
    checkConv(input, weight, y, { bias });
    expect(outBuf[6]).toBeNaN();
    expect(outBuf[34]).toBeNaN(); // nothing written outside `out`
    out.fill(NaN);
    const y2 = await conv2d(input, weight, { bias, out });
    expect(y2.data).toBe(out);
    checkConv(input, weight, y2, { bias });
    expect(outBuf[6]).toBeNaN();
    expect(outBuf[34]).toBeNaN();
  });

  it('Float32Array views over pooled Buffer slices: aligned ones work, unaligned ones need a copy', async () => {
    // Buffer.from of a small input shares an 8 KiB pool; its byteOffset is whatever the pool is at.
    const pooled: Buffer[] = [];
    for (let i = 0; i < 16; i++) pooled.push(Buffer.from(new Uint8Array(200 + i)));
    expect(pooled.some((b) => b.buffer.byteLength === 8192)).toBe(true);
    const aligned = pooled.find((b) => b.byteOffset % 4 === 0 && b.byteOffset > 0);
    const unaligned = pooled.find((b) => b.byteOffset % 4 !== 0);
    expect(aligned).toBeDefined();
    // An aligned view works like any other Float32Array.
    const xs = new Float32Array(aligned!.buffer, aligned!.byteOffset, 50);
    xs.set(r.floats(50));
    const input = { data: xs, shape: [2, 5, 5] };
    const weight = W();
    checkConv(input, weight, conv2dSync(input, weight));
    checkConv(input, weight, await conv2d(input, weight));
    // An unaligned offset cannot even make a Float32Array (V8's RangeError, before we are called);
    // copying the bytes out makes an aligned array.
    if (unaligned) {
      expect(() => new Float32Array(unaligned.buffer, unaligned.byteOffset, 50)).toThrow(RangeError);
      const bytes = Buffer.alloc(200);
      new Uint8Array(xs.buffer, xs.byteOffset, 200).forEach((v, i) => { bytes[i] = v; });
      unaligned.set(bytes.subarray(0, 200));
      const copy = new Float32Array(new Uint8Array(unaligned.subarray(0, 200)).buffer);
      checkConv({ data: copy, shape: [2, 5, 5] }, weight, conv2dSync({ data: copy, shape: [2, 5, 5] }, weight));
      expect(Array.from(copy)).toEqual(Array.from(xs));
    }
  });

  it('frozen tensors, frozen shapes, frozen option objects and null-prototype options', async () => {
    const input = Object.freeze({ data: r.floats(50), shape: Object.freeze([2, 5, 5]) });
    const weight = Object.freeze({ data: r.floats(54), shape: Object.freeze([3, 2, 3, 3]) });
    const o = Object.freeze({ stride: Object.freeze([2, 1]), padding: Object.freeze([1, 0, 2, 1]) });
    const ref = { stride: [2, 1] as [number, number], padding: [1, 0, 2, 1] as [number, number, number, number] };
    checkConv(input as never, weight as never, conv2dSync(input as never, weight as never, o as never), ref);
    checkConv(input as never, weight as never, await conv2d(input as never, weight as never, o as never), ref);
    const nullProto = Object.assign(Object.create(null), { padding: 'same' });
    expect(conv2dSync(input as never, weight as never, nullProto).shape).toEqual([3, 5, 5]);
  });

  it('inherited properties are not options (a polluted Object.prototype changes nothing)', () => {
    const input = X();
    const weight = W();
    const ref = refConv(input, weight).data; // before polluting: the helper reads options too
    const proto = Object.prototype as Record<string, unknown>;
    let y1: Tensor, y2: Tensor;
    proto.stride = 3;
    proto.out = new Float32Array(1);
    try {
      y1 = conv2dSync(input, weight);
      y2 = conv2dSync(input, weight, Object.create({ padding: 7 }));
    } finally {
      delete proto.stride;
      delete proto.out;
    }
    expect(relError(y1.data, ref)).toBeLessThan(1e-5);
    expect(relError(y2.data, ref)).toBeLessThan(1e-5);
  });

  it('options with Symbol keys ignore them; a Proxy that behaves is read like an object', () => {
    const input = X();
    const weight = W();
    checkConv(input, weight, conv2dSync(input, weight, { [Symbol('stride')]: 5 } as never));
    const proxied = new Proxy({ padding: 1 }, {});
    checkConv(input, weight, conv2dSync(input, weight, proxied as never), { padding: [1, 1, 1, 1] });
  });

  it('getters are read once: a getter cannot pass the check with one value and run with another', () => {
    let reads = 0;
    const input = X();
    const sneaky = { data: input.data, get shape() { reads++; return reads === 1 ? [2, 5, 5] : [1, 5, 5]; } };
    const weight = W();
    checkConv(input, weight, conv2dSync(sneaky as never, weight));
    expect(reads).toBe(1);
    let strideReads = 0;
    const o = { get stride() { strideReads++; return strideReads === 1 ? 1 : 0; } };
    checkConv(input, weight, conv2dSync(input, weight, o as never));
    expect(strideReads).toBe(1);
  });

  it('SharedArrayBuffer-backed arrays are supported (sync and async)', async () => {
    const sab = (n: number) => { const a = new Float32Array(new SharedArrayBuffer(4 * n)); a.set(r.floats(n)); return a; };
    const input = { data: sab(50), shape: [2, 5, 5] };
    const weight = { data: sab(54), shape: [3, 2, 3, 3] };
    const bias = sab(3);
    const out = new Float32Array(new SharedArrayBuffer(4 * 27));
    checkConv(input, weight, conv2dSync(input, weight, { bias, out }), { bias });
    out.fill(NaN);
    checkConv(input, weight, await conv2d(input, weight, { bias, out }), { bias });
  });

  it('resizable-ArrayBuffer-backed (length-tracking) arrays work', async () => {
    const rab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(200, { maxByteLength: 400 });
    const data = new Float32Array(rab);
    data.set(r.floats(50));
    const input = { data, shape: [2, 5, 5] };
    const weight = W();
    checkConv(input, weight, conv2dSync(input, weight));
    checkConv(input, weight, await conv2d(input, weight));
  });

  it('Float32Arrays from another realm (vm context) are accepted', async () => {
    const data = vm.runInNewContext('new Float32Array(50)') as Float32Array;
    expect(data instanceof Float32Array).toBe(false);
    data.set(r.floats(50));
    const input = { data, shape: [2, 5, 5] };
    const weight = W();
    checkConv(input, weight, conv2dSync(input, weight));
    checkConv(input, weight, await conv2d(input, weight));
  });

  it('a Float32Array subclass with a lying length is measured by its real length', () => {
    class Liar extends Float32Array { get length(): number { return 50; } }
    const liar = new Liar(10);
    expect(() => conv2dSync({ data: liar, shape: [2, 5, 5] }, W())).toThrow(expect.objectContaining({ code: SHAPE, message: expect.stringContaining('has 10 elements') }));
    const honest = new Liar(50);
    honest.set(r.floats(50));
    const input = { data: honest, shape: [2, 5, 5] };
    const weight = W();
    checkConv(input, weight, conv2dSync(input, weight));
  });

  it('input and weight may share memory (they are only read), -0 padding is 0, NaN and Inf propagate', () => {
    const buf = r.floats(50);
    const input = { data: buf, shape: [2, 5, 5] };
    const weight = { data: buf.subarray(0, 18), shape: [1, 2, 3, 3] };
    checkConv(input, weight, conv2dSync(input, weight, { padding: -0 }));
    const nan = { data: new Float32Array(50).fill(1), shape: [2, 5, 5] };
    nan.data[0] = NaN;
    nan.data[24] = Infinity;
    const y = conv2dSync(nan, { data: new Float32Array(18).fill(1), shape: [1, 2, 3, 3] });
    expect(y.data[0]).toBeNaN(); // covers x[0, 0, 0]
    expect(y.data[8]).toBe(Infinity); // covers x[0, 4, 4] only
    expect(y.data[4]).toBe(18);
  });

  it('after all of the above, a plain call is still right', async () => {
    const input = X();
    const weight = W();
    checkConv(input, weight, await conv2d(input, weight));
  });
});

// --- random hostile arguments: whatever is passed, the answer is a result or a coded error -------
describe('random hostile arguments (property test)', () => {
  const scalars: (() => unknown)[] = [
    () => undefined, () => null, () => 0, () => -1, () => 1, () => 2, () => 3, () => 1.5, () => NaN, () => Infinity,
    () => 2 ** 31, () => 2 ** 53, () => -0, () => '', () => 'same', () => 'NHWC', () => 'HWIO', () => Symbol('s'),
    () => 1n, () => true, () => ({}), () => [], () => [1], () => [1, 1], () => [0, 0, 0, 0], () => [2, 5, 5],
    () => [1, 2, 3, 3], () => [1, 1, 1, 1], () => new Float32Array(r.int(0, 60)), () => new Float64Array(3),
    () => detached(4), revoked, () => throwingGetter('data'), () => trapProxy({}, 'get'), () => () => 1,
    () => new Float32Array(new SharedArrayBuffer(16)), () => new Array(3), () => [Symbol('x')], () => [1n, 2],
  ];
  const anyScalar = () => r.pick(scalars)();
  const shapes = [[2, 5, 5], [1, 2, 5, 5], [3, 2, 3, 3], [1, 1, 1, 1], [2, 2], [5], [], [1, 2, 3, 4, 5]];
  const tensorish = (): unknown => {
    switch (r.int(0, 5)) {
      case 0: return X();
      case 1: return W();
      case 2: {
        const shape = r.pick(shapes).slice();
        if (r.next() < 0.3) shape[r.int(0, Math.max(0, shape.length - 1))] = anyScalar() as number;
        const n = shape.reduce((a: number, b) => a * (typeof b === 'number' && b > 0 && b < 100 ? b : 1), 1);
        return { data: r.next() < 0.8 ? r.floats(r.next() < 0.8 ? n : r.int(0, 60)) : anyScalar(), shape };
      }
      case 3: return { data: anyScalar(), shape: anyScalar() };
      default: return anyScalar();
    }
  };
  const keys = ['bias', 'stride', 'padding', 'dilation', 'groups', 'layout', 'weightLayout', 'device', 'threads', 'out', 'strid', '',
    'outputPadding', 'needs', 'activation', 'algorithm'];
  const optionsish = (): unknown => {
    if (r.next() < 0.2) return anyScalar();
    const o: Record<string, unknown> = {};
    for (let k = r.int(0, 3); k > 0; k--) {
      const key = r.pick(keys);
      o[key] = key === 'device' && r.next() < 0.5 ? 'cpu' : anyScalar();
    }
    return r.next() < 0.1 ? Object.freeze(o) : o;
  };
  type Call = [string, () => unknown];
  const calls: (() => Call)[] = [
    () => ['conv2dSync', () => conv2dSync(tensorish() as never, tensorish() as never, optionsish() as never)],
    () => ['conv2d', () => conv2d(tensorish() as never, tensorish() as never, optionsish() as never)],
    () => ['convCost', () => convCost(r.next() < 0.5 ? r.pick(shapes) : anyScalar() as never, r.next() < 0.5 ? r.pick(shapes) : anyScalar() as never, optionsish() as never)],
    () => ['conv2dTransposeSync', () => conv2dTransposeSync(tensorish() as never, tensorish() as never, optionsish() as never)],
    () => ['conv2dTranspose', () => conv2dTranspose(tensorish() as never, tensorish() as never, optionsish() as never)],
    () => ['convTransposeCost', () => convTransposeCost(r.next() < 0.5 ? r.pick(shapes) : anyScalar() as never, r.next() < 0.5 ? r.pick(shapes) : anyScalar() as never, optionsish() as never)],
    () => ['conv2dBackwardSync', () => conv2dBackwardSync(tensorish() as never, tensorish() as never, tensorish() as never, optionsish() as never)],
    () => ['conv2dBackward', () => conv2dBackward(tensorish() as never, tensorish() as never, tensorish() as never, optionsish() as never)],
    () => ['convBackwardCost', () => convBackwardCost(r.next() < 0.5 ? r.pick(shapes) : anyScalar() as never, r.next() < 0.5 ? r.pick(shapes) : anyScalar() as never, optionsish() as never)],
    () => ['corr2d', () => corr2d(tensorish() as never, tensorish() as never)],
    () => ['corr2dMultiIn', () => corr2dMultiIn(tensorish() as never, tensorish() as never)],
    () => ['corr2dMultiInOut', () => corr2dMultiInOut(tensorish() as never, tensorish() as never)],
    () => ['corr2dMultiInOut1x1', () => corr2dMultiInOut1x1(tensorish() as never, tensorish() as never)],
    () => ['tensor', () => tensor((r.next() < 0.5 ? [[anyScalar(), 1], [2, anyScalar()]] : anyScalar()) as never)],
    () => ['toNested', () => toNested(tensorish() as never)],
  ];
  const coded = (e: unknown) =>
    e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && (e as { code: string }).code.startsWith('ERR_CHANNELCONV_') &&
    e.message.length > 5;

  it('3000 random calls of every public function: a result or a coded TypeError/RangeError/Error', async () => {
    const counts: Record<string, { ok: number; errors: number }> = {};
    for (let i = 0; i < 3000; i++) {
      const [name, call] = r.pick(calls)();
      const c = (counts[name] ??= { ok: 0, errors: 0 });
      let result: unknown;
      try {
        result = call();
        if (result instanceof Promise) result = await result;
        c.ok++;
      } catch (e) {
        if (!coded(e)) throw new Error(`call ${i} ${name}: uncoded ${String(e)} (seed ${seed})`);
        c.errors++;
        continue;
      }
      // Results are well formed: data length = product of the shape.
      if (result && typeof result === 'object' && 'shape' in result) {
        const t = result as Tensor;
        expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
      }
    }
    console.log('random hostile calls:', JSON.stringify(counts));
    // Some calls of each kind were valid and some were refused, or the generator is broken.
    expect(Object.values(counts).reduce((a, c) => a + c.errors, 0)).toBeGreaterThan(1000);
    expect(Object.values(counts).reduce((a, c) => a + c.ok, 0)).toBeGreaterThan(30);
  });
});

describe('messages stay short whatever the input', () => {
  const deep = (d: number): unknown => { let v: unknown = 1; for (let i = 0; i < d; i++) v = [v]; return v; };
  const cyclic: unknown[] = [1];
  cyclic.push(cyclic);
  const huge = 'x'.repeat(1e6);
  const calls: [string, () => unknown][] = [
    ['a 100000-deep shape', () => conv2dSync({ data: new Float32Array(1), shape: deep(1e5) } as never, W())],
    ['a cyclic shape', () => conv2dSync({ data: new Float32Array(1), shape: cyclic } as never, W())],
    ['a cyclic tensor()', () => tensor(cyclic as never)],
    ['a cyclic padding', () => convCost([1, 1, 1], [1, 1, 1, 1], { padding: [cyclic, 1] as never })],
    ['a 1 MB layout word', () => conv2dSync(X(), W(), { layout: huge as never })],
    ['a 1 MB option name', () => conv2dSync(X(), W(), { [huge.slice(0, 1e5)]: 1 } as never)],
    ['a 1 MB needs word', () => conv2dBackwardSync(X(), W(), { data: new Float32Array(27), shape: [3, 3, 3] }, { needs: [huge as never] })],
    ['a cyclic outputPadding', () => conv2dTransposeSync(X(), W(), { outputPadding: cyclic as never })],
  ];
  for (const [label, call] of calls) {
    it(`${label}: a coded error with a message under 300 characters`, () => {
      const err = thrownBy(call);
      expect(coded(err)).toBe(true);
      expect((err as Error).message.length).toBeLessThan(300);
    });
  }
  const coded = (e: unknown) => e instanceof Error && /^ERR_CHANNELCONV_/.test(String((e as { code?: unknown }).code));
});
