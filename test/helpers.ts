// Test helpers: a float64 reference convolution written from the definition (independent of the
// native code), seeded random data, and error measures.
import { spawnSync } from 'child_process';
import { codes, type Tensor } from '../lib/index';

/** Short names for the error codes the hostile tables use, and the class each code comes with. */
export const T = codes.INVALID_TYPE, SHAPE = codes.INVALID_SHAPE, OPT = codes.INVALID_OPTION,
  UNKNOWN = codes.UNKNOWN_OPTION, LARGE = codes.TOO_LARGE, CHAN = codes.CHANNEL_MISMATCH, GROUPS = codes.INVALID_GROUPS,
  OUT = codes.OUT_MISMATCH, ALIAS = codes.ALIAS, EMPTY = codes.EMPTY_OUTPUT;
export const classOf = (code: string): typeof TypeError | typeof RangeError | typeof Error =>
  code === T || code === UNKNOWN ? TypeError : code.endsWith('OUT_OF_MEMORY') || code.endsWith('NO_CUDA') || code.endsWith('DISPOSED') ? Error : RangeError;

let childNode: boolean | undefined;
/**
 * Whether this Node can start a child Node (process.execPath). False under qemu-user without
 * binfmt_misc (npm run test:arm64): the emulated Node's execPath is an arm64 binary the host kernel
 * cannot exec. Tests that need a child process are skipped there, and the skip is reported.
 */
export function canSpawnNode(): boolean {
  if (childNode === undefined) childNode = spawnSync(process.execPath, ['-e', '0'], { timeout: 60_000 }).status === 0;
  return childNode;
}

export interface RefOptions {
  stride?: [number, number];
  dilation?: [number, number];
  padding?: [number, number, number, number]; // top, bottom, left, right (resolved)
  groups?: number;
  bias?: Float32Array | null;
  layout?: 'NCHW' | 'NHWC';
  weightLayout?: 'OIHW' | 'HWIO';
}

/** Float64 reference: returns [N, K, OH, OW] (or NHWC) as a Float64Array, plus its shape (4-D). */
export function refConv(input: Tensor, weight: Tensor, o: RefOptions = {}): { data: Float64Array; shape: number[] } {
  const [sh, sw] = o.stride ?? [1, 1];
  const [dh, dw] = o.dilation ?? [1, 1];
  const [pt, pb, pl, pr] = o.padding ?? [0, 0, 0, 0];
  const groups = o.groups ?? 1;
  const nhwc = o.layout === 'NHWC';
  const hwio = o.weightLayout === 'HWIO';
  const s4 = input.shape.length === 3 ? [1, ...input.shape] : input.shape;
  const [N, C, H, W] = nhwc ? [s4[0], s4[3], s4[1], s4[2]] : s4;
  const ws = weight.shape;
  const [K, Cg, KH, KW] = hwio ? [ws[3], ws[2], ws[0], ws[1]] : ws;
  const OH = Math.floor((H + pt + pb - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + pl + pr - dw * (KW - 1) - 1) / sw) + 1;
  const x = (n: number, c: number, h: number, w: number) =>
    input.data[nhwc ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w];
  const wt = (k: number, c: number, h: number, w: number) =>
    weight.data[hwio ? ((h * KW + w) * Cg + c) * K + k : ((k * Cg + c) * KH + h) * KW + w];
  const out = new Float64Array(N * K * OH * OW);
  const Kg = K / groups;
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++) {
      const g = Math.floor(k / Kg);
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let acc = o.bias ? o.bias[k] : 0;
          for (let c = 0; c < Cg; c++)
            for (let i = 0; i < KH; i++) {
              const ih = oh * sh - pt + i * dh;
              if (ih < 0 || ih >= H) continue;
              for (let j = 0; j < KW; j++) {
                const iw = ow * sw - pl + j * dw;
                if (iw < 0 || iw >= W) continue;
                acc += x(n, g * Cg + c, ih, iw) * wt(k, c, i, j);
              }
            }
          out[nhwc ? ((n * OH + oh) * OW + ow) * K + k : ((n * K + k) * OH + oh) * OW + ow] = acc;
        }
    }
  return { data: out, shape: nhwc ? [N, OH, OW, K] : [N, K, OH, OW] };
}

