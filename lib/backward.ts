// conv2dBackward / conv2dBackwardSync / convBackwardCost: the gradients of a convolution, as the
// backward-data (input gradient) and backward-weights (weight and bias gradients) directions of the
// same problem, each through the one call path (call.ts). Prepared layers reuse the functions here.
import type { NativeDesc, NativeLayer } from '../binding';
import { algorithmOf, newLastRequest, plan, route, runAsync, runAsyncWeights, runDevice, runSync } from './call';
import { costOf, type ConvCost } from './conv';
import { DESC_LEN, dstShapeOf, dstSizeOf, writeRequest, yShapeOf, type Direction, type Request } from './desc';
import { DeviceTensor, isDeviceTensor } from './device';
import { codes, describe, rangeError } from './errors';
import { native } from './native';
import { newOutput } from './output';
import { backwardOptions, needsOf, normalizeSnapshot, snapshot, type Conv2dBackwardOptions, type Gradient, type NormalizedOptions } from './options';
import { readShape, readTensor, type Tensor } from './tensor';

/**
 * What conv2dBackward computes: each gradient asked for in `needs`. With DeviceTensor inputs the input
 * gradient is a DeviceTensor; the weight and bias gradients are on the host, as weights are.
 */
export interface Conv2dGradients<I extends Tensor | DeviceTensor = Tensor> {
  /** d loss / d input: the input's shape and layout. */
  gradInput?: I;
  /** d loss / d weight: the weight's shape and layout. */
  gradWeight?: Tensor;
  /** d loss / d bias: one per output channel, the sum of gradOutput over the batch and the pixels. */
  gradBias?: Float32Array;
  /** The algorithms that ran (backendInfo().algorithms, or 'cuda'), by gradient part. */
  algorithms: { input?: string; weight?: string };
}

/** convBackwardCost's result: the cost of each part that would run, and their sum. */
export interface ConvBackwardCost {
  /** The input gradient (backward-data), when 'input' is needed. */
  gradInput?: ConvCost;
  /**
   * The weight gradient (backward-weights), when 'weight' is needed. The bias gradient is a sum over
   * gradOutput (no multiply-adds, no workspace) computed with it, or alone.
   */
  gradWeight?: ConvCost;
  /** Multiply-adds of the parts together. */
  macs: number;
  flops: number;
  /** The larger workspace of the two parts (they run one after the other). */
  workspaceBytes: number;
}

/** A backward call: its arguments read once, its options normalised. */
export interface BackwardArgs {
  input: Tensor | DeviceTensor;
  gradOutput: Tensor | DeviceTensor;
  opts: NormalizedOptions;
  needs: Set<Gradient>;
}

/** An input of a backward call: a host Tensor or (allowDevice) a DeviceTensor, read once. */
export function readActivation(v: unknown, name: string, allowDevice = true): Tensor | DeviceTensor {
  if (isDeviceTensor(v)) {
    if (!allowDevice) throw rangeError(codes.INVALID_OPTION, `${name} is a DeviceTensor: prepared layers run on the CPU`);
    readShape(v.shape, `${name}.shape`, [3, 4]);
    v.handle(name);
    return v;
  }
  return readTensor(v, name, [3, 4]);
}

/**
 * Reads a backward call's arguments in order (input, weight, gradOutput, options); `needsArg` is a
 * prepared layer's `needs` argument (its options are the layer's).
 */
export function readBackward(inputArg: unknown, weightArg: unknown, gradArg: unknown, options: unknown,
  known: readonly string[] = backwardOptions, needsArg?: unknown): BackwardArgs & { weight: BackwardWeight } {
  const input = readActivation(inputArg, 'input');
  const weight = readTensor(weightArg, 'weight', [4]);
  const gradOutput = readActivation(gradArg, 'gradOutput');
  if ((input instanceof DeviceTensor) !== (gradOutput instanceof DeviceTensor)) {
    throw rangeError(codes.INVALID_OPTION, 'input and gradOutput must both be DeviceTensors or both host Tensors');
  }
  const o = snapshot(options, known);
  const opts = normalizeSnapshot(o);
  return { input, weight, gradOutput, opts, needs: needsArg === undefined ? needsOf(o.needs) : needsOf(needsArg, 'needs') };
}

