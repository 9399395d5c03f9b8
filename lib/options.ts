// Conv2dOptions: the public option object, validated and normalised into the native parameters.
import type { NativeConvParams } from '../binding';
import { codes, describe, guarded, rangeError, typeError, unknownOptionError } from './errors';
import { checkFloat32Array } from './tensor';

export type Padding =
  | 'valid'
  | 'same'
  | 'same_lower'
  | number
  | [number, number]
  | [number, number, number, number];

export interface Conv2dOptions {
  /** Per output channel, length Cout. */
  bias?: Float32Array;
  /** Default 1. */
  stride?: number | [number, number];
  /** number: all sides; [h, w]: top = bottom = h, left = right = w; [top, bottom, left, right]. Default 0. */
  padding?: Padding;
  /** Default 1. */
  dilation?: number | [number, number];
  /** Default 1; weight is [Cout, Cin / groups, KH, KW]. */
  groups?: number;
  /** Input and output layout. Default 'NCHW'. */
  layout?: 'NCHW' | 'NHWC';
  /** Default 'OIHW'. */
  weightLayout?: 'OIHW' | 'HWIO';
  /**
   * Default 'auto': the GPU when CUDA is available and the call is large enough to win (see
   * README "CUDA"), else the CPU. 'cpu' never touches CUDA; 'cuda' throws ERR_CHANNELCONV_NO_CUDA
   * when no GPU is usable.
   */
  device?: 'auto' | 'cpu' | 'cuda';
  /**
   * Default 'fp32' (exact float32 on every device). 'tf32' lets the GPU use TF32 tensor cores
   * (compute capability 8.0+; inputs rounded to a 10-bit mantissa, about 1e-3 relative error);
   * the CPU always computes in float32.
   */
  precision?: 'fp32' | 'tf32';
  /** CPU threads for this call; default all cores. */
  threads?: number;
  /** Preallocated output, length = product of the output shape; must not overlap the inputs. */
  out?: Float32Array;
  /** Applied after the bias, fused into the kernel. Default 'none'. */
  activation?: 'none' | 'relu';
}

export const knownOptions = [
  'bias', 'stride', 'padding', 'dilation', 'groups', 'layout', 'weightLayout', 'device', 'threads', 'out',
  'precision',
  'activation',
] as const;

export interface NormalizedOptions {
  params: NativeConvParams;
  bias: Float32Array | null;
  out: Float32Array | null;
  device: 'auto' | 'cpu' | 'cuda';
  precision: 'fp32' | 'tf32';
}

const MAX_INT = 2 ** 31 - 1;

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

function checkInt(name: string, v: unknown, min: number, max = MAX_INT): number {
  if (typeof v !== 'number') throw typeError(name, `an integer >= ${min}`, v);
  if (!isInt(v) || v < min || v > max) {
    throw rangeError(codes.INVALID_OPTION, `${name} must be an integer in [${min}, ${max}], got ${describe(v)}`);
  }
  return v;
}

function pair(name: string, v: unknown, min: number): [number, number] {
  if (v === undefined) return [1, 1];
  if (typeof v === 'number') {
    const x = checkInt(name, v, min);
    return [x, x];
  }
  if (!Array.isArray(v)) throw typeError(name, 'an integer or a pair [h, w] of integers', v);
  return guarded(name, () => {
    if (v.length !== 2) throw rangeError(codes.INVALID_OPTION, `${name} must have 2 entries [h, w], got ${v.length}`);
    return [checkInt(`${name}[0]`, v[0], min), checkInt(`${name}[1]`, v[1], min)] as [number, number];
  });
}

function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string') throw typeError(name, allowed.map((a) => `'${a}'`).join(' | '), v);
  if (!(allowed as readonly string[]).includes(v)) {
    throw rangeError(codes.INVALID_OPTION, `${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(v)}`);
  }
  return v as T;
}

function padding(v: unknown): Pick<NativeConvParams, 'padMode' | 'padding'> {
  const name = 'options.padding';
  if (v === undefined) return { padMode: 'explicit', padding: [0, 0, 0, 0] };
  if (typeof v === 'string') {
    const mode = oneOf(name, v, ['valid', 'same', 'same_lower'] as const, 'valid');
    return { padMode: mode, padding: [0, 0, 0, 0] };
  }
  if (typeof v === 'number') {
    const p = checkInt(name, v, 0);
    return { padMode: 'explicit', padding: [p, p, p, p] };
  }
  if (!Array.isArray(v)) {
    throw typeError(name, "'valid' | 'same' | 'same_lower' | an integer | [h, w] | [top, bottom, left, right]", v);
  }
  const p = guarded(name, () => {
    if (v.length !== 2 && v.length !== 4) throw rangeError(codes.INVALID_OPTION, `${name} must have 2 or 4 entries, got ${v.length}`);
    return Array.from({ length: v.length }, (_, i) => checkInt(`${name}[${i}]`, v[i], 0));
  });
  if (p.length === 2) return { padMode: 'explicit', padding: [p[0], p[0], p[1], p[1]] };
  if (p.length === 4) return { padMode: 'explicit', padding: [p[0], p[1], p[2], p[3]] };
  throw rangeError(codes.INVALID_OPTION, `${name} must have 2 or 4 entries, got ${p.length}`);
}

function floatArrayOrNull(name: string, v: unknown): Float32Array | null {
  if (v === undefined) return null;
  checkFloat32Array(v, name);
  return v as Float32Array;
}

/**
 * Copies the own enumerable properties of `options`, each read exactly once (as `{ ...options }`
 * would): inherited properties are ignored, so a polluted Object.prototype cannot inject options, and
 * a getter cannot return one value to the check and another to the call.
 */
function snapshot(options: object, known: readonly string[]): Record<string, unknown> {
  const o: Record<string, unknown> = Object.create(null);
  const keys = guarded('options', () => Object.keys(options));
  for (const key of keys) {
    if (!known.includes(key)) throw unknownOptionError(key, known);
    o[key] = guarded(`options.${key}`, () => (options as Record<string, unknown>)[key]);
  }
  return o;
}

/** Validates `options` (undefined or a plain object) and normalises it. Throws TypeError / RangeError. */
export function normalizeOptions(options: unknown, known: readonly string[] = knownOptions): NormalizedOptions {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || guarded('options', () => Array.isArray(options)) || ArrayBuffer.isView(options)) {
    throw typeError('options', 'an object', options);
  }
  const o = snapshot(options as object, known);
  const params: NativeConvParams = {
    stride: guarded('options.stride', () => pair('options.stride', o.stride, 1)),
    dilation: guarded('options.dilation', () => pair('options.dilation', o.dilation, 1)),
    ...guarded('options.padding', () => padding(o.padding)),
    groups: o.groups === undefined ? 1 : checkInt('options.groups', o.groups, 1),
    layout: oneOf('options.layout', o.layout, ['NCHW', 'NHWC'] as const, 'NCHW'),
    weightLayout: oneOf('options.weightLayout', o.weightLayout, ['OIHW', 'HWIO'] as const, 'OIHW'),
    threads: o.threads === undefined ? 0 : checkInt('options.threads', o.threads, 1, 1024),
    activation: oneOf('options.activation', o.activation, ['none', 'relu'] as const, 'none'),
  };
  return {
    params,
    bias: floatArrayOrNull('options.bias', o.bias),
    out: floatArrayOrNull('options.out', o.out),
    device: oneOf('options.device', o.device, ['auto', 'cpu', 'cuda'] as const, 'auto'),
    precision: oneOf('options.precision', o.precision, ['fp32', 'tf32'] as const, 'fp32'),
  };
}
