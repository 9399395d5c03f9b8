// The LeNet example (examples/lenet, npm run train): compiled with tsc as `npm run train` compiles it
// (which also type-checks it), then loaded as Node loads it. The pieces against float64 definitions
// (pooling, loss, a dense layer as a 1x1 convolution), the whole network's gradient against finite
// differences, a short training run that must learn, the files it writes and a saved model reloaded
// to the same accuracy, reproducibility, the command line and the progress bar. No timings.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { createRequire } from 'module';
import * as os from 'os';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const root = path.join(__dirname, '..');
const build = path.join(root, 'examples', 'lenet', 'build');
const { PNG } = require('pngjs');

/* eslint-disable @typescript-eslint/no-explicit-any */
let data: any, layers: any, lenet: any, train: any, rngMod: any, progress: any;
let all: any;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'channelconv-lenet-'));
const seed = Number(process.env.LENET_TEST_SEED) || 1 + Math.floor(Math.random() * 1e6);

beforeAll(() => {
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'examples', 'lenet')],
    { cwd: root, encoding: 'utf8' });
  expect(r.stdout + r.stderr, 'tsc -p examples/lenet type-checks and compiles').toBe('');
  expect(r.status).toBe(0);
  data = require(path.join(build, 'data.js'));
  layers = require(path.join(build, 'layers.js'));
  lenet = require(path.join(build, 'lenet.js'));
  train = require(path.join(build, 'train.js'));
  rngMod = require(path.join(build, 'rng.js'));
  progress = require(path.join(build, 'progress.js'));
  all = data.loadMnist();
  console.log(`lenet tests: seed ${seed} (LENET_TEST_SEED=${seed} repeats this run)`);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const readPng = (file: string) => PNG.sync.read(fs.readFileSync(file));
const uniform = (n: number, s: number, scale = 1) => {
  const r = rngMod.rng(s);
  return Float32Array.from({ length: n }, () => scale * (2 * r() - 1));
};

describe('the digits', () => {
  it("loads the mnist package's 10,000 digits and splits them 8,000 / 2,000 by the seed", () => {
    expect(all.count).toBe(10000);
    expect(all.images.length).toBe(10000 * 784);
    let min = Infinity, max = -Infinity;
    for (const v of all.images) (min = Math.min(min, v)), (max = Math.max(max, v));
    expect([min, max]).toEqual([0, 1]);
    const counts = new Array(10).fill(0);
    for (const l of all.labels) counts[l]++;
    expect(counts.every((c) => c > 800)).toBe(true);

    const a = data.split(all, 7), b = data.split(all, 7), c = data.split(all, 8);
    expect([a.train.count, a.test.count]).toEqual([8000, 2000]);
    expect(Buffer.compare(Buffer.from(a.test.images.buffer), Buffer.from(b.test.images.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.test.images.buffer), Buffer.from(c.test.images.buffer))).not.toBe(0);
    // Disjoint: no test image is a training image (compared by content).
    const key = (imgs: Float32Array, i: number) => Buffer.from(imgs.buffer, imgs.byteOffset + i * 784 * 4, 784 * 4).toString('base64');
    const trainKeys = new Set(Array.from({ length: a.train.count }, (_, i) => key(a.train.images, i)));
    let shared = 0;
    for (let i = 0; i < a.test.count; i++) if (trainKeys.has(key(a.test.images, i))) shared++;
    expect(shared).toBeLessThan(5); // the package may hold a few identical images; never a shared index
    // A smaller split takes prefixes: its test digits are the full split's first ones.
    const small = data.split(all, 7, 300, 100);
    expect(Array.from(small.test.labels)).toEqual(Array.from(a.test.labels.subarray(0, 100)));
    expect(Array.from(small.train.labels)).toEqual(Array.from(a.train.labels.subarray(0, 300)));
    expect(() => data.split(all, 7, 8001, 2000)).toThrow(/at most 8000 training/);
  });
});

