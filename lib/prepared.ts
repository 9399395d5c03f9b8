// Prepared layers: createConv2d packs a weight once for the kernel set in use; run / runSync then
// convolve any input whose channels match, without re-validating or re-packing the weight.
import type { NativePreparedConv } from '../binding';
import type { ConvCost } from './conv';
import { boundsOf, DESC_LEN, outputShapeOf, planOf, writeDesc } from './desc';
import { codes, plainError, rangeError } from './errors';
import { native } from './native';
import { newOutput, UNINIT_MIN_ELEMS } from './output';
import { knownOptions, normalizeOptions, type Conv2dOptions, type NormalizedOptions } from './options';
import { readShape, readTensor, type Tensor } from './tensor';

/** createConv2d's options: conv2d's, less `out` (each call returns a new output). */
export type Conv2dLayerOptions = Omit<Conv2dOptions, 'out'>;

export interface Conv2dLayer {
  /** As conv2d(input, weight, options), on the libuv pool. */
  run(input: Tensor): Promise<Tensor>;
  /** As conv2dSync(input, weight, options). */
  runSync(input: Tensor): Tensor;
  /** As convCost(inputShape, weight.shape, options); workspaceBytes excludes the packed weight. */
  cost(inputShape: number[]): ConvCost;
  /** Frees the packed weight now (runs in flight finish first); later calls throw ERR_CHANNELCONV_DISPOSED. */
  dispose(): void;
  readonly disposed: boolean;
  /** Native memory the layer holds: the weight copy, its packed panels and the bias. */
  readonly bytes: number;
}

const layerOptions = knownOptions.filter((k) => k !== 'out');

function disposedError(): Error {
  return plainError(codes.DISPOSED, 'this prepared convolution was disposed; create a new one with createConv2d');
}

/**
 * Prepares a convolution layer: copies `weight` (and options.bias) and packs it once for the CPU
 * kernels. Later changes to weight.data do not affect the layer. Errors as conv2dSync's.
 * The native memory is freed by dispose(), or when the layer is garbage-collected.
 */
export function createConv2d(weight: Tensor, options?: Conv2dLayerOptions): Conv2dLayer {
  weight = readTensor(weight, 'weight', [4]);
  const opts: NormalizedOptions = normalizeOptions(options, layerOptions);
  if (opts.device === 'cuda') {
    throw rangeError(codes.INVALID_OPTION, "options.device 'cuda' is not supported by createConv2d: prepared layers run on the CPU");
  }
  const p = opts.params;
  const w = weight.shape;
  const hwio = p.weightLayout === 'HWIO';
  const [kh, kw, cg] = hwio ? [w[0], w[1], w[2]] : [w[2], w[3], w[1]];
  // Any input with the layer's channels validates the weight side: one the kernel just covers.
  const eh = (kh - 1) * p.dilation[0] + 1, ew = (kw - 1) * p.dilation[1] + 1, c = cg * p.groups;
  const probe = p.layout === 'NHWC' ? [1, eh, ew, c] : [1, c, eh, ew];
  const wshape = w.slice();
  const nb = native();
  const handle: NativePreparedConv = new nb.PreparedConv(weight.data, opts.bias, writeDesc(new Float64Array(DESC_LEN), probe, wshape, p));
  const syncDesc = new Float64Array(DESC_LEN);
  let disposed = false;

  // For a big output, plans first (microseconds against milliseconds) and allocates it here: cheap
  // (see output.ts), and an ERR_CHANNELCONV_OUT_OF_MEMORY error when it fails. Otherwise null: the
  // native side allocates it.
  const bigOutput = (input: Tensor, d: Float64Array): Float32Array | null => {
    if (boundsOf(input.shape, wshape, p)[1] < UNINIT_MIN_ELEMS) return null;
    nb.planPacked(d, true);
    return newOutput(outputShapeOf(d).reduce((a, b) => a * b, 1));
  };

  return {
    runSync(input: Tensor): Tensor {
      if (disposed) throw disposedError();
      input = readTensor(input, 'input', [3, 4]);
      writeDesc(syncDesc, input.shape, wshape, p);
      const data = handle.runSync(input.data, bigOutput(input, syncDesc), syncDesc);
      return { data, shape: outputShapeOf(syncDesc) };
    },
    async run(input: Tensor): Promise<Tensor> {
      if (disposed) throw disposedError();
      input = readTensor(input, 'input', [3, 4]);
      const d = writeDesc(new Float64Array(DESC_LEN), input.shape, wshape, p);
      // A private copy: the pool thread reads it, and user code cannot change or transfer it meanwhile.
      const pending = handle.runAsync(input.data.slice(), bigOutput(input, d), d);  // plans into d synchronously
      const shape = outputShapeOf(d);
      return { data: await pending, shape };
    },
    cost(inputShape: number[]): ConvCost {
      if (disposed) throw disposedError();
      inputShape = readShape(inputShape, 'inputShape', [3, 4]);
      const d = writeDesc(new Float64Array(DESC_LEN), inputShape, wshape, p);
      nb.planPacked(d, true);
      const plan = planOf(d);
      return { ...plan, flops: 2 * plan.macs };
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
