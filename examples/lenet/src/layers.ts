// The layers of the network. Every convolution and every dense layer is a channelconv call, forward
// (conv2dSync with the bias and the relu fused) and backward (conv2dBackwardSync). Pooling, the relu's
// gradient and the loss are small TypeScript functions: they are not the product.
import { conv2dBackwardSync, conv2dSync, type Gradient, type Tensor } from 'channelconv';
import type { Part, Profile } from './profile';

export interface ConvSpec {
  name: string;
  /** weight [outChannels, inChannels, kernel, kernel] */
  inChannels: number;
  outChannels: number;
  kernel: number;
  padding: number;
  /** relu after the bias (fused into the convolution). */
  relu: boolean;
  /** 'dense': a 1×1 convolution on [N, C, 1, 1] (profiled apart from the convolutions). */
  kind: 'conv' | 'dense';
}

/**
 * A convolution layer: weight [Cout, Cin, K, K], bias [Cout], optionally relu. A dense layer is the
 * same layer with K = 1 applied to [N, C, 1, 1]: the lecture's 1×1 convolution, which at each pixel
 * (here the only one) multiplies the C inputs by a Cout × C matrix. So the dense layers of LeNet are
 * channelconv calls like the convolutions, forward and backward.
 */
export class ConvLayer {
  readonly weight: Tensor;
  readonly bias: Float32Array;
  /** d loss / d weight and d loss / d bias of the last backward call. */
  gradWeight: Float32Array;
  gradBias: Float32Array;
  private readonly outputs = new Map<number, Float32Array>(); // preallocated outputs, by batch size

  constructor(readonly spec: ConvSpec, readonly threads: number, private readonly profile: Profile) {
    const { inChannels: ci, outChannels: co, kernel: k } = spec;
    this.weight = { data: new Float32Array(co * ci * k * k), shape: [co, ci, k, k] };
    this.bias = new Float32Array(co);
    this.gradWeight = new Float32Array(this.weight.data.length);
    this.gradBias = new Float32Array(co);
  }

  /** He-uniform weights (the variance a relu network keeps from layer to layer), zero bias; `gain` 1/2 for the last layer. */
  init(random: () => number, gain = 1): void {
    const fanIn = this.spec.inChannels * this.spec.kernel * this.spec.kernel;
    const limit = Math.sqrt((6 * gain) / fanIn);
    for (let i = 0; i < this.weight.data.length; i++) this.weight.data[i] = (2 * random() - 1) * limit;
    this.bias.fill(0);
  }

  private part(direction: 'forward' | 'backward'): Part {
    return `${this.spec.kind} ${direction}`;
  }

  /** The output shape for `inputShape` [N, Cin, H, W]. */
  outputShape(inputShape: readonly number[]): number[] {
    const { kernel: k, padding: p, outChannels: co } = this.spec;
    return [inputShape[0], co, inputShape[2] + 2 * p - k + 1, inputShape[3] + 2 * p - k + 1];
  }

  /**
   * y = relu?(conv(x, weight) + bias): one conv2dSync call into a buffer kept for this batch size
   * (valid until the next forward call with the same batch size).
   */
  forward(x: Tensor): Tensor {
    const shape = this.outputShape(x.shape);
    const size = shape.reduce((a, b) => a * b, 1);
    let out = this.outputs.get(size);
    if (!out) this.outputs.set(size, (out = new Float32Array(size)));
    const { padding, relu } = this.spec;
    return this.profile.time(this.part('forward'), () =>
      conv2dSync(x, this.weight, { padding, bias: this.bias, activation: relu ? 'relu' : 'none', threads: this.threads, out }));
  }

