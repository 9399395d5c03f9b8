// LeNet: conv 6@5×5 (padding 2) → relu → 2×2 max pool → conv 16@5×5 → relu → 2×2 max pool →
// dense 120 → relu → dense 84 → relu → dense 10, for 28×28 grey digits. The convolutions and the
// dense layers are channelconv calls (layers.ts); the dense layers are 1×1 convolutions on [N, C, 1, 1].
import type { Tensor } from 'channelconv';
import { CLASSES, SIDE } from './data';
import { ConvLayer, maxPool2, maxPool2Backward, type ConvSpec } from './layers';
import { Profile } from './profile';
import { rng, subSeed } from './rng';

export const ARCHITECTURE: readonly ConvSpec[] = [
  { name: 'conv1', kind: 'conv', inChannels: 1, outChannels: 6, kernel: 5, padding: 2, relu: true }, // [N,1,28,28] -> [N,6,28,28]
  { name: 'conv2', kind: 'conv', inChannels: 6, outChannels: 16, kernel: 5, padding: 0, relu: true }, // [N,6,14,14] -> [N,16,10,10]
  { name: 'dense1', kind: 'dense', inChannels: 16 * 5 * 5, outChannels: 120, kernel: 1, padding: 0, relu: true }, // [N,400,1,1] -> [N,120,1,1]
  { name: 'dense2', kind: 'dense', inChannels: 120, outChannels: 84, kernel: 1, padding: 0, relu: true },
  { name: 'dense3', kind: 'dense', inChannels: 84, outChannels: CLASSES, kernel: 1, padding: 0, relu: false }, // the logits
];

/** Every tensor of one forward pass, kept for the backward pass and for the pictures. */
export interface Activations {
  input: Tensor; // [N, 1, 28, 28]
  conv1: Tensor; // [N, 6, 28, 28], after the relu
  pool1: Tensor; // [N, 6, 14, 14]
  conv2: Tensor; // [N, 16, 10, 10]
  pool2: Tensor; // [N, 400, 1, 1]: [N, 16, 5, 5] read as 400 channels of one pixel (the same memory)
  dense1: Tensor; // [N, 120, 1, 1]
  dense2: Tensor; // [N, 84, 1, 1]
  logits: Tensor; // [N, 10, 1, 1]
}

/** The JSON file a trained model is saved to (model.json). */
export interface ModelFile {
  format: 'channelconv-lenet/1';
  /** The split's seed: the test set is the one this model never trained on. */
  seed: number;
  training: Record<string, unknown>;
  layers: { name: string; weightShape: number[]; padding: number; relu: boolean; weight: string; bias: string }[];
}

const FORMAT = 'channelconv-lenet/1';
// Float32 values as base64 of their little-endian bytes: exact, and a third of the size of decimals.
const encode = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function decode(s: unknown, length: number, what: string): Float32Array {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'base64') : null;
  if (!bytes || bytes.length !== 4 * length) throw new Error(`${what}: expected ${length} float32 values in base64`);
  const out = new Float32Array(length);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

interface PoolBuffers {
  pool1: Float32Array;
  which1: Uint32Array;
  pool2: Float32Array;
  which2: Uint32Array;
  grad1: Float32Array; // d loss / d conv1, [N, 6, 28, 28]
  grad2: Float32Array; // d loss / d conv2, [N, 16, 10, 10]
  gradLogits: Float32Array;
}

export class LeNet {
  readonly layers: ConvLayer[];
  /** Where the time goes, by part; the caller resets it. */
  readonly profile = new Profile();
  private readonly buffers = new Map<number, PoolBuffers>();

  constructor(readonly threads: number) {
    this.layers = ARCHITECTURE.map((spec) => new ConvLayer(spec, threads, this.profile));
  }

  /** Fresh weights from `seed`. */
  init(seed: number): this {
    const random = rng(subSeed(seed, 'weights'));
    this.layers.forEach((l, i) => l.init(random, i === this.layers.length - 1 ? 0.5 : 1));
    return this;
  }

  private buffersFor(n: number): PoolBuffers {
    let b = this.buffers.get(n);
    if (!b) {
      b = {
        pool1: new Float32Array(n * 6 * 14 * 14), which1: new Uint32Array(n * 6 * 14 * 14),
        pool2: new Float32Array(n * 400), which2: new Uint32Array(n * 400),
        grad1: new Float32Array(n * 6 * 28 * 28), grad2: new Float32Array(n * 16 * 10 * 10),
        gradLogits: new Float32Array(n * CLASSES),
      };
      this.buffers.set(n, b);
    }
    return b;
  }

