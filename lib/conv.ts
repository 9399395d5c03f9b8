// conv2d / conv2dSync / convCost and the transposed convolution (conv2dTranspose, its sync form and
// cost): validation in TS, the arithmetic and the kernels in native code, through the one call path
// (call.ts). A transposed convolution is the same call with op 'transpose': the native resolver
// reads its input and weight as the backward-data problem of a convolution.
import type { NativeDesc } from '../binding';
import { algorithmOf, newLastRequest, plan, route as routeCall, runAsync, runDevice, runSync } from './call';
import { DESC_LEN, dstShapeOf, dstSizeOf, planOf, writeRequest, type Request } from './desc';
import { DeviceTensor, isDeviceTensor } from './device';
import { native } from './native';
import { normalizeOptions, transposeOptions, type Conv2dOptions, type Conv2dTransposeOptions, type NormalizedOptions } from './options';
import { readShape, readTensor, type Tensor } from './tensor';

/** A conv2d result on the host, with the device and the algorithm that computed it. */
export interface ConvOutput extends Tensor {
  device: 'cpu' | 'cuda';
  /** The registry entry that ran (backendInfo().algorithms), or 'cuda' for the GPU path. */
  algorithm: string;
}

export interface ConvCost {
  /** Output shape, with the input's rank and layout. */
  outputShape: number[];
  /** Multiply-adds: N · Cout · (Cin/groups) · KH · KW · OH · OW. */
  macs: number;
  /** 2 · macs (a multiply-add counts as two floating-point operations). */
  flops: number;
  /** Scratch memory one call allocates, in bytes (packed weights included, unless prepared). */
  workspaceBytes: number;
  /** Padding actually applied, [top, bottom, left, right]. */
  padding: [number, number, number, number];
  /** The algorithm the call runs: 'auto''s choice, or the one forced with options.algorithm. */
  algorithm: string;
  /** Bytes of that algorithm's packed weights (what a prepared layer holds besides the weight copy). */
  packedBytes: number;
}

// Reused by every synchronous call (they cannot interleave); async calls never touch it.
const syncDesc = new Float64Array(DESC_LEN);
const syncLast = newLastRequest();

interface CallArgs {
  op: 'conv' | 'transpose';
  input: Tensor | DeviceTensor;
  weight: Tensor;
  opts: NormalizedOptions;
}

// Snapshots: every property is read once, so getters cannot change a value between check and use.
function readArgs(inputArg: unknown, weightArg: unknown, options: unknown, op: CallArgs['op'] = 'conv'): CallArgs {
  let input: Tensor | DeviceTensor;
  if (isDeviceTensor(inputArg)) {
    readShape(inputArg.shape, 'input.shape', [3, 4]);
    inputArg.handle('input');
    input = inputArg;
  } else {
    input = readTensor(inputArg, 'input', [3, 4]);
  }
  const weight = readTensor(weightArg, 'weight', [4]);
  const opts = op === 'transpose' ? normalizeOptions(options, transposeOptions, true) : normalizeOptions(options);
  return { op, input, weight, opts };
}

function request(op: CallArgs['op'], inputShape: number[], weightShape: number[], opts: NormalizedOptions,
  device: 'cpu' | 'cuda'): Request {
  return {
    op, direction: op === 'transpose' ? 'backward_data' : 'forward', inputShape, weightShape, geometry: opts.geometry,
    bias: opts.bias !== null, activation: opts.activation, precision: opts.precision, device,
    threads: opts.threads, algorithm: device === 'cuda' ? -1 : opts.algorithm,
  };
}

function route(desc: NativeDesc, last: Float64Array | null, args: CallArgs): 'cpu' | 'cuda' {
  const { input, weight, opts } = args;
  return routeCall(desc, last, {
    request: (device) => request(args.op, input.shape, weight.shape, opts, device), deviceInput: input instanceof DeviceTensor, opts,
    hostBytes: (d) => 4 * ((input as Tensor).data.length + weight.data.length + dstSizeOf(d)),
  });
}

/**
 * 2-D cross-correlation of a batch of multi-channel images (kernel not flipped, as PyTorch and ONNX).
 * input [N, C, H, W] or [C, H, W] (NHWC: [N, H, W, C] or [H, W, C]); weight [Cout, C/groups, KH, KW]
 * (HWIO: [KH, KW, C/groups, Cout]). Returns [N, Cout, OH, OW] with the input's rank and layout.
 * Blocks the calling thread; see conv2d for the asynchronous form.
 */
export function conv2dSync(input: DeviceTensor, weight: Tensor, options?: Conv2dOptions): DeviceTensor;
export function conv2dSync(input: Tensor, weight: Tensor, options?: Conv2dOptions): ConvOutput;
export function conv2dSync(input: Tensor | DeviceTensor, weight: Tensor, options?: Conv2dOptions): ConvOutput | DeviceTensor;
export function conv2dSync(input: Tensor | DeviceTensor, weight: Tensor, options?: Conv2dOptions): ConvOutput | DeviceTensor {
  return callSync(readArgs(input, weight, options));
}

function callSync(args: CallArgs): ConvOutput | DeviceTensor {
  const device = route(syncDesc, syncLast, args);
  const { weight: w, opts } = args;
  if (args.input instanceof DeviceTensor) {
    syncLast[0] = NaN;
    const h = runDevice(syncDesc, args.input.handle('input'), w.data, opts.bias);
    return new DeviceTensor(h, dstShapeOf(syncDesc));
  }
  const data = runSync(syncDesc, syncLast, args.input.data, w.data, opts.bias, opts.out);
  return { data, shape: dstShapeOf(syncDesc), device, algorithm: algorithmOf(syncDesc) };
}

