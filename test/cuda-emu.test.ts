// The GPU path of the binding, without a GPU: build/cuda-emu/channelconv.node is the addon built over
// the emulated CUDA runtime (native/cuda/tests/emu: the real kernel sources, each block's threads as
// CPU fibers). A device call goes the whole real way: descriptor (lib/desc.ts) -> plan_call ->
// check_arrays -> run_cuda -> the cc::cuda launcher -> the kernels, with host arrays and with device
// handles, sync and async; and once through the public API. The epilogue (bias, relu) must arrive:
// the old binding dropped relu on its way to the GPU (issue 11).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Binding, NativeDeviceHandle } from '../binding';
import { DESC_LEN, writeRequest, type Request } from '../lib/desc';
import { refConv, relError, rng, seedFromEnv } from './helpers';

const root = path.join(__dirname, '..');
const addon = path.join(root, 'build', 'cuda-emu', 'channelconv.node');
const haveEmu = fs.existsSync(path.join(root, 'native', 'cuda', 'tests', 'emu')) && process.platform !== 'win32';
const seed = seedFromEnv();
console.log(`cuda-emu.test seed ${seed} (replay with CHANNELCONV_SEED=${seed})`);
const r = rng(seed);

let b: Binding;
beforeAll(() => {
  if (!haveEmu) return;
  // Brings the emulated addon up to date (a no-op after `npm test`'s full build; about a minute of
  // compiling after `npm ci`, which builds the shipped addon only).
  execFileSync(path.join(root, 'node_modules', '.bin', 'cmake-js'), ['build', '--target', 'channelconv_cuda_emu', '--log-level', 'error'],
    { cwd: root, stdio: 'pipe' });
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  b = require(addon) as Binding;
}, 300_000);

interface Case {
  label: string;
  x: number[]; // NCHW, or NHWC when layout is NHWC
  w: number[]; // OIHW, or HWIO
  stride?: number;
  pad?: number;
  groups?: number;
  dilation?: number;
  layout?: 'NCHW' | 'NHWC';
}
// Each reaches another kernel of the launcher: the implicit GEMM, the depthwise direct kernel, the
// 1x1 dense GEMM; and the host-side NHWC / HWIO conversion.
const cases: Case[] = [
  { label: 'implicit GEMM', x: [2, 5, 13, 11], w: [6, 5, 3, 3], stride: 2, pad: 1 },
  { label: 'depthwise', x: [1, 8, 9, 9], w: [8, 1, 3, 3], pad: 1, groups: 8 },
  { label: 'pointwise', x: [3, 16, 7, 7], w: [32, 16, 1, 1] },
  { label: 'NHWC/HWIO, dilated', x: [2, 9, 8, 3], w: [3, 2, 3, 4], dilation: 2, layout: 'NHWC' },
];

function request(c: Case, precision: 'fp32' | 'tf32', relu: boolean): Request {
  const s = c.stride ?? 1, p = c.pad ?? 0, d = c.dilation ?? 1;
  const nhwc = c.layout === 'NHWC';
  return {
    op: 'conv', direction: 'forward', inputShape: c.x, weightShape: c.w,
    geometry: {
      stride: [s, s], dilation: [d, d], padMode: 'explicit', padding: [p, p, p, p], outputPadding: [0, 0],
      groups: c.groups ?? 1, layout: nhwc ? 'NHWC' : 'NCHW', weightLayout: nhwc ? 'HWIO' : 'OIHW',
    },
    bias: true, activation: relu ? 'relu' : 'none', precision, device: 'cuda', threads: 0, algorithm: -1,
  };
}

const size = (s: number[]) => s.reduce((a, v) => a * v, 1);
const poisoned = (n: number) => new Float32Array(n).fill(NaN);
const relu = (a: Float64Array) => a.map((v) => (v > 0 ? v : 0));

