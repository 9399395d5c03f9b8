// The one call descriptor every native entry point reads (binding.d.ts NativeDesc): the request as
// numbers in a Float64Array, so a call crosses N-API once without reading an object property by
// property, and the plan's results written back into it. Slots: the same numbers as
// native/binding/call.h.
import type { NativeDesc } from '../binding';

export const DESC_LEN = 50;
export const REQUEST_LEN = 32;

/** Slot numbers (native/binding/call.h, enum Slot). Exported by a separate statement, so this
 * module's own uses read a local binding, not a property of `exports` (measurably slower per call). */
const slot = {
  op: 0, direction: 1, rank: 2, input: 3, weight: 7, stride: 11, dilation: 13, padMode: 15, pad: 16,
  outputPadding: 20, groups: 22, layout: 23, weightLayout: 24, bias: 25, activation: 26, precision: 27,
  device: 28, threads: 29, algorithm: 30, skipWeights: 31,
  dstRank: 32, dst: 33, macs: 37, workspace: 38, algorithmOut: 39, padOut: 40, packedBytes: 44, yRank: 45, y: 46,
} as const;
export { slot };

export type PadMode = 'explicit' | 'valid' | 'same' | 'same_lower';
export type Direction = 'forward' | 'backward_data' | 'backward_weights';

/** The geometry of a call, normalised from the user's options (options.ts). */
export interface Geometry {
  stride: [number, number];
  dilation: [number, number];
  padMode: PadMode;
  /** [top, bottom, left, right]; read when padMode is 'explicit'. */
  padding: [number, number, number, number];
  /** A transposed convolution's extra output rows and columns. */
  outputPadding: [number, number];
  groups: number;
  layout: 'NCHW' | 'NHWC';
  /** 'OIHW' | 'HWIO' for a convolution; a transposed one's 'IOHW' | 'HWOI' are written as these. */
  weightLayout: 'OIHW' | 'HWIO';
}

/** Everything a descriptor carries. */
export interface Request {
  op: 'conv' | 'transpose';
  direction: Direction;
  inputShape: readonly number[];
  weightShape: readonly number[];
  geometry: Geometry;
  /** A bias is added (forward, transposed) or its gradient wanted (backward-weights). */
  bias: boolean;
  activation: 'none' | 'relu';
  precision: 'fp32' | 'tf32' | 'bf16';
  device: 'cpu' | 'cuda';
  /** 0: the default. */
  threads: number;
  /** An index into backendInfo().algorithms, or -1 for 'auto'. */
  algorithm: number;
  /** Backward-weights: the bias gradient alone. */
  skipWeights?: boolean;
}

const PAD_MODE: Record<PadMode, number> = { explicit: 0, valid: 1, same: 2, same_lower: 3 };
const DIRECTION: Record<Direction, number> = { forward: 0, backward_data: 1, backward_weights: 2 };
const PRECISION = { fp32: 0, tf32: 1, bf16: 2 } as const;

/** Writes the request into `d` (the results slots are left as they are). Returns d. */
export function writeRequest(d: NativeDesc, r: Request): NativeDesc {
  const g = r.geometry;
  d[slot.op] = r.op === 'transpose' ? 1 : 0;
  d[slot.direction] = DIRECTION[r.direction];
  d[slot.rank] = r.inputShape.length;
  for (let i = 0; i < 4; i++) {
    d[slot.input + i] = i < r.inputShape.length ? r.inputShape[i] : 1;
    d[slot.weight + i] = r.weightShape[i];
  }
  d[slot.stride] = g.stride[0]; d[slot.stride + 1] = g.stride[1];
  d[slot.dilation] = g.dilation[0]; d[slot.dilation + 1] = g.dilation[1];
  d[slot.padMode] = PAD_MODE[g.padMode];
  for (let i = 0; i < 4; i++) d[slot.pad + i] = g.padding[i];
  d[slot.outputPadding] = g.outputPadding[0]; d[slot.outputPadding + 1] = g.outputPadding[1];
  d[slot.groups] = g.groups;
  d[slot.layout] = g.layout === 'NHWC' ? 1 : 0;
  d[slot.weightLayout] = g.weightLayout === 'HWIO' ? 1 : 0;
  d[slot.bias] = r.bias ? 1 : 0;
  d[slot.activation] = r.activation === 'relu' ? 1 : 0;
  d[slot.precision] = PRECISION[r.precision];
  d[slot.device] = r.device === 'cuda' ? 1 : 0;
  d[slot.threads] = r.threads;
  d[slot.algorithm] = r.algorithm;
  d[slot.skipWeights] = r.skipWeights ? 1 : 0;
  return d;
}

function shapeAt(d: NativeDesc, rankSlot: number, first: number): number[] {
  const rank = d[rankSlot];
  const s: number[] = new Array(rank);
  for (let i = 0; i < rank; i++) s[i] = d[first + i];
  return s;
}

/** The shape of this direction's output (y, the input gradient or the weight gradient) in `d`. */
export const dstShapeOf = (d: NativeDesc): number[] => shapeAt(d, slot.dstRank, slot.dst);
/** The forward output's shape in `d` (the gradOutput a backward call expects). */
export const yShapeOf = (d: NativeDesc): number[] => shapeAt(d, slot.yRank, slot.y);
/** Elements of this direction's output. */
export function dstSizeOf(d: NativeDesc): number {
  let n = 1;
  for (let i = 0; i < d[slot.dstRank]; i++) n *= d[slot.dst + i];
  return n;
}

export interface DescPlan {
  outputShape: number[];
  macs: number;
  workspaceBytes: number;
  /** Index into backendInfo().algorithms, -1 on the GPU. */
  algorithm: number;
  padding: [number, number, number, number];
  packedBytes: number;
}

/** Everything a plan wrote into `d`. */
export function planOf(d: NativeDesc): DescPlan {
  return {
    outputShape: dstShapeOf(d),
    macs: d[slot.macs],
    workspaceBytes: d[slot.workspace],
    algorithm: d[slot.algorithmOut],
    padding: [d[slot.padOut], d[slot.padOut + 1], d[slot.padOut + 2], d[slot.padOut + 3]],
    packedBytes: d[slot.packedBytes],
  };
}

/**
 * Whether `d` holds the results of the request in `last` (its request slots are the same): a
 * repeated call can then skip planning. Records d's request in `last` otherwise... see remember().
 */
export function sameRequest(d: NativeDesc, last: Float64Array): boolean {
  for (let i = 0; i < REQUEST_LEN; i++) if (d[i] !== last[i]) return false;
  return true;
}

/** Copies d's request slots into `last` (after d was planned successfully). */
export function remember(d: NativeDesc, last: Float64Array): void {
  for (let i = 0; i < REQUEST_LEN; i++) last[i] = d[i];
}
