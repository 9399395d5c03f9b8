// The public option objects, validated and normalised into the descriptor's request (desc.ts).
import type { Geometry } from './desc';
import { codes, describe, guarded, rangeError, typeError, unknownOptionError } from './errors';
import { algorithmNames } from './backend';
import { checkFloat32Array } from './tensor';

export type Padding =
  | 'valid'
  | 'same'
  | 'same_lower'
  | number
  | [number, number]
  | [number, number, number, number];

/**
 * An algorithm of the registry (backendInfo().algorithms), or 'auto' (the default): the first that
 * can run the problem and prefers it, in registry order. Forcing one that cannot run the problem is a
 * RangeError (ERR_CHANNELCONV_INVALID_OPTION) listing those that can. 'winograd_4x4' (F(4x4, 3x3)) and
 * 'winograd_2x2' (F(2x2, 3x3) and F(2x2, 5x5)) run stride-1 undilated 3x3 (and 5x5) layers.
 */
export type Algorithm = 'auto' | 'direct' | 'winograd_4x4' | 'winograd_2x2' | 'implicit_gemm' | 'packed_gemm';

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
  /** CPU threads for this call; default all cores (OMP_NUM_THREADS when set). */
  threads?: number;
  /** Preallocated output, length = product of the output shape; must not overlap the inputs. */
  out?: Float32Array;
  /** Applied after the bias, fused into the kernel. Default 'none'. */
  activation?: 'none' | 'relu';
  /** Default 'auto'. See {@link Algorithm}. */
  algorithm?: Algorithm;
}

export const knownOptions = [
  'bias', 'stride', 'padding', 'dilation', 'groups', 'layout', 'weightLayout', 'device', 'threads', 'out',
  'precision', 'activation', 'algorithm',
] as const;

export interface NormalizedOptions {
  geometry: Geometry;
  bias: Float32Array | null;
  out: Float32Array | null;
  device: 'auto' | 'cpu' | 'cuda';
  precision: 'fp32' | 'tf32';
  /** 0: the default. */
  threads: number;
  activation: 'none' | 'relu';
  /** Index into backendInfo().algorithms, -1 for 'auto'. */
  algorithm: number;
}

const MAX_INT = 2 ** 31 - 1;

function checkInt(name: string, v: unknown, min: number, max = MAX_INT): number {
  if (typeof v !== 'number') throw typeError(name, `an integer >= ${min}`, v);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw rangeError(codes.INVALID_OPTION, `${name} must be an integer in [${min}, ${max}], got ${describe(v)}`);
  }
  return v;
}

/** An integer or a pair [h, w] of integers >= min; `dflt` when absent. */
export function pair(name: string, v: unknown, min: number, dflt = 1): [number, number] {
  if (v === undefined) return [dflt, dflt];
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

export function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string') throw typeError(name, allowed.map((a) => `'${a}'`).join(' | '), v);
  if (!(allowed as readonly string[]).includes(v)) {
    throw rangeError(codes.INVALID_OPTION, `${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(v)}`);
  }
  return v as T;
}

function padding(v: unknown, modes: readonly ('valid' | 'same' | 'same_lower')[]): Pick<Geometry, 'padMode' | 'padding'> {
  const name = 'options.padding';
  if (v === undefined) return { padMode: 'explicit', padding: [0, 0, 0, 0] };
  if (typeof v === 'string') return { padMode: oneOf(name, v, modes, 'valid'), padding: [0, 0, 0, 0] };
  if (typeof v === 'number') {
    const p = checkInt(name, v, 0);
    return { padMode: 'explicit', padding: [p, p, p, p] };
  }
  if (!Array.isArray(v)) {
    throw typeError(name, `${modes.map((m) => `'${m}'`).join(' | ')} | an integer | [h, w] | [top, bottom, left, right]`, v);
  }
  const p = guarded(name, () => {
    if (v.length !== 2 && v.length !== 4) throw rangeError(codes.INVALID_OPTION, `${name} must have 2 or 4 entries, got ${v.length}`);
    return Array.from({ length: v.length }, (_, i) => checkInt(`${name}[${i}]`, v[i], 0));
  });
  if (p.length === 2) return { padMode: 'explicit', padding: [p[0], p[0], p[1], p[1]] };
  if (p.length === 4) return { padMode: 'explicit', padding: [p[0], p[1], p[2], p[3]] };
  throw rangeError(codes.INVALID_OPTION, `${name} must have 2 or 4 entries, got ${p.length}`);
}

