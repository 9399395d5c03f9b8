// The CUDA path as seen from JS: backendInfo().cuda, device routing ('cpu' | 'auto' | 'cuda'), the
// device that ran a call, DeviceTensors, the precision option. On a machine without a usable GPU
// the GPU-only tests skip (the reason is printed) and the fallback behaviour is asserted instead.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import {
  AUTO_CUDA_MIN_MACS, backendInfo, conv2d, conv2dSync, convCost, DeviceTensor, toDevice, type Tensor,
} from '../lib/index';
import { autoPrefersCuda } from '../lib/device';
import { refConv, relError, rng, seedFromEnv } from './helpers';

const root = path.join(__dirname, '..');
const seed = seedFromEnv();
console.log(`cuda.test seed ${seed} (replay with CHANNELCONV_SEED=${seed})`);
const r = rng(seed);

// What the last CMake configure decided (written by CMakeLists.txt), so the test knows whether
// this binary must have CUDA compiled in.
const cudaFlagFile = path.join(root, 'build', 'channelconv_cuda.txt');
const expectCompiled: boolean | undefined = fs.existsSync(cudaFlagFile)
  ? fs.readFileSync(cudaFlagFile, 'utf8').trim() === 'ON'
  : undefined;

const info = backendInfo().cuda;
const gpu = info.available;
if (!gpu) console.log(`cuda.test: GPU-only tests skipped: ${info.reason}`);

const rand = (shape: number[]): Tensor => ({ data: r.floats(shape.reduce((a, b) => a * b, 1)), shape });

describe('backendInfo().cuda', () => {
  it('reports whether CUDA was compiled in, as CMake configured it', () => {
    if (expectCompiled === undefined) {
      console.log(`cuda.test: ${cudaFlagFile} missing; only the type of 'compiled' is checked`);
      expect(typeof info.compiled).toBe('boolean');
    } else {
      expect(info.compiled).toBe(expectCompiled);
    }
  });
  it('has the documented fields; without a GPU, available is false with a reason', () => {
    expect(typeof info.available).toBe('boolean');
    expect(Array.isArray(info.devices)).toBe(true);
    if (!info.available) {
      expect(typeof info.reason).toBe('string');
      expect(info.reason!.length).toBeGreaterThan(10);
      if (!info.compiled) expect(info.reason).toMatch(/no CUDA support/);
    } else {
      expect(info.devices.length).toBeGreaterThan(0);
      for (const d of info.devices) {
        expect(typeof d.name).toBe('string');
        expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
        expect(d.memoryBytes).toBeGreaterThan(0);
      }
    }
  });
});