/** The request of one part of a backward call. */
export function backwardRequest(direction: Direction, inputShape: readonly number[], weightShape: readonly number[],
  opts: NormalizedOptions, needs: Set<Gradient>, device: 'cpu' | 'cuda'): Request {
  const weights = direction === 'backward_weights';
  return {
    op: 'conv', direction, inputShape, weightShape, geometry: opts.geometry, bias: weights && needs.has('bias'),
    activation: 'none', precision: opts.precision, device, threads: opts.threads,
    algorithm: device === 'cuda' ? -1 : opts.algorithm, skipWeights: weights && !needs.has('weight'),
  };
}

/** RangeError ERR_CHANNELCONV_INVALID_SHAPE unless gradOutput has the forward output's shape (in desc). */
export function checkGradOutput(desc: NativeDesc, gradShape: readonly number[]): void {
  const y = yShapeOf(desc);
  if (y.length !== gradShape.length || y.some((d, i) => d !== gradShape[i])) {
    throw rangeError(codes.INVALID_SHAPE,
      `gradOutput.shape must be [${y.join(', ')}], the forward output's shape for this input, weight and options; got ${describe(gradShape)}`);
  }
}

// The parts of a call: backward-data when the input gradient is needed, backward-weights when the
// weight or the bias gradient is; with none, backward-data is planned all the same (shape checks).
function parts(needs: Set<Gradient>): Direction[] {
  const p: Direction[] = [];
  if (needs.has('input') || needs.size === 0) p.push('backward_data');
  if (needs.has('weight') || needs.has('bias')) p.push('backward_weights');
  return p;
}

// Reused by every synchronous call (one per part; they cannot interleave).
const syncDescs = newDescs();
const syncLasts = { backward_data: newLastRequest(), backward_weights: newLastRequest() };

/** A descriptor per part. */
export function newDescs(): Record<Direction, NativeDesc> {
  return { forward: new Float64Array(DESC_LEN), backward_data: new Float64Array(DESC_LEN), backward_weights: new Float64Array(DESC_LEN) };
}

/**
 * The weight a backward call runs with: its shape (the weight's, or a prepared layer's) and its data
 * or the layer (which then runs every part on the CPU).
 */
export interface BackwardWeight {
  shape: number[];
  data: Float32Array | NativeLayer;
}

// Routes, plans and checks every part first, so a bad call computes nothing.
function prepare(a: BackwardArgs, w: BackwardWeight, descs: Record<Direction, NativeDesc>,
  lasts: Record<string, Float64Array> | null): { dir: Direction; desc: NativeDesc }[] {
  const layer = w.data instanceof Float32Array ? null : w.data;
  const ps = parts(a.needs).map((dir) => {
    const desc = descs[dir];
    const last = lasts ? lasts[dir] : null;
    const request = (dev: 'cpu' | 'cuda') => backwardRequest(dir, a.input.shape, w.shape, a.opts, a.needs, dev);
    if (layer) writeRequest(desc, request('cpu'));
    else {
      route(desc, last, {
        request, deviceInput: a.input instanceof DeviceTensor, opts: a.opts,
        hostBytes: (d) => 4 * ((a.input as Tensor).data.length + (a.gradOutput as Tensor).data.length + dstSizeOf(d)),
      });
    }
    plan(desc, last, layer);
    return { dir, desc };
  });
  checkGradOutput(ps[0].desc, a.gradOutput.shape);
  return ps;
}

// The bias gradient's length: the weight's output channels.
function outChannels(a: BackwardArgs, w: BackwardWeight): number {
  return a.opts.geometry.weightLayout === 'HWIO' ? w.shape[3] : w.shape[0];
}