/** max |a - b| / max(1, max |b|); NaN anywhere gives Infinity (the benchmarks' own measure). */
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const relError: (a: ArrayLike<number>, b: ArrayLike<number>) => number = require('../bench/lib.js').relError;

/** Small seeded PRNG (mulberry32); the seed is printed by each suite so failures can be replayed. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
    floats: (n: number) => {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = next() * 2 - 1;
      return a;
    },
  };
}

export function seedFromEnv(): number {
  const s = process.env.CHANNELCONV_SEED ? Number(process.env.CHANNELCONV_SEED) : (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
  return s;
}

/** SAME padding along one axis (TensorFlow SAME = ONNX SAME_UPPER unless lower). */
export function samePad(inp: number, k: number, stride: number, dil: number, lower: boolean): [number, number] {
  const out = Math.ceil(inp / stride);
  const total = Math.max((out - 1) * stride + dil * (k - 1) + 1 - inp, 0);
  const small = Math.floor(total / 2);
  return lower ? [total - small, small] : [small, total - small];
}

/**
 * Float64 gradients of y = conv(input, weight) (RefOptions geometry, no bias or activation) for an
 * upstream gradient gy of y's shape: gradInput (input's layout), gradWeight (weight's layout) and
 * gradBias, each accumulated from the definition: every term x * w of y contributes gy * w to x's
 * element and gy * x to w's.
 */
export function refGrads(input: Tensor, weight: Tensor, gy: Float32Array, o: RefOptions = {}) {
  const [sh, sw] = o.stride ?? [1, 1];
  const [dh, dw] = o.dilation ?? [1, 1];
  const [pt, pb, pl, pr] = o.padding ?? [0, 0, 0, 0];
  const groups = o.groups ?? 1;
  const nhwc = o.layout === 'NHWC';
  const hwio = o.weightLayout === 'HWIO';
  const s4 = input.shape.length === 3 ? [1, ...input.shape] : input.shape;
  const [N, C, H, W] = nhwc ? [s4[0], s4[3], s4[1], s4[2]] : s4;
  const ws = weight.shape;
  const [K, Cg, KH, KW] = hwio ? [ws[3], ws[2], ws[0], ws[1]] : ws;
  const OH = Math.floor((H + pt + pb - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + pl + pr - dw * (KW - 1) - 1) / sw) + 1;
  const xi = (n: number, c: number, h: number, w: number) => (nhwc ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w);
  const wi = (k: number, c: number, h: number, w: number) => (hwio ? ((h * KW + w) * Cg + c) * K + k : ((k * Cg + c) * KH + h) * KW + w);
  const yi = (n: number, k: number, h: number, w: number) => (nhwc ? ((n * OH + h) * OW + w) * K + k : ((n * K + k) * OH + h) * OW + w);
  const gradInput = new Float64Array(input.data.length);
  const gradWeight = new Float64Array(weight.data.length);
  const gradBias = new Float64Array(K);
  const Kg = K / groups;
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++) {
      const g = Math.floor(k / Kg);
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          const gv = gy[yi(n, k, oh, ow)];
          gradBias[k] += gv;
          for (let c = 0; c < Cg; c++)
            for (let i = 0; i < KH; i++) {
              const ih = oh * sh - pt + i * dh;
              if (ih < 0 || ih >= H) continue;
              for (let j = 0; j < KW; j++) {
                const iw = ow * sw - pl + j * dw;
                if (iw < 0 || iw >= W) continue;
                const x = xi(n, g * Cg + c, ih, iw), w = wi(k, c, i, j);
                gradInput[x] += gv * weight.data[w];
                gradWeight[w] += gv * input.data[x];
              }
            }
        }
    }
  return { gradInput, gradWeight, gradBias, outShape: nhwc ? [N, OH, OW, K] : [N, K, OH, OW] };
}