describe.skipIf(!haveEmu)('the CUDA binding path on the emulated GPU', () => {
  it('the emulated addon reports a CUDA device', () => {
    const s = b.cudaStatus();
    expect(s).toMatchObject({ compiled: true, available: true });
    expect(s.devices[0].name).toBe('CPU emulation');
  });

  for (const c of cases) {
    for (const precision of ['fp32', 'tf32'] as const) {
      it(`${c.label}, ${precision}: bias + relu reach the kernel (host arrays and device handles, run and runAsync)`, async () => {
        const nhwc = c.layout === 'NHWC';
        const x = { data: r.floats(size(c.x)), shape: c.x };
        const w = { data: r.floats(size(c.w)), shape: c.w };
        const cout = nhwc ? c.w[3] : c.w[0];
        const bias = r.floats(cout);
        const s = c.stride ?? 1, p = c.pad ?? 0, d = c.dilation ?? 1;
        const ref = refConv(x, w, {
          stride: [s, s], padding: [p, p, p, p], dilation: [d, d], groups: c.groups ?? 1, bias,
          layout: nhwc ? 'NHWC' : 'NCHW', weightLayout: nhwc ? 'HWIO' : 'OIHW',
        });
        // Without relu a good part of the output is negative: a dropped relu cannot pass unnoticed.
        expect(ref.data.filter((v) => v < -0.05).length).toBeGreaterThan(ref.data.length / 8);
        const want = relu(ref.data);
        const tol = precision === 'fp32' ? 1e-5 : 1e-3;
        const ny = ref.data.length;

        // Without relu: the same path gives the plain result (the activation is data, not a default).
        const plain = writeRequest(new Float64Array(DESC_LEN), request(c, precision, false));
        const y0 = poisoned(ny);
        b.run(plain, x.data, w.data, bias, y0);
        expect(relError(y0, ref.data)).toBeLessThan(tol);

        const desc = () => writeRequest(new Float64Array(DESC_LEN), request(c, precision, true));
        const y1 = poisoned(ny);
        expect(b.run(desc(), x.data, w.data, bias, y1)).toBeUndefined();
        expect(relError(y1, want)).toBeLessThan(tol);
        const y2 = (await b.runAsync(desc(), x.data, w.data, bias, null)) as Float32Array;
        expect(relError(y2, want)).toBeLessThan(tol);
        if (nhwc) return; // device tensors are NCHW

        const hx = b.cudaUpload(x.data);
        const h1 = b.run(desc(), hx, w.data, bias, null) as NativeDeviceHandle;
        const h2 = (await b.runAsync(desc(), hx, w.data, bias, null)) as NativeDeviceHandle;
        for (const h of [h1, h2]) {
          const y = poisoned(ny);
          await b.cudaDownload(h, y);
          expect(relError(y, want)).toBeLessThan(tol);
          b.cudaFree(h);
        }
        b.cudaFree(hx);
      });
    }
  }

  it('the public API routes relu to the GPU (conv2dSync, conv2d, a DeviceTensor chain)', () => {
    // A fresh process whose node-gyp-build loads the emulated addon: lib/ then runs unchanged on a
    // "GPU". Needs dist/ (npm test builds it first).
    const code = `
      const Module = require('module');
      const load = Module._load;
      const emu = ${JSON.stringify(addon)};
      Module._load = function (req, ...rest) {
        if (req === 'node-gyp-build') return Object.assign(() => require(emu), { resolve: () => emu });
        return load.call(this, req, ...rest);
      };
      const cc = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      const x = JSON.parse(process.argv[1]), w = JSON.parse(process.argv[2]), bias = new Float32Array(JSON.parse(process.argv[3]));
      const X = { data: new Float32Array(x), shape: [1, 3, 6, 7] }, W = { data: new Float32Array(w), shape: [4, 3, 3, 3] };
      (async () => {
        const o = { device: 'cuda', activation: 'relu', padding: 1, bias };
        const a = cc.conv2dSync(X, W, o);
        const b = await cc.conv2d(X, W, o);
        const d = cc.conv2dSync(cc.toDevice(X), W, { activation: 'relu', padding: 1, bias });
        const c = await d.toHost();
        console.log(JSON.stringify({ devices: [a.device, b.device], a: Array.from(a.data), b: Array.from(b.data), c: Array.from(c.data) }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const x = { data: r.floats(3 * 6 * 7), shape: [1, 3, 6, 7] };
    const w = { data: r.floats(4 * 27), shape: [4, 3, 3, 3] };
    const bias = r.floats(4);
    const out = JSON.parse(execFileSync(process.execPath, ['-e', code, JSON.stringify(Array.from(x.data)),
      JSON.stringify(Array.from(w.data)), JSON.stringify(Array.from(bias))], { encoding: 'utf8' }).trim());
    const want = relu(refConv(x, w, { padding: [1, 1, 1, 1], bias }).data);
    expect(out.devices).toEqual(['cuda', 'cuda']);
    for (const k of ['a', 'b', 'c']) expect(relError(out[k], want)).toBeLessThan(1e-5);
  });
});