describe('the layers', () => {
  it('max pooling and its gradient follow their definitions', () => {
    const [n, c, h, w] = [2, 3, 6, 4];
    const x = { data: uniform(n * c * h * w, seed), shape: [n, c, h, w] };
    const out = new Float32Array(n * c * 3 * 2).fill(NaN), which = new Uint32Array(out.length);
    const y = layers.maxPool2(x, out, which);
    expect(y.shape).toEqual([n, c, 3, 2]);
    const dy = uniform(out.length, seed + 1);
    const dx = new Float32Array(x.data.length).fill(NaN);
    layers.maxPool2Backward(dy, which, x.shape, dx);
    const expectDx = new Float64Array(x.data.length);
    for (let p = 0; p < n * c; p++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 2; j++) {
          const idx = [0, 1, w, w + 1].map((d) => p * h * w + 2 * i * w + 2 * j + d);
          const best = idx.reduce((b, k) => (x.data[k] > x.data[b] ? k : b), idx[0]);
          expect(y.data[(p * 3 + i) * 2 + j]).toBe(x.data[best]);
          expectDx[best] = dy[(p * 3 + i) * 2 + j];
        }
    expect(Array.from(dx)).toEqual(Array.from(expectDx, Math.fround));
  });

  it('softmax cross-entropy: loss, correct count and gradient against float64 finite differences', () => {
    const n = 3, k = 10;
    const z = uniform(n * k, seed + 2, 4);
    const labels = Uint8Array.from([1, 7, 4]);
    const g = new Float32Array(n * k).fill(NaN);
    const r = layers.softmaxCrossEntropy(z, labels, k, g);
    const lossOf = (zz: Float64Array) => {
      let s = 0;
      for (let i = 0; i < n; i++) {
        const row = zz.subarray(i * k, (i + 1) * k);
        s += Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[labels[i]];
      }
      return s / n;
    };
    const z64 = Float64Array.from(z);
    expect(r.loss).toBeCloseTo(lossOf(z64), 6);
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(z.subarray(i * k, (i + 1) * k));
      if (row.indexOf(Math.max(...row)) === labels[i]) correct++;
    }
    expect(r.correct).toBe(correct);
    for (let i = 0; i < n * k; i++) {
      const h = 1e-6, p = Float64Array.from(z64), m = Float64Array.from(z64);
      p[i] += h;
      m[i] -= h;
      expect(g[i]).toBeCloseTo((lossOf(p) - lossOf(m)) / (2 * h), 6);
    }
  });

  it('a dense layer is a 1x1 convolution on [N, C, 1, 1]: channelconv forward and backward equal the matrix products', () => {
    const { Profile } = require(path.join(build, 'profile.js'));
    const [n, ci, co] = [5, 37, 11];
    const layer = new layers.ConvLayer({ name: 'd', kind: 'dense', inChannels: ci, outChannels: co, kernel: 1, padding: 0, relu: true }, 2, new Profile());
    layer.weight.data.set(uniform(co * ci, seed + 3));
    layer.bias.set(uniform(co, seed + 4));
    const x = { data: uniform(n * ci, seed + 5), shape: [n, ci, 1, 1] };
    const y = layer.forward(x);
    expect(y.shape).toEqual([n, co, 1, 1]);
    const W = layer.weight.data, b = layer.bias;
    const pre = new Float64Array(n * co);
    for (let s = 0; s < n; s++)
      for (let o = 0; o < co; o++) {
        let acc = b[o];
        for (let i = 0; i < ci; i++) acc += W[o * ci + i] * x.data[s * ci + i];
        pre[s * co + o] = acc;
        expect(y.data[s * co + o]).toBeCloseTo(Math.max(0, acc), 5);
      }
    expect(pre.some((v) => v < 0) && pre.some((v) => v > 0)).toBe(true); // the relu matters
    const dy = uniform(n * co, seed + 6);
    const masked = Float64Array.from(dy, (v, i) => (pre[i] > 0 ? v : 0));
    const dx = layer.backward(x, y, Float32Array.from(dy), true);
    for (let s = 0; s < n; s++)
      for (let i = 0; i < ci; i++) {
        let acc = 0;
        for (let o = 0; o < co; o++) acc += W[o * ci + i] * masked[s * co + o];
        expect(dx[s * ci + i]).toBeCloseTo(acc, 5);
      }
    for (let o = 0; o < co; o++) {
      let db = 0;
      for (let s = 0; s < n; s++) db += masked[s * co + o];
      expect(layer.gradBias[o]).toBeCloseTo(db, 5);
      for (let i = 0; i < ci; i++) {
        let dw = 0;
        for (let s = 0; s < n; s++) dw += masked[s * co + o] * x.data[s * ci + i];
        expect(layer.gradWeight[o * ci + i]).toBeCloseTo(dw, 5);
      }
    }
  });
});

