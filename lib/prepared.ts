// Prepared layers: createConv2d copies the weight once (packing it for the algorithms that pack, on
// first use); run / runSync then convolve any input whose channels match, and backward /
// backwardSync give the gradients, through the same call paths as conv2d and conv2dBackward with the
// layer in place of the weight.
import type { NativeDesc, NativeLayer } from '../binding';
import { newLastRequest, plan, runAsync, runSync, algorithmOf } from './call';
import { gradients, gradientsAsync, newDescs, readActivation, type Conv2dGradients } from './backward';
import { costOf, type ConvCost } from './conv';
import { DESC_LEN, dstShapeOf, writeRequest, type Request } from './desc';
import { codes, plainError, rangeError } from './errors';
import { native } from './native';
import { knownOptions, needsOf, normalizeOptions, type Conv2dOptions, type Gradient } from './options';
import { readShape, readTensor, type Tensor } from './tensor';

/** createConv2d's options: conv2d's, less `out` (each call returns a new output). */
export type Conv2dLayerOptions = Omit<Conv2dOptions, 'out'>;

/** A prepared layer's result: the output, and the algorithm that computed it. */
export interface LayerOutput extends Tensor {
  algorithm: string;
}

export interface Conv2dLayer {
  /** As conv2d(input, weight, options), on the libuv pool. */
  run(input: Tensor): Promise<LayerOutput>;
  /** As conv2dSync(input, weight, options). */
  runSync(input: Tensor): LayerOutput;
  /**
   * As conv2dBackwardSync(input, weight, gradOutput, { ...options, needs }) with the layer's weight
   * and geometry (options.algorithm applies to the forward pass only: the backward parts take
   * 'auto'). The layer's bias and relu do not enter: mask gradOutput by output > 0 for relu. The
   * input gradient reuses the layer's weights, packed once for it.
   */
  backwardSync(input: Tensor, gradOutput: Tensor, needs?: Gradient[]): Conv2dGradients;
  /** As backwardSync, on the libuv pool (as conv2dBackward). */
  backward(input: Tensor, gradOutput: Tensor, needs?: Gradient[]): Promise<Conv2dGradients>;
  /** As convCost(inputShape, weight.shape, options); workspaceBytes excludes the packed weight. */
  cost(inputShape: number[]): ConvCost;
  /** Frees the packed weight now (runs in flight finish first); later calls throw ERR_CHANNELCONV_DISPOSED. */
  dispose(): void;
  readonly disposed: boolean;
  /** Native memory the layer holds: the weight copy, the bias and the panels packed so far. */
  readonly bytes: number;
}

const layerOptions = knownOptions.filter((k) => k !== 'out');

function disposedError(): Error {
  return plainError(codes.DISPOSED, 'this prepared convolution was disposed; create a new one with createConv2d');
}

/**
 * Prepares a convolution layer: copies `weight` (and options.bias) once; the algorithms that pack
 * their weights pack them on the first call that needs them. Later changes to weight.data do not
 * affect the layer. Errors as conv2dSync's. The native memory is freed by dispose(), or when the
 * layer is garbage-collected.
 */
export function createConv2d(weight: Tensor, options?: Conv2dLayerOptions): Conv2dLayer {
  weight = readTensor(weight, 'weight', [4]);
  const opts = normalizeOptions(options, layerOptions);
  if (opts.device === 'cuda') {
    throw rangeError(codes.INVALID_OPTION, "options.device 'cuda' is not supported by createConv2d: prepared layers run on the CPU");
  }
  const g = opts.geometry;
  const w = weight.shape.slice();
  const hwio = g.weightLayout === 'HWIO';
  const [kh, kw, cg] = hwio ? [w[0], w[1], w[2]] : [w[2], w[3], w[1]];
  // Any input with the layer's channels validates the weight side: one the kernel just covers.
  const eh = (kh - 1) * g.dilation[0] + 1, ew = (kw - 1) * g.dilation[1] + 1, c = cg * g.groups;
  const requestFor = (inputShape: readonly number[]): Request => ({
    op: 'conv', direction: 'forward', inputShape, weightShape: w, geometry: g, bias: opts.bias !== null,
    activation: opts.activation, precision: opts.precision, device: 'cpu', threads: opts.threads,
    algorithm: opts.algorithm,
  });
  const probe = g.layout === 'NHWC' ? [1, eh, ew, c] : [1, c, eh, ew];
  const handle: NativeLayer = new (native().Layer)(weight.data, opts.bias, writeRequest(new Float64Array(DESC_LEN), requestFor(probe)));
  const syncDesc = new Float64Array(DESC_LEN);
  const syncLast = newLastRequest();
  let disposed = false;

  // The backward parts: the layer's geometry and run options, algorithm 'auto'.
  const bwdOpts = { ...opts, algorithm: -1 };
  const bwdDescs = newDescs();
  const bwdLasts = { backward_data: newLastRequest(), backward_weights: newLastRequest() };
  const backwardArgs = (input: unknown, gradOutput: unknown, needs: unknown) => {
    if (disposed) throw disposedError();
    const x = readActivation(input, 'input', false), dy = readActivation(gradOutput, 'gradOutput', false);
    return { input: x, gradOutput: dy, opts: bwdOpts, needs: needsOf(needs, 'needs') };
  };
  const layerWeight = { shape: w, data: handle };

  const describe = (input: unknown, d: NativeDesc): Tensor => {
    if (disposed) throw disposedError();
    const t = readTensor(input, 'input', [3, 4]);
    writeRequest(d, requestFor(t.shape));
    return t;
  };

  return {
    runSync(input: Tensor): LayerOutput {
      const x = describe(input, syncDesc);
      const data = runSync(syncDesc, syncLast, x.data, handle, null, null);
      return { data, shape: dstShapeOf(syncDesc), algorithm: algorithmOf(syncDesc) };
    },
    async run(input: Tensor): Promise<LayerOutput> {
      const d = new Float64Array(DESC_LEN);
      const x = describe(input, d);
      plan(d, null, handle);
      const shape = dstShapeOf(d), algorithm = algorithmOf(d);
      return { data: await runAsync(d, x.data, handle, null, null), shape, algorithm };
    },
    backwardSync(input: Tensor, gradOutput: Tensor, needs?: Gradient[]): Conv2dGradients {
      const a = backwardArgs(input, gradOutput, needs);
      return gradients(a, layerWeight, bwdDescs, bwdLasts) as Conv2dGradients;
    },
    async backward(input: Tensor, gradOutput: Tensor, needs?: Gradient[]): Promise<Conv2dGradients> {
      const a = backwardArgs(input, gradOutput, needs);
      return (await gradientsAsync(a, layerWeight)) as Conv2dGradients;
    },
    cost(inputShape: number[]): ConvCost {
      if (disposed) throw disposedError();
      const d = writeRequest(new Float64Array(DESC_LEN), requestFor(readShape(inputShape, 'inputShape', [3, 4])));
      plan(d, null, handle);
      return costOf(d);
    },
    dispose(): void {
      disposed = true;
      handle.dispose();
    },
    get disposed() {
      return disposed;
    },
    get bytes() {
      return handle.bytes;
    },
  };
}