/** The synchronous parts of a backward call (plain, or with a prepared layer as the weight). */
export function gradients(a: BackwardArgs, w: BackwardWeight, descs: Record<Direction, NativeDesc>,
  lasts: Record<string, Float64Array>): Conv2dGradients<Tensor | DeviceTensor> {
  const out: Conv2dGradients<Tensor | DeviceTensor> = { algorithms: {} };
  for (const { dir, desc } of prepare(a, w, descs, lasts)) {
    const last = lasts[dir];
    if (dir === 'backward_data') {
      if (!a.needs.has('input')) continue;
      if (a.gradOutput instanceof DeviceTensor) {
        last[0] = NaN;
        out.gradInput = new DeviceTensor(runDevice(desc, a.gradOutput.handle('gradOutput'), w.data as Float32Array, null), dstShapeOf(desc));
      } else {
        out.gradInput = { data: runSync(desc, last, a.gradOutput.data, w.data, null, null), shape: dstShapeOf(desc) };
      }
      out.algorithms.input = algorithmOf(desc);
      continue;
    }
    const gb = a.needs.has('bias') ? newOutput(outChannels(a, w)) : null;
    const layer = w.data instanceof Float32Array ? null : w.data;
    let gw: Float32Array | null;
    if (a.input instanceof DeviceTensor) {
      last[0] = NaN;
      gw = a.needs.has('weight') ? newOutput(dstSizeOf(desc)) : null;
      runDevice(desc, a.input.handle('input'), null, null, (a.gradOutput as DeviceTensor).handle('gradOutput'), gw, gb);
    } else {
      gw = runSync(desc, last, a.input.data, layer, null, null, (a.gradOutput as Tensor).data, gb); // null: bias alone
    }
    if (gw) out.gradWeight = { data: gw, shape: dstShapeOf(desc) };
    if (gb) out.gradBias = gb;
    if (gw) out.algorithms.weight = algorithmOf(desc);
  }
  return out;
}

/**
 * The async parts of a backward call (plain, or with a prepared layer as the weight). Every part is
 * queued at once, so each copies its inputs when the call starts (they may then share the cores).
 */
export async function gradientsAsync(a: BackwardArgs, w: BackwardWeight): Promise<Conv2dGradients<Tensor | DeviceTensor>> {
  const out: Conv2dGradients<Tensor | DeviceTensor> = { algorithms: {} };
  const layer = w.data instanceof Float32Array ? null : w.data;
  const started = prepare(a, w, newDescs(), null).map(({ dir, desc }) => {
    const shape = dstShapeOf(desc), algorithm = algorithmOf(desc);
    if (dir === 'backward_data') {
      if (!a.needs.has('input')) return null;
      const run = a.gradOutput instanceof DeviceTensor
        ? native().runAsync(desc, a.gradOutput.handle('gradOutput'), w.data, null, null)
            .then((h) => { out.gradInput = new DeviceTensor(h as never, shape); })
        : runAsync(desc, a.gradOutput.data, w.data, null, null).then((data) => { out.gradInput = { data, shape }; });
      out.algorithms.input = algorithm;
      return run;
    }
    const run = a.input instanceof DeviceTensor
      ? native().runAsync(desc, a.input.handle('input'), null, null, null, (a.gradOutput as DeviceTensor).handle('gradOutput')) as Promise<[Float32Array | null, Float32Array | null]>
      : runAsyncWeights(desc, a.input.data, layer, (a.gradOutput as Tensor).data);
    if (a.needs.has('weight')) out.algorithms.weight = algorithm;
    return run.then(([gw, gb]) => {
      if (gw) out.gradWeight = { data: gw, shape };
      if (gb) out.gradBias = gb;
    });
  });
  await Promise.all(started);
  return out;
}