describe('the whole network', () => {
  it("gradient check: every parameter tensor's gradient against float64 finite differences on 4 digits", () => {
    const { train: digits } = data.split(all, seed, 4, 1);
    const net = new lenet.LeNet(2).init(seed);
    // Biases away from 0: at exactly 0, conv1's bias sits on the relu's kink over the whole background.
    const r = rngMod.rng(seed + 7);
    for (const l of net.layers) for (let k = 0; k < l.bias.length; k++) l.bias[k] = 0.2 * (2 * r() - 1);
    const x = { data: digits.images, shape: [4, 1, 28, 28] };
    const loss = () => layers.softmaxCrossEntropy(net.forward(x).logits.data, digits.labels, 10, null).loss;
    const a = net.forward(x);
    const g = new Float32Array(40);
    layers.softmaxCrossEntropy(a.logits.data, digits.labels, 10, g);
    net.backward(a, g);
    const grads = net.grads().map((q: Float32Array) => Float64Array.from(q));
    const params: Float32Array[] = net.params();
    const names = net.layers.flatMap((l: any) => [`${l.spec.name}.weight`, `${l.spec.name}.bias`]);
    params.forEach((p, i) => {
      // Direction: the gradient's plus a random one, unit length. The loss is summed in float64 and the
      // analytic change is taken over the perturbation as stored in float32. Relu and pooling make the
      // loss piecewise smooth: of two step sizes, the better agreement counts.
      const norm = Math.hypot(...grads[i]) || 1;
      const d = Float64Array.from(grads[i], (v) => v / norm + (2 * r() - 1) * Math.sqrt(3 / p.length));
      const dn = Math.hypot(...d);
      const orig = Float32Array.from(p);
      const errors = [1e-4, 3e-4].map((eps) => {
        for (let k = 0; k < p.length; k++) p[k] = orig[k] + (eps * d[k]) / dn;
        const plus = Float32Array.from(p);
        const lp = loss();
        for (let k = 0; k < p.length; k++) p[k] = orig[k] - (eps * d[k]) / dn;
        let predicted = 0;
        for (let k = 0; k < p.length; k++) predicted += grads[i][k] * (plus[k] - p[k]);
        const lm = loss();
        p.set(orig);
        return Math.abs(lp - lm - predicted) / Math.abs(predicted);
      });
      expect(Math.min(...errors), `${names[i]}: relative error of the directional derivative`).toBeLessThan(0.05);
    });
  });

  it('a short run (1,000 digits, 1 epoch) drops the test loss to under a third and beats chance by far', () => {
    const r = train.train({ epochs: 1, batch: 16, threads: 2, outDir: path.join(tmp, 'short'), seed, lr: 2e-3, trainCount: 1000, testCount: 500 });
    const [first, last] = [r.history[0], r.history[1]];
    expect(first.testAccuracy).toBeLessThan(0.3);
    expect(last.testLoss).toBeLessThan(first.testLoss / 3);
    expect(last.testAccuracy).toBeGreaterThan(0.6); // chance: 0.1
    expect(last.trainLoss).toBeGreaterThan(0);
    // The epoch's time is split between channelconv's calls and the TypeScript parts.
    const t = r.times[0];
    expect(t.parts['conv forward']).toBeGreaterThan(0);
    expect(t.parts['dense backward']).toBeGreaterThan(0);
    expect(Object.values(t.parts as Record<string, number>).reduce((s, v) => s + v, 0)).toBeLessThanOrEqual(t.totalMs + 1e-6);
  });
});