  /**
   * Back through the layer: `x` and `y` are the forward call's input and output, `gradOutput` is
   * d loss / d y (overwritten: masked by y > 0 when the layer has a relu). Sets gradWeight and
   * gradBias; returns d loss / d x when `needInput` (the first layer does not need it).
   */
  backward(x: Tensor, y: Tensor, gradOutput: Float32Array, needInput: boolean): Float32Array | null {
    if (this.spec.relu) this.profile.time('relu + loss', () => reluBackward(gradOutput, y.data));
    const needs: Gradient[] = needInput ? ['input', 'weight', 'bias'] : ['weight', 'bias'];
    const g = this.profile.time(this.part('backward'), () =>
      conv2dBackwardSync(x, this.weight, { data: gradOutput, shape: y.shape }, { padding: this.spec.padding, threads: this.threads, needs }));
    this.gradWeight = g.gradWeight!.data;
    this.gradBias = g.gradBias!;
    return needInput ? g.gradInput!.data : null;
  }
}

/**
 * The relu's gradient, in place: g = g where y > 0, else 0 (y = relu(z), so y > 0 exactly where z > 0).
 * Written as a multiplication by 0 or 1: a branch on y > 0 is mispredicted at every other pixel of a
 * feature map (8x slower here).
 */
export function reluBackward(g: Float32Array, y: Float32Array): void {
  for (let i = 0; i < g.length; i++) g[i] *= +(y[i] > 0);
}

/**
 * 2×2 max pooling, stride 2: x [N, C, H, W] -> [N, C, H/2, W/2] (H, W even) into `out`; `which`
 * records the winner of each window for the backward pass: its index in x (the first in row-major
 * order on a tie). Without branches: max(a, b) = (a + b + |a - b|) / 2 (exact for float32 values
 * computed in float64) and the winner from 0/1 comparisons, since a branch per window is mispredicted
 * about half the time on a feature map (3.6x slower here).
 */
export function maxPool2(x: Tensor, out: Float32Array, which: Uint32Array): Tensor {
  const [n, c, h, w] = x.shape;
  const oh = h >> 1, ow = w >> 1;
  const src = x.data;
  let o = 0;
  for (let plane = 0; plane < n * c; plane++) {
    const base = plane * h * w;
    for (let i = 0; i < oh; i++) {
      const r0 = base + 2 * i * w;
      for (let j = 0; j < ow; j++, o++) {
        const a = r0 + 2 * j;
        const p = src[a], q = src[a + 1], r = src[a + w], s = src[a + w + 1];
        const top = 0.5 * (p + q + Math.abs(p - q)), bottom = 0.5 * (r + s + Math.abs(r - s));
        const lower = +(bottom > top); // 1: the window's bottom row wins
        out[o] = 0.5 * (top + bottom + Math.abs(top - bottom));
        which[o] = a + lower * (w + +(s > r)) + (1 - lower) * +(q > p);
      }
    }
  }
  return { data: out.subarray(0, o), shape: [n, c, oh, ow] };
}

/** Back through maxPool2: each window's gradient goes to its winner, the other three get 0. dx has x's shape. */
export function maxPool2Backward(dy: Float32Array, which: Uint32Array, xShape: readonly number[], dx: Float32Array): void {
  const [n, c, h, w] = xShape;
  dx.fill(0, 0, n * c * h * w);
  const windows = n * c * (h >> 1) * (w >> 1);
  for (let o = 0; o < windows; o++) dx[which[o]] = dy[o];
}

/**
 * Softmax cross-entropy of logits [N, classes] against labels: the mean loss (summed in float64) and
 * the number of correct argmax predictions; writes d mean loss / d logits = (softmax - onehot) / N to
 * `grad` when given.
 */
export function softmaxCrossEntropy(logits: Float32Array, labels: Uint8Array, classes: number,
  grad: Float32Array | null): { loss: number; correct: number } {
  const n = labels.length;
  let loss = 0, correct = 0;
  for (let s = 0; s < n; s++) {
    const z = logits.subarray(s * classes, (s + 1) * classes);
    let max = z[0], arg = 0;
    for (let k = 1; k < classes; k++) if (z[k] > max) (max = z[k]), (arg = k);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(z[k] - max);
    loss += Math.log(sum) + max - z[labels[s]];
    if (arg === labels[s]) correct++;
    if (grad) {
      for (let k = 0; k < classes; k++) grad[s * classes + k] = (Math.exp(z[k] - max) / sum - (k === labels[s] ? 1 : 0)) / n;
    }
  }
  return { loss: loss / n, correct };
}