export function floatArrayOrNull(name: string, v: unknown): Float32Array | null {
  if (v === undefined) return null;
  checkFloat32Array(v, name);
  return v as Float32Array;
}

/** options.algorithm: 'auto' (-1) or a name of backendInfo().algorithms (its index). */
export function algorithmOption(v: unknown): number {
  const names = algorithmNames();
  const name = oneOf('options.algorithm', v, ['auto', ...names], 'auto');
  return name === 'auto' ? -1 : names.indexOf(name);
}

/**
 * Copies the own enumerable properties of `options`, each read exactly once (as `{ ...options }`
 * would): inherited properties are ignored, so a polluted Object.prototype cannot inject options, and
 * a getter cannot return one value to the check and another to the call. Unknown keys are a
 * TypeError (ERR_CHANNELCONV_UNKNOWN_OPTION) listing the known ones.
 */
export function snapshot(options: unknown, known: readonly string[]): Record<string, unknown> {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || guarded('options', () => Array.isArray(options)) || ArrayBuffer.isView(options)) {
    throw typeError('options', 'an object', options);
  }
  const o: Record<string, unknown> = Object.create(null);
  const keys = guarded('options', () => Object.keys(options as object));
  for (const key of keys) {
    if (!known.includes(key)) throw unknownOptionError(key, known);
    o[key] = guarded(`options.${key}`, () => (options as Record<string, unknown>)[key]);
  }
  return o;
}

/** The geometry options of a snapshot (conv2d's padding modes, or a transposed conv's). */
export function geometryOf(o: Record<string, unknown>, transpose = false): Geometry {
  const weightLayout = transpose
    ? oneOf('options.weightLayout', o.weightLayout, ['IOHW', 'HWOI'] as const, 'IOHW') === 'HWOI' ? 'HWIO' : 'OIHW'
    : oneOf('options.weightLayout', o.weightLayout, ['OIHW', 'HWIO'] as const, 'OIHW');
  return {
    stride: guarded('options.stride', () => pair('options.stride', o.stride, 1)),
    dilation: guarded('options.dilation', () => pair('options.dilation', o.dilation, 1)),
    ...guarded('options.padding', () => padding(o.padding, transpose ? ['valid', 'same'] : ['valid', 'same', 'same_lower'])),
    outputPadding: transpose ? guarded('options.outputPadding', () => pair('options.outputPadding', o.outputPadding, 0, 0)) : [0, 0],
    groups: o.groups === undefined ? 1 : checkInt('options.groups', o.groups, 1),
    layout: oneOf('options.layout', o.layout, ['NCHW', 'NHWC'] as const, 'NCHW'),
    weightLayout,
  };
}

/** Validates conv2d's `options` (undefined or a plain object) and normalises it. Throws TypeError / RangeError. */
export function normalizeOptions(options: unknown, known: readonly string[] = knownOptions, transpose = false): NormalizedOptions {
  return normalizeSnapshot(snapshot(options, known), transpose);
}