describe('npm run train', () => {
  let run: any;
  const out = path.join(tmp, 'run');
  beforeAll(() => {
    run = train.train({ epochs: 2, batch: 32, threads: 2, outDir: out, seed, lr: 2e-3, trainCount: 600, testCount: 300 });
  });

  it('writes training.svg, filters.png, activations.png and model.json with the right sizes', () => {
    const svg = fs.readFileSync(run.files.training, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    // A point per epoch: test loss for 0..2, training loss for 1..2, test and training accuracy for 1..2.
    expect((svg.match(/<circle /g) || []).length).toBe(3 + 2 + 2 + 2);
    expect(svg).toContain(`${(100 * run.testAccuracy).toFixed(2)}% test accuracy after 2 epoch(s)`);

    // filters.png: conv2's rows of 6 slices of 35 px joined by 17 px, two per row, in the demo's grid.
    const f = readPng(run.files.filters);
    expect(f.width).toBe(2 * 12 + 2 * (6 * 35 + 5 * 17) + 10);
    expect(f.height).toBeGreaterThan(8 * 35 + 150);
    // Each filter's tile shows its weights with the demo's colour map: conv1's filter 0, tap (2, 2),
    // drawn 14x enlarged (70 px tiles) at the first panel.
    const { diverging } = require('../demo/panels.js');
    const w1 = run.net.layers[0].weight.data.subarray(0, 25);
    const scale = Math.max(...Array.from(w1 as Float32Array, Math.abs));
    const filters = lenet.LeNet.load(JSON.parse(fs.readFileSync(run.files.model, 'utf8')), 1);
    expect(Array.from(filters.layers[0].weight.data.subarray(0, 25))).toEqual(Array.from(w1));
    const colours = new Set<string>();
    for (let y = 0; y < f.height; y += 3) for (let x = 0; x < f.width; x += 3) colours.add(f.data.subarray((y * f.width + x) * 4, (y * f.width + x) * 4 + 3).join());
    expect(colours.has(diverging(w1[12] / scale).join())).toBe(true);
    expect(colours.size).toBeGreaterThan(200);

    const act = readPng(run.files.activations);
    expect(act.width).toBe(2 * 12 + 8 * 80 + 7 * 10);
    expect(act.height).toBeGreaterThan(1000);

    const model = JSON.parse(fs.readFileSync(run.files.model, 'utf8'));
    expect(model.format).toBe('channelconv-lenet/1');
    expect(model.seed).toBe(seed);
    expect(model.layers.map((l: any) => [l.name, l.weightShape, Buffer.from(l.weight, 'base64').length, Buffer.from(l.bias, 'base64').length])).toEqual([
      ['conv1', [6, 1, 5, 5], 4 * 150, 4 * 6], ['conv2', [16, 6, 5, 5], 4 * 2400, 4 * 16],
      ['dense1', [120, 400, 1, 1], 4 * 48000, 4 * 120], ['dense2', [84, 120, 1, 1], 4 * 10080, 4 * 84],
      ['dense3', [10, 84, 1, 1], 4 * 840, 4 * 10],
    ]);
    expect(model.training.history.length).toBe(3);
  });

  it('the saved model reloads to the same accuracy (--load)', () => {
    const r = train.evaluateFile(run.files.model, 2, 300);
    expect(r.accuracy).toBe(run.testAccuracy);
    const lines: string[] = [];
    expect(train.main(['--load', run.files.model, '--threads', '1'], (s: string) => lines.push(s), (s: string) => lines.push(s))).toBe(0);
    // The full test set of the model's split: 2,000 digits.
    expect(lines.join('\n')).toMatch(new RegExp(`test accuracy \\d+\\.\\d\\d% \\(loss [\\d.]+\\) on the 2000 test digits of seed ${seed}'s split`));
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ format: 'channelconv-lenet/1', seed: 1, layers: [] }));
    const errors: string[] = [];
    expect(train.main(['--load', bad], () => 0, (s: string) => errors.push(s))).toBe(1);
    expect(errors[0]).toMatch(/^train: not a channelconv-lenet\/1 model file/);
    expect(train.main(['--load', path.join(tmp, 'missing.json')], () => 0, (s: string) => errors.push(s))).toBe(1);
    expect(errors[1]).toMatch(/^train: cannot read the model/);
  });

  it('is reproducible for a seed and a thread count', () => {
    const again = train.train({ epochs: 2, batch: 32, threads: 2, outDir: path.join(tmp, 'again'), seed, lr: 2e-3, trainCount: 600, testCount: 300 });
    const a = JSON.parse(fs.readFileSync(run.files.model, 'utf8')), b = JSON.parse(fs.readFileSync(again.files.model, 'utf8'));
    expect(b.layers).toEqual(a.layers);
    expect(again.history).toEqual(run.history);
    const other = train.train({ epochs: 1, batch: 32, threads: 2, outDir: path.join(tmp, 'other'), seed: seed + 1, lr: 2e-3, trainCount: 600, testCount: 300 });
    expect(JSON.parse(fs.readFileSync(other.files.model, 'utf8')).layers[0].weight).not.toBe(a.layers[0].weight);
  });
});

