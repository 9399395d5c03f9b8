// conv2d / conv2dSync / convCost: validation in TS, the arithmetic and the kernels in native code.
import type { NativePlan } from '../binding';
import { codes, plainError, rangeError } from './errors';
import { native } from './native';
import { normalizeOptions, type Conv2dOptions, type NormalizedOptions } from './options';
import { readShape, readTensor, type Tensor } from './tensor';

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

interface PreparedCall {
  input: Tensor;
  weight: Tensor;
  opts: NormalizedOptions;
  plan: NativePlan;
  out: Float32Array | null;
}

function deviceCheck(device: NormalizedOptions['device']): void {
  if (device !== 'cuda') return;
  const info = native().backendInfo();
  if (!info.cuda.available) {
    throw plainError(codes.NO_CUDA, `device 'cuda' requested but CUDA is not available: ${info.cuda.reason ?? 'unknown reason'}`);
  }
}

function allocateOutput(size: number): Float32Array {
  try {
    return new Float32Array(size);
  } catch (cause) { // V8's RangeError "Array buffer allocation failed"
    const err = plainError(codes.OUT_OF_MEMORY, `could not allocate ${4 * size} bytes for the output`);
    (err as Error & { cause?: unknown }).cause = cause;
    throw err;
  }
}

function prepare(inputArg: unknown, weightArg: unknown, options: unknown, allocate = true): PreparedCall {
  // Snapshots: every property is read once, so getters cannot change a value between check and use.
  const input = readTensor(inputArg, 'input', [3, 4]);
  const weight = readTensor(weightArg, 'weight', [4]);
  const opts = normalizeOptions(options);
  deviceCheck(opts.device);
  const plan = native().plan(input.shape, weight.shape, opts.params);
  const size = plan.outputShape.reduce((a, b) => a * b, 1);
  let out = opts.out;
  if (out === null) out = allocate ? allocateOutput(size) : null;
  else if (out.length !== size) {
    throw rangeError(
      codes.OUT_MISMATCH,
      `options.out has ${out.length} elements, expected ${size} for output shape [${plan.outputShape.join(', ')}]`,
    );
  }
  return { input, weight, opts, plan, out };
}

/**
 * 2-D cross-correlation of a batch of multi-channel images (kernel not flipped, as PyTorch and ONNX).
 * input [N, C, H, W] or [C, H, W] (NHWC: [N, H, W, C] or [H, W, C]); weight [Cout, C/groups, KH, KW]
 * (HWIO: [KH, KW, C/groups, Cout]). Returns [N, Cout, OH, OW] with the input's rank and layout.
 * Blocks the calling thread; see conv2d for the asynchronous form.
 */
export function conv2dSync(input: Tensor, weight: Tensor, options?: Conv2dOptions): Tensor {
  const c = prepare(input, weight, options);
  const out = c.out as Float32Array;
  native().conv2dSync(c.input.data, c.input.shape, c.weight.data, c.weight.shape, c.opts.bias, c.opts.params, out);
  return { data: out, shape: c.plan.outputShape };
}

/**
 * As conv2dSync, computed on the libuv thread pool: the event loop is never blocked. Rejects with the
 * same errors conv2dSync throws. Input, weight and bias are copied when the call starts, so changing or
 * transferring them afterwards does not affect the result; `options.out` is written when the call
 * completes (detaching it meanwhile rejects with ERR_CHANNELCONV_INVALID_TYPE).
 */
export async function conv2d(input: Tensor, weight: Tensor, options?: Conv2dOptions): Promise<Tensor> {
  const c = prepare(input, weight, options, false);
  const data = await native().conv2dAsync(c.input.data, c.input.shape, c.weight.data, c.weight.shape, c.opts.bias, c.opts.params, c.out);
  return { data, shape: c.plan.outputShape };
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