export interface RefTransposeOptions {
  stride?: [number, number];
  dilation?: [number, number];
  /** [top, bottom, left, right], removed from the full output. */
  padding?: [number, number, number, number];
  outputPadding?: [number, number];
  /** The output size when given (padding 'same': input x stride), else the full size formula's. */
  outputSize?: [number, number];
  groups?: number;
  bias?: Float32Array | null;
  relu?: boolean;
  layout?: 'NCHW' | 'NHWC';
  weightLayout?: 'IOHW' | 'HWOI';
}

/**
 * Float64 transposed convolution from PyTorch's definition of conv_transpose2d (independent of the
 * gradient form above): every input pixel scatters input * weight into the output, at
 * (ih·stride − top + kh·dilation, iw·stride − left + kw·dilation); weight IOHW [Cin, Cout/groups, KH, KW].
 */
export function refConvTranspose(input: Tensor, weight: Tensor, o: RefTransposeOptions = {}) {
  const [sh, sw] = o.stride ?? [1, 1];
  const [dh, dw] = o.dilation ?? [1, 1];
  const [pt, pb, pl, pr] = o.padding ?? [0, 0, 0, 0];
  const [oph, opw] = o.outputPadding ?? [0, 0];
  const groups = o.groups ?? 1;
  const nhwc = o.layout === 'NHWC';
  const hwoi = o.weightLayout === 'HWOI';
  const s4 = input.shape.length === 3 ? [1, ...input.shape] : input.shape;
  const [N, C, H, W] = nhwc ? [s4[0], s4[3], s4[1], s4[2]] : s4;
  const ws = weight.shape;
  const [, Og, KH, KW] = hwoi ? [ws[3], ws[2], ws[0], ws[1]] : ws;
  const O = Og * groups, Cg = C / groups;
  const OH = o.outputSize ? o.outputSize[0] : (H - 1) * sh - pt - pb + dh * (KH - 1) + oph + 1;
  const OW = o.outputSize ? o.outputSize[1] : (W - 1) * sw - pl - pr + dw * (KW - 1) + opw + 1;
  const out = new Float64Array(N * O * OH * OW);
  const oi = (n: number, c: number, h: number, w: number) => (nhwc ? ((n * OH + h) * OW + w) * O + c : ((n * O + c) * OH + h) * OW + w);
  const xv = (n: number, c: number, h: number, w: number) => input.data[nhwc ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w];
  const wv = (c: number, k: number, h: number, w: number) => weight.data[hwoi ? ((h * KW + w) * Og + k) * C + c : ((c * Og + k) * KH + h) * KW + w];
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const g = Math.floor(c / Cg);
      for (let ih = 0; ih < H; ih++)
        for (let iw = 0; iw < W; iw++) {
          const v = xv(n, c, ih, iw);
          for (let k = 0; k < Og; k++)
            for (let i = 0; i < KH; i++) {
              const oh = ih * sh - pt + i * dh;
              if (oh < 0 || oh >= OH) continue;
              for (let j = 0; j < KW; j++) {
                const ow = iw * sw - pl + j * dw;
                if (ow < 0 || ow >= OW) continue;
                out[oi(n, g * Og + k, oh, ow)] += v * wv(c, k, i, j);
              }
            }
        }
    }
  for (let n = 0; n < N; n++)
    for (let k = 0; k < O; k++)
      for (let h = 0; h < OH; h++)
        for (let w = 0; w < OW; w++) {
          const i = oi(n, k, h, w);
          let v = out[i] + (o.bias ? o.bias[k] : 0);
          if (o.relu && !(v > 0)) v = 0;
          out[i] = v;
        }
  const shape = nhwc ? [N, OH, OW, O] : [N, O, OH, OW];
  return { data: out, shape: input.shape.length === 3 ? shape.slice(1) : shape };
}