describe('the command line and the progress bar', () => {
  it('parses its options and refuses bad ones', () => {
    const d = train.parseArgs([]);
    expect([d.epochs, d.batch, d.seed, d.outDir, d.load]).toEqual([10, 64, 1, 'lenet-out', null]);
    const o = train.parseArgs(['--epochs', '3', '--batch=16', '--threads', '1', '--out', 'x', '--seed', '9']);
    expect([o.epochs, o.batch, o.threads, o.outDir, o.seed]).toEqual([3, 16, 1, 'x', 9]);
    const errors: string[] = [];
    for (const bad of [['--epochs', '0'], ['--batch', 'x'], ['--bogus'], ['--threads']]) {
      expect(train.main(bad, () => 0, (s: string) => errors.push(s))).toBe(2);
    }
    expect(errors.map((e) => e.split('\n')[0])).toEqual([
      'train: --epochs wants an integer in 1..1000, got 0', 'train: --batch wants an integer in 1..8000, got x',
      'train: unknown option --bogus', 'train: --threads wants an integer in 1..1024, got nothing',
    ]);
    const help: string[] = [];
    expect(train.main(['--help'], (s: string) => help.push(s))).toBe(0);
    for (const flag of ['--epochs', '--batch', '--threads', '--out', '--seed', '--load']) expect(help[0]).toMatch(new RegExp(`^  ${flag} `, 'm'));
  });

  it('draws on a terminal at most 10 times a second and writes nothing elsewhere', () => {
    const writes: string[] = [];
    const tty = new progress.ProgressBar({ isTTY: true, columns: 200, write: (s: string) => writes.push(s) }, 'epoch 1/1', 1000);
    for (let i = 1; i <= 1000; i++) tty.update(i, 0.5);
    tty.end();
    expect(writes.length).toBeGreaterThanOrEqual(3); // the first, the last, the clearing
    expect(writes.length).toBeLessThan(50);
    expect(writes[0]).toMatch(/^\r\x1b\[Kepoch 1\/1 \[\.+\] 1\/1000 {2}loss 0\.5000 {2}\d+ digits\/s {2}ETA [\d.]+ s$/);
    expect(writes[writes.length - 2]).toMatch(/\[#{24}\] 1000\/1000/);
    expect(writes[writes.length - 1]).toBe('\r\x1b[K');
    const logged: string[] = [];
    const log = new progress.ProgressBar({ isTTY: false, write: (s: string) => logged.push(s) }, 'epoch 1/1', 1000);
    for (let i = 1; i <= 1000; i++) log.update(i, 0.5);
    log.end();
    expect(logged).toEqual([]);
  });

  it('is not part of the published package', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.files.some((f: string) => f.startsWith('examples'))).toBe(false);
    expect(pkg.scripts.train).toMatch(/examples\/lenet/);
    expect(pkg.devDependencies.mnist).toBeDefined();
  });
});
