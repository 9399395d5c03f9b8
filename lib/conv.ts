// conv2d / conv2dSync / convCost: validation in TS, the arithmetic and the kernels in native code.
import type { NativePlan } from '../binding';
import { boundsOf, DESC_LEN, outputShapeOf, writeDesc } from './desc';
import { AUTO_CUDA_MIN_MACS, autoPrefersCuda, defaultThreads, DeviceTensor, isDeviceTensor, requireCuda } from './device';
import { codes, rangeError, typeError } from './errors';
import { native } from './native';
import { newOutput, UNINIT_MIN_ELEMS } from './output';
import { normalizeOptions, type Conv2dOptions, type NormalizedOptions } from './options';
import { readShape, readTensor, type Tensor } from './tensor';

/** A conv2d result on the host, with the device that computed it. */
export interface ConvOutput extends Tensor {
  device: 'cpu' | 'cuda';
}

export interface ConvCost {
  /** Output shape, with the input's rank and layout. */
  outputShape: number[];
  /** Multiply-adds: N · Cout · (Cin/groups) · KH · KW · OH · OW. */
  macs: number;
  /** 2 · macs (a multiply-add counts as two floating-point operations). */
  flops: number;
  /** Scratch memory one call allocates, in bytes. */
  workspaceBytes: number;
  /** Padding actually applied, [top, bottom, left, right]. */
  padding: [number, number, number, number];
}

// Reused by every synchronous call (they cannot interleave); async calls never touch it.
const syncDesc = new Float64Array(DESC_LEN);

interface PreparedCall {
  input: Tensor | DeviceTensor;
  weight: Tensor;
  opts: NormalizedOptions;
  plan: NativePlan;
  out: Float32Array | null;
  device: 'cpu' | 'cuda';
}

// Where a call runs. DeviceTensor inputs always run on the GPU; 'auto' asks the cost model before
// it even probes CUDA, so small calls (and every 'cpu' call) never initialise it.
function chooseDevice(opts: NormalizedOptions, plan: NativePlan, input: Tensor | DeviceTensor, weight: Tensor): 'cpu' | 'cuda' {
  if (input instanceof DeviceTensor) {
    if (opts.device === 'cpu') {
      throw rangeError(codes.INVALID_OPTION, "options.device is 'cpu' but the input is a DeviceTensor; call toHost() first");
    }
    if (opts.params.layout !== 'NCHW') {
      throw rangeError(codes.INVALID_OPTION, "DeviceTensor inputs are NCHW: options.layout must be 'NCHW'");
    }
    if (opts.out !== null) throw rangeError(codes.INVALID_OPTION, 'options.out cannot be used with a DeviceTensor input');
    requireCuda('a DeviceTensor input');
    return 'cuda';
  }
  if (opts.device === 'cpu') return 'cpu';
  if (opts.device === 'cuda') {
    requireCuda("device 'cuda'");
    return 'cuda';
  }
  const outSize = plan.outputShape.reduce((a, b) => a * b, 1);
  const bytes = 4 * (input.data.length + weight.data.length + outSize);
  if (!autoPrefersCuda(plan.macs, bytes, opts.params.threads || defaultThreads())) return 'cpu';
  return native().cudaStatus().available ? 'cuda' : 'cpu';
}

interface CallArgs {
  input: Tensor | DeviceTensor;
  weight: Tensor;
  opts: NormalizedOptions;
}

// Snapshots: every property is read once, so getters cannot change a value between check and use.
function readArgs(inputArg: unknown, weightArg: unknown, options: unknown): CallArgs {
  let input: Tensor | DeviceTensor;
  if (isDeviceTensor(inputArg)) {
    readShape(inputArg.shape, 'input.shape', [3, 4]);
    inputArg.handle('input');
    input = inputArg;
  } else {
    input = readTensor(inputArg, 'input', [3, 4]);
  }
  return { input, weight: readTensor(weightArg, 'weight', [4]), opts: normalizeOptions(options) };
}

// Whether a call surely runs on the CPU without asking the cost model: device 'cpu', or 'auto' with
// at most AUTO_CUDA_MIN_MACS multiply-adds.
function surelyCpu(args: CallArgs): boolean {
  if (isDeviceTensor(args.input)) return false;
  if (args.opts.device === 'cpu') return true;
  return args.opts.device === 'auto' &&
    boundsOf(args.input.shape, args.weight.shape, args.opts.params)[0] < AUTO_CUDA_MIN_MACS;
}

