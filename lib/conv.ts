// conv2d / conv2dSync / convCost: validation in TS, the arithmetic and the kernels in native code.
import type { NativePlan } from '../binding';
import { DESC_LEN, outputShapeOf, writeDesc } from './desc';
import { codes, plainError, rangeError } from './errors';
import { native } from './native';
import { normalizeOptions, type Conv2dOptions, type NormalizedOptions } from './options';
import { checkShape, checkTensor, type Tensor } from './tensor';

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
  input: Tensor;
  weight: Tensor;
  opts: NormalizedOptions;
  plan: NativePlan;
  out: Float32Array;
}

function deviceCheck(device: NormalizedOptions['device']): void {
  if (device !== 'cuda') return;
  const info = native().backendInfo();
  if (!info.cuda.available) {
    throw plainError(codes.NO_CUDA, `device 'cuda' requested but CUDA is not available: ${info.cuda.reason ?? 'unknown reason'}`);
  }
}

function prepare(input: unknown, weight: unknown, options: unknown): PreparedCall {
  checkTensor(input, 'input', [3, 4]);
  checkTensor(weight, 'weight', [4]);
  const opts = normalizeOptions(options);
  deviceCheck(opts.device);
  const plan = native().plan(input.shape, weight.shape, opts.params);
  const size = plan.outputShape.reduce((a, b) => a * b, 1);
  let out = opts.out;
  if (out === null) out = new Float32Array(size);
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
  checkTensor(input, 'input', [3, 4]);
  checkTensor(weight, 'weight', [4]);
  const opts = normalizeOptions(options);
  if (opts.device !== 'cuda') {
    // CPU: one native call plans, checks and runs (S6-sized calls are dominated by N-API crossings).
    writeDesc(syncDesc, input.shape, weight.shape, opts.params);
    const data = native().conv2dSyncPacked(input.data, weight.data, opts.bias, opts.out, syncDesc);
    return { data, shape: outputShapeOf(syncDesc) };
  }
  const c = prepare(input, weight, options);
  native().conv2dSync(c.input.data, c.input.shape, c.weight.data, c.weight.shape, c.opts.bias, c.opts.params, c.out);
  return { data: c.out, shape: c.plan.outputShape };
}

/**
 * As conv2dSync, computed on the libuv thread pool: the event loop is never blocked. Rejects with the
 * same errors conv2dSync throws. The input, weight, bias and out arrays must not be modified (or
 * transferred) until the promise settles; the result is then unspecified, but the process is safe.
 */
export async function conv2d(input: Tensor, weight: Tensor, options?: Conv2dOptions): Promise<Tensor> {
  const c = prepare(input, weight, options);
  await native().conv2dAsync(c.input.data, c.input.shape, c.weight.data, c.weight.shape, c.opts.bias, c.opts.params, c.out);
  return { data: c.out, shape: c.plan.outputShape };
}

/**
 * Cost of a convolution without running it: output shape, multiply-adds, FLOPs (2 per multiply-add)
 * and the workspace a call allocates.
 */
export function convCost(inputShape: number[], weightShape: number[], options?: Conv2dOptions): ConvCost {
  checkShape(inputShape, 'inputShape', [3, 4]);
  checkShape(weightShape, 'weightShape', [4]);
  const opts = normalizeOptions(options);
  const plan = native().plan(inputShape, weightShape, opts.params);
  return {
    outputShape: plan.outputShape,
    macs: plan.macs,
    flops: 2 * plan.macs,
    workspaceBytes: plan.workspaceBytes,
    padding: plan.padding,
  };
}
