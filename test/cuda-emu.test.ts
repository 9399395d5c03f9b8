// The GPU path of the binding, without a GPU: build/cuda-emu/channelconv.node is the addon built over
// the emulated CUDA runtime (native/cuda/tests/emu: the real kernel sources, each block's threads as
// CPU fibers). A device call goes the whole real way: descriptor (lib/desc.ts) -> plan_call ->
// check_arrays -> run_cuda -> the cc::cuda launcher -> the kernels, with host arrays and with device
// handles, sync and async, in every direction; and once through the public API. The epilogue (bias,
// relu) must arrive: the old binding dropped relu on its way to the GPU (issue 11).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Binding, NativeDeviceHandle } from '../binding';
import { DESC_LEN, dstShapeOf, slot, writeRequest, type Request } from '../lib/desc';
import { refConv, refGrads, relError, rng, seedFromEnv } from './helpers';

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
  // compiling after `npm ci`, which builds the shipped addon only). A staged copy without the build
  // files (scripts/sanitize.sh addon) brings its own, sanitized.
  if (fs.existsSync(path.join(root, 'CMakeLists.txt'))) execFileSync(path.join(root, 'node_modules', '.bin', 'cmake-js'), ['build', '--target', 'channelconv_cuda_emu', '--log-level', 'error'],
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

type Precision = 'fp32' | 'tf32' | 'bf16';
function request(c: Case, precision: Precision, relu: boolean): Request {
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
// Rounded to bfloat16, to nearest even: what precision 'bf16' multiplies.
function bf16(a: Float32Array): Float32Array {
  const u = new Uint32Array(a.slice().buffer);
  for (let i = 0; i < u.length; i++) u[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) & 0xffff0000;
  return new Float32Array(u.buffer);
}
// fp32 and bf16 (against the reference on rounded operands) differ from the float64 reference only
// by float32 sums; TF32 by its 10-bit operands.
const tolerance = (p: Precision) => (p === 'tf32' ? 1e-3 : 1e-5);

describe.skipIf(!haveEmu)('the CUDA binding path on the emulated GPU', () => {
  it('the emulated addon reports a CUDA device', () => {
    const s = b.cudaStatus();
    expect(s).toMatchObject({ compiled: true, available: true });
    expect(s.devices[0].name).toBe('CPU emulation');
    expect(s.directions).toEqual(['forward', 'backward_data', 'backward_weights']);
  });

  for (const c of cases) {
    for (const precision of ['fp32', 'tf32', 'bf16'] as const) {
      it(`${c.label}, ${precision}: bias + relu reach the kernel (host arrays and device handles, run and runAsync)`, async () => {
        const nhwc = c.layout === 'NHWC';
        const x = { data: r.floats(size(c.x)), shape: c.x };
        const w = { data: r.floats(size(c.w)), shape: c.w };
        const cout = nhwc ? c.w[3] : c.w[0];
        const bias = r.floats(cout);
        const s = c.stride ?? 1, p = c.pad ?? 0, d = c.dilation ?? 1;
        const rounded = precision === 'bf16';
        const ref = refConv(rounded ? { data: bf16(x.data), shape: x.shape } : x, rounded ? { data: bf16(w.data), shape: w.shape } : w, {
          stride: [s, s], padding: [p, p, p, p], dilation: [d, d], groups: c.groups ?? 1, bias,
          layout: nhwc ? 'NHWC' : 'NCHW', weightLayout: nhwc ? 'HWIO' : 'OIHW',
        });
        // Without relu a good part of the output is negative: a dropped relu cannot pass unnoticed.
        expect(ref.data.filter((v) => v < -0.05).length).toBeGreaterThan(ref.data.length / 8);
        const want = relu(ref.data);
        const tol = tolerance(precision);
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

  it('a device tensor with layout NHWC is refused by the binding', () => {
    const c = cases[3];
    const h = b.cudaUpload(r.floats(size(c.x)));
    const d = writeRequest(new Float64Array(DESC_LEN), request(c, 'fp32', false));
    expect(d[slot.layout]).toBe(1);
    expect(() => b.run(d, h, r.floats(size(c.w)), r.floats(c.w[3]), null)).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_CHANNELCONV_INVALID_OPTION', message: expect.stringMatching(/NCHW/) }));
    b.cudaFree(h);
  });

  // Backward directions: a transposed convolution (bias + relu in its epilogue), the input gradient,
  // the weight and bias gradients. Shapes reach the columns path (stride 2), the implicit one
  // (stride 1), depthwise, and backward-weights' split reduction.
  const geometry = (stride: number, pad: number, groups: number, outputPadding = 0): Request['geometry'] => ({
    stride: [stride, stride], dilation: [1, 1], padMode: 'explicit', padding: [pad, pad, pad, pad],
    outputPadding: [outputPadding, outputPadding], groups, layout: 'NCHW', weightLayout: 'OIHW',
  });
  const back = [
    { label: 'stride 2', x: [2, 6, 11, 9], w: [4, 3, 3, 3], stride: 2, pad: 1, groups: 2 },
    { label: 'stride 1', x: [1, 5, 8, 7], w: [6, 5, 3, 2], stride: 1, pad: 1, groups: 1 },
    { label: 'depthwise', x: [2, 4, 7, 7], w: [8, 1, 3, 3], stride: 1, pad: 1, groups: 4 },
    { label: 'long reduction', x: [2, 3, 64, 70], w: [4, 3, 3, 3], stride: 1, pad: 1, groups: 1 },
  ];

  for (const c of back) {
    // (the long reduction in fp32 only: it is the slow one under emulation)
    for (const precision of c.label === 'long reduction' ? (['fp32'] as const) : (['fp32', 'tf32'] as const)) {
      const tol = tolerance(precision);
      const o = { stride: [c.stride, c.stride] as [number, number], padding: [c.pad, c.pad, c.pad, c.pad] as [number, number, number, number], groups: c.groups };

      it(`transposed convolution, ${c.label}, ${precision}: bias + relu, host and device`, async () => {
        // The transposed convolution of t [N, Cout, OH, OW] by the weight read as IOHW, output padding 1
        // where the stride allows it.
        const op = c.stride > 1 ? 1 : 0;
        const fwd = refConv({ data: new Float32Array(size(c.x)), shape: c.x }, { data: new Float32Array(size(c.w)), shape: c.w }, o);
        const t = { data: r.floats(fwd.data.length), shape: fwd.shape };
        const w = r.floats(size(c.w));
        const bias = r.floats(c.w[1] * c.groups);
        const desc = () => writeRequest(new Float64Array(DESC_LEN), {
          op: 'transpose', direction: 'backward_data', inputShape: t.shape, weightShape: c.w, geometry: geometry(c.stride, c.pad, c.groups, op),
          bias: true, activation: 'relu', precision, device: 'cuda', threads: 0, algorithm: -1,
        });
        const d = desc();
        b.plan(d);
        const xShape = dstShapeOf(d); // the forward input's shape, plus the output padding
        const want = relu(refGrads({ data: new Float32Array(size(xShape)), shape: xShape }, { data: w, shape: c.w }, t.data, o)
          .gradInput.map((v, i) => v + bias[Math.floor(i / (xShape[2] * xShape[3])) % xShape[1]]));
        expect(want.filter((v) => v === 0).length).toBeGreaterThan(want.length / 8);
        const y1 = poisoned(want.length);
        b.run(desc(), t.data, w, bias, y1);
        expect(relError(y1, want)).toBeLessThan(tol);
        expect(relError((await b.runAsync(desc(), t.data, w, bias, null)) as Float32Array, want)).toBeLessThan(tol);
        const ht = b.cudaUpload(t.data);
        const h = b.run(desc(), ht, w, bias, null) as NativeDeviceHandle;
        const y2 = poisoned(want.length);
        await b.cudaDownload(h, y2);
        expect(relError(y2, want)).toBeLessThan(tol);
        b.cudaFree(h);
        b.cudaFree(ht);
      });

      it(`input, weight and bias gradients, ${c.label}, ${precision}: host and device`, async () => {
        const x = { data: r.floats(size(c.x)), shape: c.x };
        const w = { data: r.floats(size(c.w)), shape: c.w };
        const ny = refConv(x, w, o).data.length;
        const dy = r.floats(ny);
        const ref = refGrads(x, w, dy, o);
        const req = (direction: 'backward_data' | 'backward_weights', bias: boolean, skipWeights = false) => writeRequest(new Float64Array(DESC_LEN), {
          op: 'conv', direction, inputShape: c.x, weightShape: c.w, geometry: geometry(c.stride, c.pad, c.groups),
          bias, activation: 'none', precision, device: 'cuda', threads: 0, algorithm: -1, skipWeights,
        });
        // The input gradient: host sync, host async, device.
        const dx = poisoned(x.data.length);
        b.run(req('backward_data', false), dy, w.data, null, dx);
        expect(relError(dx, ref.gradInput)).toBeLessThan(tol);
        expect(relError((await b.runAsync(req('backward_data', false), dy, w.data, null, null)) as Float32Array, ref.gradInput)).toBeLessThan(tol);
        const hdy = b.cudaUpload(dy), hx = b.cudaUpload(x.data);
        const hdx = b.run(req('backward_data', false), hdy, w.data, null, null) as NativeDeviceHandle;
        const dx2 = poisoned(x.data.length);
        await b.cudaDownload(hdx, dx2);
        expect(relError(dx2, ref.gradInput)).toBeLessThan(tol);
        b.cudaFree(hdx);
        // The weight and bias gradients: host sync, host async, device inputs (host outputs), bias alone.
        const dw = poisoned(w.data.length), db = poisoned(ref.gradBias.length);
        b.run(req('backward_weights', true), x.data, null, null, dw, dy, db);
        expect(relError(dw, ref.gradWeight)).toBeLessThan(tol);
        expect(relError(db, ref.gradBias)).toBeLessThan(1e-5);
        const [aw, ab] = (await b.runAsync(req('backward_weights', true), x.data, null, null, null, dy)) as [Float32Array, Float32Array];
        expect(relError(aw, ref.gradWeight)).toBeLessThan(tol);
        expect(relError(ab, ref.gradBias)).toBeLessThan(1e-5);
        const dw2 = poisoned(w.data.length), db2 = poisoned(ref.gradBias.length);
        expect(b.run(req('backward_weights', true), hx, null, null, dw2, hdy, db2)).toBeUndefined();
        expect(relError(dw2, ref.gradWeight)).toBeLessThan(tol);
        expect(relError(db2, ref.gradBias)).toBeLessThan(1e-5);
        const [nw, nb] = (await b.runAsync(req('backward_weights', true, true), hx, null, null, null, hdy)) as [null, Float32Array];
        expect(nw).toBeNull();
        expect(relError(nb, ref.gradBias)).toBeLessThan(1e-5);
        // Mixed host and device activations are refused.
        expect(() => b.run(req('backward_weights', false), hx, null, null, poisoned(w.data.length), dy)).toThrow(
          expect.objectContaining({ name: 'TypeError', code: 'ERR_CHANNELCONV_INVALID_TYPE' }));
        b.cudaFree(hx);
        b.cudaFree(hdy);
      });
    }
  }

  // Runs `body` (the body of an async function of `cc`, the public API over the emulated addon, and
  // `arg`) in a fresh Node whose node-gyp-build loads the emulated addon: lib/ then runs unchanged on
  // a "GPU". Returns what the body returns, through JSON. Needs dist/ (npm test builds it first).
  function publicApi(body: string, arg: unknown): Record<string, number[] | string[]> {
    const code = `
      const Module = require('module');
      const load = Module._load;
      const emu = ${JSON.stringify(addon)};
      Module._load = function (req, ...rest) {
        if (req === 'node-gyp-build') return Object.assign(() => require(emu), { resolve: () => emu });
        return load.call(this, req, ...rest);
      };
      const cc = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      const T = (t) => ({ data: new Float32Array(t.data), shape: t.shape });
      const arg = JSON.parse(process.argv[1]);
      (async (cc, arg) => { ${body} })(cc, arg)
        .then((r) => console.log(JSON.stringify(r, (k, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v))))
        .catch((e) => { console.error(e); process.exit(1); });`;
    const json = (v: unknown) => JSON.stringify(v, (k, x) => (ArrayBuffer.isView(x) ? Array.from(x as Float32Array) : x));
    return JSON.parse(execFileSync(process.execPath, ['-e', code, json(arg)], { encoding: 'utf8' }).trim());
  }

  it('the public API routes relu to the GPU (conv2dSync, conv2d, a DeviceTensor chain)', () => {
    const x = { data: r.floats(3 * 6 * 7), shape: [1, 3, 6, 7] };
    const w = { data: r.floats(4 * 27), shape: [4, 3, 3, 3] };
    const bias = r.floats(4);
    const out = publicApi(`
      const X = T(arg.x), W = T(arg.w), bias = new Float32Array(arg.bias);
      const o = { device: 'cuda', activation: 'relu', padding: 1, bias };
      const a = cc.conv2dSync(X, W, o);
      const b = await cc.conv2d(X, W, o);
      const c = await cc.conv2dSync(cc.toDevice(X), W, { activation: 'relu', padding: 1, bias }).toHost();
      return { devices: [a.device, b.device], a: a.data, b: b.data, c: c.data };`, { x, w, bias });
    const want = relu(refConv(x, w, { padding: [1, 1, 1, 1], bias }).data);
    expect(out.devices).toEqual(['cuda', 'cuda']);
    for (const k of ['a', 'b', 'c']) expect(relError(out[k] as number[], want)).toBeLessThan(1e-5);
  });

  it('the public API runs conv2dTranspose and conv2dBackward on the GPU (host and DeviceTensor inputs)', () => {
    // The same calls on the CPU are the reference (tested against float64 elsewhere).
    const t = { data: r.floats(2 * 3 * 6 * 5), shape: [2, 3, 6, 5] }, wt = { data: r.floats(3 * 2 * 3 * 3), shape: [3, 2, 3, 3] };
    const x = { data: r.floats(2 * 3 * 9 * 8), shape: [2, 3, 9, 8] }, w = { data: r.floats(4 * 3 * 3 * 3), shape: [4, 3, 3, 3] };
    const gy = { data: r.floats(2 * 4 * 5 * 4), shape: [2, 4, 5, 4] };
    const out = publicApi(`
      const t = T(arg.t), wt = T(arg.wt), x = T(arg.x), w = T(arg.w), gy = T(arg.gy);
      const to = { stride: 2, padding: 1, outputPadding: 1, bias: new Float32Array([0.25, -0.5]), activation: 'relu' };
      const tc = cc.conv2dTransposeSync(t, wt, { ...to, device: 'cpu' });
      const tg = cc.conv2dTransposeSync(t, wt, { ...to, device: 'cuda' });
      const ta = await cc.conv2dTranspose(t, wt, { ...to, device: 'cuda' });
      const td = await cc.conv2dTransposeSync(cc.toDevice(t), wt, to).toHost();
      const bo = { stride: 2, padding: 1 };
      const bc = cc.conv2dBackwardSync(x, w, gy, { ...bo, device: 'cpu' });
      const bg = cc.conv2dBackwardSync(x, w, gy, { ...bo, device: 'cuda' });
      const bd = await cc.conv2dBackward(cc.toDevice(x), w, cc.toDevice(gy), bo);
      return {
        devices: [tg.device, ta.device], tc: tc.data, tg: tg.data, ta: ta.data, td: td.data,
        dxc: bc.gradInput.data, dwc: bc.gradWeight.data, dbc: bc.gradBias,
        dxg: bg.gradInput.data, dwg: bg.gradWeight.data, dbg: bg.gradBias,
        dxd: (await bd.gradInput.toHost()).data, dwd: bd.gradWeight.data, dbd: bd.gradBias,
      };`, { t, wt, x, w, gy });
    expect(out.devices).toEqual(['cuda', 'cuda']);
    expect((out.tc as number[]).filter((v) => v === 0).length).toBeGreaterThan((out.tc as number[]).length / 8);
    for (const k of ['tg', 'ta', 'td']) expect(relError(out[k] as number[], out.tc as number[])).toBeLessThan(1e-5);
    for (const [c, ks] of [['dxc', ['dxg', 'dxd']], ['dwc', ['dwg', 'dwd']], ['dbc', ['dbg', 'dbd']]] as const)
      for (const k of ks) expect(relError(out[k] as number[], out[c] as number[])).toBeLessThan(1e-5);
  });
});