// Plans the call and picks its device; a missing `out` stays null (each path allocates its own).
function prepare({ input, weight, opts }: CallArgs): PreparedCall {
  const plan = native().plan(input.shape, weight.shape, opts.params);
  const device = chooseDevice(opts, plan, input, weight);
  const size = plan.outputShape.reduce((a, b) => a * b, 1);
  let out = opts.out;
  if (input instanceof DeviceTensor) out = null;  // the output stays on the GPU
  else if (out !== null && out.length !== size) {
    throw rangeError(
      codes.OUT_MISMATCH,
      `options.out has ${out.length} elements, expected ${size} for output shape [${plan.outputShape.join(', ')}]`,
    );
  }
  return { input, weight, opts, plan, out, device };
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
  const args = readArgs(input, weight, options);
  if (surelyCpu(args)) return cpuSync(args);
  const c = prepare(args);
  if (c.device === 'cpu') return cpuSync(args);
  const cuda = { precision: c.opts.precision };
  if (c.input instanceof DeviceTensor) {
    const h = native().cudaConv2dSync(c.input.handle('input'), c.input.shape, c.weight.data, c.weight.shape,
      c.opts.bias, c.opts.params, null, cuda);
    return new DeviceTensor(h!, c.plan.outputShape);
  }
  const out = c.out ?? newOutput(c.plan.outputShape.reduce((a, b) => a * b, 1));
  native().cudaConv2dSync(c.input.data, c.input.shape, c.weight.data, c.weight.shape, c.opts.bias, c.opts.params, out, cuda);
  return { data: out, shape: c.plan.outputShape, device: c.device };
}

// The CPU path of conv2dSync: one native call plans, checks and runs (S6-sized calls are dominated
// by N-API crossings).
function cpuSync({ input, weight: w, opts }: CallArgs): ConvOutput {
  const x = input as Tensor;
  writeDesc(syncDesc, x.shape, w.shape, opts.params);
  let out = opts.out;
  if (out === null && boundsOf(x.shape, w.shape, opts.params)[1] >= UNINIT_MIN_ELEMS) {
    // A big output: plan first (microseconds against milliseconds) and allocate it here, uninitialised
    // (cheap), and as an ERR_CHANNELCONV_OUT_OF_MEMORY error when it fails: the native side's
    // allocation of a JS array cannot fail gracefully.
    native().planPacked(syncDesc);
    out = newOutput(outputShapeOf(syncDesc).reduce((a, b) => a * b, 1));
  }
  const data = native().conv2dSyncPacked(x.data, w.data, opts.bias, out, syncDesc);
  return { data, shape: outputShapeOf(syncDesc), device: 'cpu' };
}

/**
 * As conv2dSync, computed on the libuv thread pool: the event loop is never blocked. Rejects with the
 * same errors conv2dSync throws. On the CPU, input, weight and bias are copied when the call starts, so
 * changing or transferring them afterwards does not affect the result; `options.out` is written when
 * the call completes (detaching it meanwhile rejects with ERR_CHANNELCONV_INVALID_TYPE).
 */
export function conv2d(input: DeviceTensor, weight: Tensor, options?: Conv2dOptions): Promise<DeviceTensor>;
export function conv2d(input: Tensor, weight: Tensor, options?: Conv2dOptions): Promise<ConvOutput>;
export function conv2d(input: Tensor | DeviceTensor, weight: Tensor, options?: Conv2dOptions): Promise<ConvOutput | DeviceTensor>;
export async function conv2d(input: Tensor | DeviceTensor, weight: Tensor, options?: Conv2dOptions): Promise<ConvOutput | DeviceTensor> {
  const c = prepare(readArgs(input, weight, options));
  if (c.device === 'cpu') {
    const data = await native().conv2dAsync((c.input as Tensor).data, c.input.shape, c.weight.data, c.weight.shape,
      c.opts.bias, c.opts.params, c.out);
    return { data, shape: c.plan.outputShape, device: c.device };
  }
  // The pool thread reads and writes host memory while the GPU works: give it private copies, so
  // that user code changing or transferring the arrays meanwhile cannot touch freed memory.
  const cuda = { precision: c.opts.precision };
  const weightCopy = c.weight.data.slice();
  const biasCopy = c.opts.bias ? c.opts.bias.slice() : null;
  if (c.input instanceof DeviceTensor) {
    const h = await native().cudaConv2dAsync(c.input.handle('input'), c.input.shape, weightCopy, c.weight.shape,
      biasCopy, c.opts.params, null, cuda);
    return new DeviceTensor(h!, c.plan.outputShape);
  }
  const result = newOutput(c.plan.outputShape.reduce((a, b) => a * b, 1));
  await native().cudaConv2dAsync(c.input.data.slice(), c.input.shape, weightCopy, c.weight.shape, biasCopy,
    c.opts.params, result, cuda);
  if (c.out === null) return { data: result, shape: c.plan.outputShape, device: c.device };
  if (c.out.length !== result.length) {
    throw typeError('options.out', `a Float32Array of ${result.length} elements when the call completed (was it detached?)`, c.out);
  }
  c.out.set(result);
  return { data: c.out, shape: c.plan.outputShape, device: c.device };
}

/**
 * Cost of a convolution without running it: output shape, multiply-adds, FLOPs (2 per multiply-add)
 * and the workspace a call allocates.
 */
export function convCost(inputShape: number[], weightShape: number[], options?: Conv2dOptions): ConvCost {
  const inShape = readShape(inputShape, 'inputShape', [3, 4]);
  const wShape = readShape(weightShape, 'weightShape', [4]);
  const opts = normalizeOptions(options);
  const plan = native().plan(inShape, wShape, opts.params);
  return {
    outputShape: plan.outputShape,
    macs: plan.macs,
    flops: 2 * plan.macs,
    workspaceBytes: plan.workspaceBytes,
    padding: plan.padding,
  };
}