describe('a CPU-only build (CHANNELCONV_CUDA=OFF)', () => {
  // A second build of the addon in a temporary folder (~20 s of compiling on 2 cores). Set
  // CHANNELCONV_SKIP_CPU_ONLY_BUILD=1 to skip it.
  const skip = process.env.CHANNELCONV_SKIP_CPU_ONLY_BUILD === '1' || expectCompiled === false;
  it.skipIf(skip)('reports compiled: false and throws ERR_CHANNELCONV_NO_CUDA from every CUDA entry point', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'channelconv-cpuonly-'));
    try {
      execFileSync(path.join(root, 'node_modules', '.bin', 'cmake-js'), ['build', '-O', out, '--log-level', 'error'], {
        cwd: root, env: { ...process.env, CHANNELCONV_CUDA: 'OFF' }, stdio: 'pipe',
      });
      expect(fs.readFileSync(path.join(out, 'channelconv_cuda.txt'), 'utf8').trim()).toBe('OFF');
      const code = `
        const b = require(${JSON.stringify(path.join(out, 'Release', 'channelconv.node'))});
        const { writeRequest, DESC_LEN } = require(${JSON.stringify(path.join(root, 'dist', 'desc.js'))});
        const desc = writeRequest(new Float64Array(DESC_LEN), {
          op: 'conv', direction: 'forward', inputShape: [1, 1, 1], weightShape: [1, 1, 1, 1],
          geometry: { stride: [1, 1], dilation: [1, 1], padMode: 'explicit', padding: [0, 0, 0, 0], outputPadding: [0, 0],
                      groups: 1, layout: 'NCHW', weightLayout: 'OIHW' },
          bias: false, activation: 'none', precision: 'fp32', device: 'cuda', threads: 0, algorithm: -1 });
        const one = () => new Float32Array(1);
        const errs = [];
        for (const f of [() => b.cudaUpload(one()), () => b.plan(desc), () => b.run(desc, one(), one(), null, one()),
                         () => b.runAsync(desc, one(), one(), null, null)]) {
          try { f(); errs.push('none'); } catch (e) { errs.push(e.code); }
        }
        console.log(JSON.stringify({ cuda: b.cudaStatus(), errs }));`;
      const res = JSON.parse(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }).trim());
      expect(res.cuda.compiled).toBe(false);
      expect(res.cuda.available).toBe(false);
      expect(res.cuda.reason).toMatch(/no CUDA support/);
      expect(res.errs).toEqual(new Array(4).fill('ERR_CHANNELCONV_NO_CUDA'));
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('CUDA is probed only when asked', () => {
  it("'cpu' and small 'auto' calls never initialise CUDA; backendInfo() does", () => {
    // A fresh process: this one has already called backendInfo().
    const code = `
      const cc = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      const { native } = require(${JSON.stringify(path.join(root, 'dist', 'native.js'))});
      const x = { data: new Float32Array(2 * 9).fill(1), shape: [1, 2, 3, 3] };
      const w = { data: new Float32Array(8).fill(1), shape: [1, 2, 2, 2] };
      const a = cc.conv2dSync(x, w, { device: 'cpu' });
      const b = cc.conv2dSync(x, w);
      cc.convCost([1, 2, 3, 3], [1, 2, 2, 2]);
      const before = native().cudaProbed();
      cc.backendInfo();
      console.log(JSON.stringify({ before, after: native().cudaProbed(), a: a.device, b: b.device, v: Array.from(b.data) }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }).trim());
    expect(out.before).toBe(false);
    expect(out.after).toBe(true);
    expect(out.a).toBe('cpu');
    expect(out.b).toBe('cpu');
    expect(out.v).toEqual([8, 8, 8, 8]);
  });
});

describe('device routing', () => {
  const x = rand([1, 3, 9, 8]);
  const w = rand([4, 3, 3, 3]);
  const ref = refConv(x, w, { padding: [1, 1, 1, 1] });

  it("'cpu' runs on the CPU and says so", async () => {
    const y = conv2dSync(x, w, { device: 'cpu', padding: 1 });
    expect(y.device).toBe('cpu');
    expect(relError(y.data, ref.data)).toBeLessThan(1e-5);
    expect((await conv2d(x, w, { device: 'cpu', padding: 1 })).device).toBe('cpu');
  });

  it("'auto' runs a small call on the CPU (below AUTO_CUDA_MIN_MACS)", async () => {
    expect(convCost(x.shape, w.shape, { padding: 1 }).macs).toBeLessThan(AUTO_CUDA_MIN_MACS);
    const y = await conv2d(x, w, { padding: 1 });
    expect(y.device).toBe('cpu');
    expect(relError(y.data, ref.data)).toBeLessThan(1e-5);
  });

  it("'auto' runs a large call on the GPU when there is one, else on the CPU", () => {
    // 1 x 64 -> 64, 3x3, 96x96: 340M multiply-adds, well above the floor.
    const xl = rand([1, 64, 96, 96]);
    const wl = rand([64, 64, 3, 3]);
    expect(convCost(xl.shape, wl.shape, { padding: 1 }).macs).toBeGreaterThan(AUTO_CUDA_MIN_MACS);
    const y = conv2dSync(xl, wl, { padding: 1 });
    expect(y.device).toBe(gpu ? 'cuda' : 'cpu');
    const c = conv2dSync(xl, wl, { padding: 1, device: 'cpu' });
    expect(relError(y.data, c.data)).toBeLessThan(1e-5);
  });

  it.skipIf(gpu)("'cuda' without a GPU throws ERR_CHANNELCONV_NO_CUDA with the reason (sync and async)", async () => {
    let err: (Error & { code?: string }) | undefined;
    try {
      conv2dSync(x, w, { device: 'cuda' });
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('ERR_CHANNELCONV_NO_CUDA');
    expect(err?.message).toContain(info.reason!);
    await expect(conv2d(x, w, { device: 'cuda' })).rejects.toMatchObject({ code: 'ERR_CHANNELCONV_NO_CUDA' });
  });

  it.skipIf(gpu)('toDevice without a GPU throws ERR_CHANNELCONV_NO_CUDA with the reason', () => {
    expect(() => toDevice(x)).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_NO_CUDA' }));
    expect(() => toDevice(x)).toThrow(info.reason!);
  });
});

describe("the 'auto' cost model", () => {
  it('keeps calls below the floor on the CPU whatever the other terms say', () => {
    expect(autoPrefersCuda(AUTO_CUDA_MIN_MACS - 1, 0, 1)).toBe(false);
  });
  it('sends the lecture layer (S1: 1.024e9 multiply-adds, ~2 MB moved) to the GPU from a 2-core CPU', () => {
    expect(autoPrefersCuda(1.024e9, 4 * (100 * 64 * 64 * 2 + 100 * 100 * 25), 2)).toBe(true);
  });
  it('keeps a transfer-bound call on a many-core CPU (S4: 4.1e8 multiply-adds, 32 MB moved, 64 threads)', () => {
    expect(autoPrefersCuda(4.11e8, 32e6, 64)).toBe(false);
    expect(autoPrefersCuda(4.11e8, 32e6, 2)).toBe(true);
  });
});

describe('precision option', () => {
  const x = rand([2, 3, 7, 6]);
  const w = rand([5, 3, 2, 2]);
  it('rejects unknown values and wrong types', () => {
    expect(() => conv2dSync(x, w, { precision: 'fp16' as never })).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_CHANNELCONV_INVALID_OPTION' }),
    );
    expect(() => conv2dSync(x, w, { precision: 32 as never })).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_CHANNELCONV_INVALID_TYPE' }),
    );
  });
  it("'tf32' on the CPU computes in float32 (the same bits as 'fp32')", () => {
    const a = conv2dSync(x, w, { device: 'cpu', precision: 'tf32' });
    const b = conv2dSync(x, w, { device: 'cpu', precision: 'fp32' });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
  });
});

// ---- GPU only ---------------------------------------------------------------------------------
describe.skipIf(!gpu)('on the GPU', () => {
  const cases = [
    { x: [2, 5, 13, 11], w: [6, 5, 3, 3], o: { padding: 1 as const, stride: 2 } },
    { x: [1, 8, 9, 9], w: [8, 2, 5, 5], o: { padding: 2, groups: 4 } },
    { x: [3, 16, 7, 7], w: [32, 16, 1, 1], o: {} },
    { x: [1, 4, 20, 17], w: [3, 4, 3, 2], o: { dilation: 2 } },
  ];
  it("device 'cuda' matches the float64 reference (fp32 1e-5, tf32 1e-3), bias included", async () => {
    for (const c of cases) {
      const x = rand(c.x);
      const w = rand(c.w);
      const bias = r.floats(c.w[0]);
      const pad = 'padding' in c.o ? c.o.padding : 0;
      const ref = refConv(x, w, {
        padding: [pad, pad, pad, pad], groups: (c.o as { groups?: number }).groups ?? 1, bias,
        stride: [(c.o as { stride?: number }).stride ?? 1, (c.o as { stride?: number }).stride ?? 1],
        dilation: [(c.o as { dilation?: number }).dilation ?? 1, (c.o as { dilation?: number }).dilation ?? 1],
      });
      const y = conv2dSync(x, w, { ...c.o, bias, device: 'cuda' });
      expect(y.device).toBe('cuda');
      expect(relError(y.data, ref.data)).toBeLessThan(1e-5);
      const t = await conv2d(x, w, { ...c.o, bias, device: 'cuda', precision: 'tf32' });
      expect(t.device).toBe('cuda');
      expect(relError(t.data, ref.data)).toBeLessThan(1e-3);
    }
  });
  it('NHWC / HWIO host tensors run on the GPU too', () => {
    const x = rand([2, 6, 5, 3]);
    const w = rand([3, 3, 3, 4]);
    const ref = refConv(x, w, { layout: 'NHWC', weightLayout: 'HWIO', padding: [1, 1, 1, 1] });
    const y = conv2dSync(x, w, { layout: 'NHWC', weightLayout: 'HWIO', padding: 1, device: 'cuda' });
    expect(relError(y.data, ref.data)).toBeLessThan(1e-5);
  });
  it('a chain of DeviceTensor layers stays on the device and matches the CPU', async () => {
    const x = rand([2, 4, 12, 12]);
    const w1 = rand([8, 4, 3, 3]);
    const w2 = rand([4, 8, 3, 3]);
    const d0 = toDevice(x);
    expect(d0).toBeInstanceOf(DeviceTensor);
    const d1 = await conv2d(d0, w1, { padding: 1 });
    const d2 = conv2dSync(d1, w2, { padding: 1 });
    expect(d2.shape).toEqual([2, 4, 12, 12]);
    const host = await d2.toHost();
    const c1 = conv2dSync(x, w1, { padding: 1, device: 'cpu' });
    const c2 = conv2dSync(c1, w2, { padding: 1, device: 'cpu' });
    expect(relError(host.data, c2.data)).toBeLessThan(1e-5);
    for (const d of [d0, d1, d2]) d.dispose();
    expect(d2.disposed).toBe(true);
    d2.dispose(); // idempotent
    await expect(d2.toHost()).rejects.toMatchObject({ code: 'ERR_CHANNELCONV_DISPOSED' });
    expect(() => conv2dSync(d2, w2)).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_DISPOSED' }));
  });
  it("a DeviceTensor input with device 'cpu' or layout NHWC is an option error", () => {
    const d = toDevice(rand([1, 2, 4, 4]));
    const w = rand([1, 2, 2, 2]);
    expect(() => conv2dSync(d, w, { device: 'cpu' })).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_INVALID_OPTION' }));
    expect(() => conv2dSync(d, w, { layout: 'NHWC' })).toThrow(expect.objectContaining({ code: 'ERR_CHANNELCONV_INVALID_OPTION' }));
    d.dispose();
  });
});