  /** The forward pass of x [N, 1, 28, 28]; the tensors stay valid until the next pass with this N. */
  forward(x: Tensor): Activations {
    const [conv1, conv2, dense1, dense2, dense3] = this.layers;
    const n = x.shape[0];
    if (x.shape.length !== 4 || x.shape[1] !== 1 || x.shape[2] !== SIDE || x.shape[3] !== SIDE) {
      throw new Error(`LeNet takes [N, 1, ${SIDE}, ${SIDE}] digits, got [${x.shape.join(', ')}]`);
    }
    const b = this.buffersFor(n);
    const a1 = conv1.forward(x);
    const p1 = this.profile.time('pooling', () => maxPool2(a1, b.pool1, b.which1));
    const a2 = conv2.forward(p1);
    const p2 = this.profile.time('pooling', () => maxPool2(a2, b.pool2, b.which2));
    // Flattening is free: [N, 16, 5, 5] and [N, 400, 1, 1] are the same numbers in the same order.
    const flat = { data: p2.data, shape: [n, 400, 1, 1] };
    const d1 = dense1.forward(flat);
    const d2 = dense2.forward(d1);
    const logits = dense3.forward(d2);
    return { input: x, conv1: a1, pool1: p1, conv2: a2, pool2: flat, dense1: d1, dense2: d2, logits };
  }

  /**
   * The backward pass from d loss / d logits (overwritten): every layer's gradWeight and gradBias.
   * `a` is the forward pass of the same batch.
   */
  backward(a: Activations, gradLogits: Float32Array): void {
    const [conv1, conv2, dense1, dense2, dense3] = this.layers;
    const b = this.buffersFor(a.input.shape[0]);
    const g2 = dense3.backward(a.dense2, a.logits, gradLogits, true)!;
    const g1 = dense2.backward(a.dense1, a.dense2, g2, true)!;
    const gp2 = dense1.backward(a.pool2, a.dense1, g1, true)!;
    this.profile.time('pooling', () => maxPool2Backward(gp2, b.which2, a.conv2.shape, b.grad2));
    const gp1 = conv2.backward(a.pool1, a.conv2, b.grad2, true)!;
    this.profile.time('pooling', () => maxPool2Backward(gp1, b.which1, a.conv1.shape, b.grad1));
    conv1.backward(a.input, a.conv1, b.grad1, false); // the digits need no gradient
  }

  /** A buffer for d loss / d logits of a batch of n. */
  gradLogitsFor(n: number): Float32Array {
    return this.buffersFor(n).gradLogits;
  }

  /** The parameters, [weight, bias] per layer, in layer order (what the optimiser updates in place). */
  params(): Float32Array[] {
    return this.layers.flatMap((l) => [l.weight.data, l.bias]);
  }

  /** The gradients of the last backward pass, in the order of params(). */
  grads(): Float32Array[] {
    return this.layers.flatMap((l) => [l.gradWeight, l.gradBias]);
  }

  /** The model file: the split's seed, what the caller says about the training, every weight. */
  save(seed: number, training: Record<string, unknown>): ModelFile {
    return {
      format: FORMAT,
      seed,
      training,
      layers: this.layers.map((l) => ({
        name: l.spec.name, weightShape: l.weight.shape, padding: l.spec.padding, relu: l.spec.relu,
        weight: encode(l.weight.data), bias: encode(l.bias),
      })),
    };
  }

  /** A network with the weights of a model file (checked against this architecture). */
  static load(file: unknown, threads: number): LeNet {
    const f = file as Partial<ModelFile>;
    if (!f || f.format !== FORMAT || !Array.isArray(f.layers) || f.layers.length !== ARCHITECTURE.length) {
      throw new Error(`not a ${FORMAT} model file (written by npm run train)`);
    }
    const net = new LeNet(threads);
    net.layers.forEach((l, i) => {
      const saved = f.layers![i];
      const want = l.weight.shape;
      if (!saved || saved.name !== l.spec.name || !Array.isArray(saved.weightShape) || saved.weightShape.join() !== want.join()) {
        throw new Error(`model file: layer ${i} must be ${l.spec.name} with weight [${want.join(', ')}]`);
      }
      l.weight.data.set(decode(saved.weight, l.weight.data.length, `${l.spec.name}.weight`));
      l.bias.set(decode(saved.bias, l.bias.length, `${l.spec.name}.bias`));
    });
    return net;
  }
}