/**
 * The gradients of conv2d(input, weight, { bias, ...options }) given gradOutput = d loss / d output
 * (the forward output's exact shape, else RangeError ERR_CHANNELCONV_INVALID_SHAPE): gradInput
 * (input's shape and layout), gradWeight (weight's shape and layout), gradBias ([Cout]); `needs`
 * picks which are computed (default all). The forward pass's bias does not change the gradients, and
 * a fused relu is not undone: mask gradOutput by output > 0 first. Blocks the calling thread.
 */
export function conv2dBackwardSync(input: DeviceTensor, weight: Tensor, gradOutput: DeviceTensor, options?: Conv2dBackwardOptions): Conv2dGradients<DeviceTensor>;
export function conv2dBackwardSync(input: Tensor, weight: Tensor, gradOutput: Tensor, options?: Conv2dBackwardOptions): Conv2dGradients;
export function conv2dBackwardSync(input: Tensor | DeviceTensor, weight: Tensor, gradOutput: Tensor | DeviceTensor, options?: Conv2dBackwardOptions): Conv2dGradients<Tensor | DeviceTensor>;
export function conv2dBackwardSync(input: Tensor | DeviceTensor, weight: Tensor, gradOutput: Tensor | DeviceTensor,
  options?: Conv2dBackwardOptions): Conv2dGradients<Tensor | DeviceTensor> {
  const a = readBackward(input, weight, gradOutput, options);
  return gradients(a, a.weight, syncDescs, syncLasts);
}

/**
 * As conv2dBackwardSync, on the libuv thread pool. Input, weight and gradOutput are copied when the
 * call starts (changing them afterwards does not change the result).
 */
export function conv2dBackward(input: DeviceTensor, weight: Tensor, gradOutput: DeviceTensor, options?: Conv2dBackwardOptions): Promise<Conv2dGradients<DeviceTensor>>;
export function conv2dBackward(input: Tensor, weight: Tensor, gradOutput: Tensor, options?: Conv2dBackwardOptions): Promise<Conv2dGradients>;
export function conv2dBackward(input: Tensor | DeviceTensor, weight: Tensor, gradOutput: Tensor | DeviceTensor, options?: Conv2dBackwardOptions): Promise<Conv2dGradients<Tensor | DeviceTensor>>;
export async function conv2dBackward(input: Tensor | DeviceTensor, weight: Tensor, gradOutput: Tensor | DeviceTensor,
  options?: Conv2dBackwardOptions): Promise<Conv2dGradients<Tensor | DeviceTensor>> {
  const a = readBackward(input, weight, gradOutput, options);
  return gradientsAsync(a, a.weight);
}

/**
 * Cost of conv2dBackward without running it: each part's ConvCost (output shape, multiply-adds,
 * workspace, algorithm) and the total.
 */
export function convBackwardCost(inputShape: number[], weightShape: number[], options?: Conv2dBackwardOptions): ConvBackwardCost {
  const inShape = readShape(inputShape, 'inputShape', [3, 4]);
  const wShape = readShape(weightShape, 'weightShape', [4]);
  const o = snapshot(options, backwardOptions);
  const opts = normalizeSnapshot(o);
  const needs = needsOf(o.needs);
  const r: ConvBackwardCost = { macs: 0, flops: 0, workspaceBytes: 0 };
  for (const dir of parts(needs)) {
    const desc = writeRequest(new Float64Array(DESC_LEN), backwardRequest(dir, inShape, wShape, opts, needs, 'cpu'));
    plan(desc);
    const c = costOf(desc);
    if (dir === 'backward_data' && !needs.has('input')) continue;
    if (dir === 'backward_weights' && !needs.has('weight')) continue; // the bias gradient alone
    if (dir === 'backward_data') r.gradInput = c;
    else r.gradWeight = c;
    r.macs += c.macs;
    r.flops += c.flops;
    r.workspaceBytes = Math.max(r.workspaceBytes, c.workspaceBytes);
  }
  return r;
}