/** The options of a snapshot (options absent from `known` were refused by snapshot and read as absent here). */
export function normalizeSnapshot(o: Record<string, unknown>, transpose = false): NormalizedOptions {
  return {
    geometry: geometryOf(o, transpose),
    threads: o.threads === undefined ? 0 : checkInt('options.threads', o.threads, 1, 1024),
    activation: oneOf('options.activation', o.activation, ['none', 'relu'] as const, 'none'),
    bias: floatArrayOrNull('options.bias', o.bias),
    out: floatArrayOrNull('options.out', o.out),
    device: oneOf('options.device', o.device, ['auto', 'cpu', 'cuda'] as const, 'auto'),
    precision: oneOf('options.precision', o.precision, ['fp32', 'tf32'] as const, 'fp32'),
    algorithm: o.algorithm === undefined ? -1 : algorithmOption(o.algorithm),
  };
}

/**
 * conv2dTranspose's options: conv2d's, with the transposed convolution's padding ('valid' | 'same',
 * where 'same' gives output = input x stride), outputPadding and weight layouts.
 */
export interface Conv2dTransposeOptions extends Omit<Conv2dOptions, 'padding' | 'weightLayout'> {
  /** Per output channel, length weight.shape[1] x groups (IOHW) or weight.shape[2] x groups (HWOI). */
  bias?: Float32Array;
  /** Removed from the full output, as in PyTorch and ONNX; 'same': output = input x stride. Default 0. */
  padding?: 'valid' | 'same' | number | [number, number] | [number, number, number, number];
  /** Extra rows / columns at the bottom / right, below max(stride, dilation) on each axis. Default 0. */
  outputPadding?: number | [number, number];
  /** 'IOHW' [Cin, Cout/groups, KH, KW] (PyTorch, ONNX) or 'HWOI' [KH, KW, Cout/groups, Cin] (TensorFlow). Default 'IOHW'. */
  weightLayout?: 'IOHW' | 'HWOI';
}

export const transposeOptions = [...knownOptions, 'outputPadding'] as const;

/** The gradients conv2dBackward computes: of the input, of the weight, of the bias. */
export type Gradient = 'input' | 'weight' | 'bias';
const GRADIENTS: readonly Gradient[] = ['input', 'weight', 'bias'];

/** conv2dBackward's options: the forward call's geometry and run options, and which gradients to compute. */
export interface Conv2dBackwardOptions extends Pick<Conv2dOptions,
  'stride' | 'padding' | 'dilation' | 'groups' | 'layout' | 'weightLayout' | 'device' | 'threads' | 'precision' | 'algorithm'> {
  /** Default all three; a gradient not listed is not computed. */
  needs?: Gradient[];
}

export const backwardOptions = [
  'stride', 'padding', 'dilation', 'groups', 'layout', 'weightLayout', 'device', 'threads', 'precision', 'algorithm', 'needs',
] as const;

/**
 * options.needs (or a layer's `needs` argument, named `name`): which gradients to compute, each
 * listed at most once; default all three. An empty list computes nothing (the shapes are still checked).
 */
export function needsOf(v: unknown, name = 'options.needs'): Set<Gradient> {
  if (v === undefined) return new Set(GRADIENTS);
  if (!guarded(name, () => Array.isArray(v))) throw typeError(name, "an array of 'input' | 'weight' | 'bias'", v);
  return guarded(name, () => {
    const a = v as unknown[];
    if (a.length > GRADIENTS.length) {
      throw rangeError(codes.INVALID_OPTION, `${name} lists each of 'input', 'weight', 'bias' at most once; got ${a.length} entries`);
    }
    const out = new Set<Gradient>();
    for (let i = 0; i < a.length; i++) {
      const g = a[i];
      if (typeof g !== 'string') throw typeError(`${name}[${i}]`, "'input' | 'weight' | 'bias'", g);
      if (!(GRADIENTS as readonly string[]).includes(g)) {
        throw rangeError(codes.INVALID_OPTION, `${name}[${i}] must be one of 'input', 'weight', 'bias', got ${describe(g)}`);
      }
      if (out.has(g as Gradient)) throw rangeError(codes.INVALID_OPTION, `${name} lists '${g}' twice`);
      out.add(g as Gradient);
    }
    return out;
  });
}