/**
 * As conv2dSync, computed on the libuv thread pool: the event loop is never blocked. Rejects with the
 * same errors conv2dSync throws. Input, weight and bias are copied when the call starts, so changing
 * or transferring them afterwards does not affect the result; `options.out` is written when the call
 * completes (detaching it meanwhile rejects with ERR_CHANNELCONV_INVALID_TYPE).
 */
export function conv2d(input: DeviceTensor, weight: Tensor, options?: Conv2dOptions): Promise<DeviceTensor>;
export function conv2d(input: Tensor, weight: Tensor, options?: Conv2dOptions): Promise<ConvOutput>;
export function conv2d(input: Tensor | DeviceTensor, weight: Tensor, options?: Conv2dOptions): Promise<ConvOutput | DeviceTensor>;
export async function conv2d(input: Tensor | DeviceTensor, weight: Tensor, options?: Conv2dOptions): Promise<ConvOutput | DeviceTensor> {
  return callAsync(readArgs(input, weight, options));
}

async function callAsync(args: CallArgs): Promise<ConvOutput | DeviceTensor> {
  const desc = new Float64Array(DESC_LEN);
  const device = route(desc, null, args);
  const { weight: w, opts } = args;
  plan(desc); // the output shape (a repeated request is served from the native plan cache)
  const shape = dstShapeOf(desc);
  if (args.input instanceof DeviceTensor) {
    const h = await native().runAsync(desc, args.input.handle('input'), w.data, opts.bias, null);
    return new DeviceTensor(h as never, shape);
  }
  const data = await runAsync(desc, args.input.data, w.data, opts.bias, opts.out);
  return { data, shape, device, algorithm: algorithmOf(desc) };
}

/**
 * Cost of a convolution without running it: output shape, multiply-adds, FLOPs (2 per multiply-add),
 * the workspace a call allocates and the algorithm it would run.
 */
export function convCost(inputShape: number[], weightShape: number[], options?: Conv2dOptions): ConvCost {
  return cost(inputShape, weightShape, options, 'conv');
}

function cost(inputShape: unknown, weightShape: unknown, options: unknown, op: CallArgs['op']): ConvCost {
  const inShape = readShape(inputShape, 'inputShape', [3, 4]);
  const wShape = readShape(weightShape, 'weightShape', [4]);
  const opts = op === 'transpose' ? normalizeOptions(options, transposeOptions, true) : normalizeOptions(options);
  const desc = writeRequest(new Float64Array(DESC_LEN), request(op, inShape, wShape, opts, 'cpu'));
  plan(desc);
  return costOf(desc);
}

/**
 * 2-D transposed convolution (PyTorch conv_transpose2d, ONNX ConvTranspose; the input gradient of
 * conv2d with the same geometry). input [N, Cin, H, W] (NHWC: [N, H, W, Cin]; rank 3 without N);
 * weight [Cin, Cout/groups, KH, KW] ('IOHW'; 'HWOI': [KH, KW, Cout/groups, Cin]). Returns
 * [N, Cout, OH, OW] with OH = (H - 1)·stride - (top + bottom) + dilation·(KH - 1) + outputPadding + 1
 * ('same': OH = H·stride). Bias and relu are applied in the kernel. Blocks the calling thread; see
 * conv2dTranspose for the asynchronous form.
 */
export function conv2dTransposeSync(input: DeviceTensor, weight: Tensor, options?: Conv2dTransposeOptions): DeviceTensor;
export function conv2dTransposeSync(input: Tensor, weight: Tensor, options?: Conv2dTransposeOptions): ConvOutput;
export function conv2dTransposeSync(input: Tensor | DeviceTensor, weight: Tensor, options?: Conv2dTransposeOptions): ConvOutput | DeviceTensor;
export function conv2dTransposeSync(input: Tensor | DeviceTensor, weight: Tensor, options?: Conv2dTransposeOptions): ConvOutput | DeviceTensor {
  return callSync(readArgs(input, weight, options, 'transpose'));
}

/** As conv2dTransposeSync, on the libuv thread pool (inputs copied when the call starts, as conv2d). */
export function conv2dTranspose(input: DeviceTensor, weight: Tensor, options?: Conv2dTransposeOptions): Promise<DeviceTensor>;
export function conv2dTranspose(input: Tensor, weight: Tensor, options?: Conv2dTransposeOptions): Promise<ConvOutput>;
export function conv2dTranspose(input: Tensor | DeviceTensor, weight: Tensor, options?: Conv2dTransposeOptions): Promise<ConvOutput | DeviceTensor>;
export async function conv2dTranspose(input: Tensor | DeviceTensor, weight: Tensor, options?: Conv2dTransposeOptions): Promise<ConvOutput | DeviceTensor> {
  return callAsync(readArgs(input, weight, options, 'transpose'));
}

/** Cost of a transposed convolution without running it (as convCost). */
export function convTransposeCost(inputShape: number[], weightShape: number[], options?: Conv2dTransposeOptions): ConvCost {
  return cost(inputShape, weightShape, options, 'transpose');
}

/** A ConvCost from a planned descriptor. */
export function costOf(desc: NativeDesc): ConvCost {
  const p = planOf(desc);
  return {
    outputShape: p.outputShape, macs: p.macs, flops: 2 * p.macs, workspaceBytes: p.workspaceBytes, padding: p.padding,
    algorithm: algorithmOf(desc), packedBytes: p.packedBytes,
  };
}
