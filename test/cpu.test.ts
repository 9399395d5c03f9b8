// CPU kernels: every ISA path (forced with CHANNELCONV_ISA in child processes), the fused relu,
// prepared layers, and the one-call sync fast path giving the same errors as the async path.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { backendInfo, conv2d, conv2dSync, convCost, createConv2d, type Tensor } from '../lib/index';
import { refConv, relError, rng, seedFromEnv } from './helpers';

const seed = seedFromEnv();
console.log(`cpu.test seed ${seed} (replay with CHANNELCONV_SEED=${seed})`);
const root = path.join(__dirname, '..');

const relu = (d: Float64Array) => d.map((v) => (v > 0 ? v : 0));

describe("activation: 'relu'", () => {
  it('equals max(conv + bias, 0) on the GEMM and the direct paths, both layouts, sync and async', async () => {
    const r = rng(seed + 11);
    const shapes: [number[], number[], number][] = [
      [[2, 12, 19, 23], [21, 12, 3, 3], 1], // packed GEMM
      [[2, 6, 17, 15], [6, 1, 3, 3], 6], // depthwise: direct kernel
      [[1, 3, 5, 4], [2, 3, 2, 2], 1], // tiny: direct kernel
    ];
    for (const [xs, ws, groups] of shapes) {
      for (const layout of ['NCHW', 'NHWC'] as const) {
        const x = { data: r.floats(xs.reduce((a, b) => a * b)), shape: layout === 'NHWC' ? [xs[0], xs[2], xs[3], xs[1]] : xs };
        const w = { data: r.floats(ws.reduce((a, b) => a * b)), shape: ws };
        const bias = r.floats(ws[0]);
        const ref = relu(refConv(x, w, { padding: [1, 1, 1, 1], groups, bias, layout }).data);
        const opts = { padding: 1, groups, bias, layout, activation: 'relu' as const };
        const y = conv2dSync(x, w, opts);
        expect(relError(y.data, ref)).toBeLessThanOrEqual(1e-5);
        expect(y.data.some((v) => v === 0)).toBe(true); // relu did clamp something
        expect(relError((await conv2d(x, w, opts)).data, ref)).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it("'none' is the default; another value is an INVALID_OPTION RangeError", () => {
    const x = { data: new Float32Array(9).fill(-1), shape: [1, 3, 3] };
    const w = { data: new Float32Array(1).fill(1), shape: [1, 1, 1, 1] };
    expect(Array.from(conv2dSync(x, w, { activation: 'none' }).data)).toEqual(new Array(9).fill(-1));
    expect(() => conv2dSync(x, w, { activation: 'gelu' as never })).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_CHANNELCONV_INVALID_OPTION' }),
    );
  });
});

describe('prepared layers (createConv2d)', () => {
  it('run / runSync equal conv2dSync for inputs of several sizes; cost matches convCost', async () => {
    const r = rng(seed + 12);
    for (const [ws, groups, layout, weightLayout] of [
      [[16, 8, 3, 3], 1, 'NCHW', 'OIHW'],
      [[3, 3, 8, 16], 1, 'NHWC', 'HWIO'],
      [[8, 1, 3, 3], 8, 'NCHW', 'OIHW'],
    ] as [number[], number, 'NCHW' | 'NHWC', 'OIHW' | 'HWIO'][]) {
      const w = { data: r.floats(ws.reduce((a, b) => a * b)), shape: ws };
      const K = weightLayout === 'HWIO' ? ws[3] : ws[0];
      const bias = r.floats(K);
      const options = { padding: 'same' as const, groups, layout, weightLayout, bias, activation: 'relu' as const };
      const layer = createConv2d(w, options);
      expect(layer.bytes).toBeGreaterThan(0);
      const wCopy = w.data.slice();
      w.data.fill(0); // the layer copied the weight
      const orig = { data: wCopy, shape: ws };
      for (const [n, h, wd] of [[1, 5, 7], [2, 20, 33], [3, 1, 2]]) {
        const shape = layout === 'NHWC' ? [n, h, wd, 8] : [n, 8, h, wd];
        const x = { data: r.floats(shape.reduce((a, b) => a * b)), shape };
        const expected = conv2dSync(x, orig, options);
        const a = layer.runSync(x);
        const b = await layer.run(x);
        expect(a.shape).toEqual(expected.shape);
        expect(b.shape).toEqual(expected.shape);
        expect(relError(a.data, expected.data)).toBeLessThanOrEqual(1e-6);
        expect(relError(b.data, expected.data)).toBeLessThanOrEqual(1e-6);
        const c = layer.cost(shape);
        const full = convCost(shape, ws, options);
        expect({ ...c, workspaceBytes: 0 }).toEqual({ ...full, workspaceBytes: 0 });
        expect(c.workspaceBytes).toBeLessThanOrEqual(full.workspaceBytes);
      }
      layer.dispose();
    }
  });

  it('an input with other channels is refused; options.out is not an option of a layer', () => {
    const layer = createConv2d({ data: new Float32Array(4 * 3 * 9), shape: [4, 3, 3, 3] });
    expect(() => layer.runSync({ data: new Float32Array(2 * 16), shape: [2, 4, 4] })).toThrow(
      expect.objectContaining({ code: 'ERR_CHANNELCONV_CHANNEL_MISMATCH' }),
    );
    expect(() => createConv2d({ data: new Float32Array(9), shape: [1, 1, 3, 3] }, { out: new Float32Array(1) } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_CHANNELCONV_UNKNOWN_OPTION' }),
    );
    layer.dispose();
  });

  it('after dispose(), runSync / run / cost fail with ERR_CHANNELCONV_DISPOSED; dispose twice is harmless', async () => {
    const layer = createConv2d({ data: new Float32Array(9).fill(1), shape: [1, 1, 3, 3] });
    const x: Tensor = { data: new Float32Array(16).fill(1), shape: [1, 4, 4] };
    expect(Array.from(layer.runSync(x).data)).toEqual([9, 9, 9, 9]);
    const inFlight = layer.run(x); // queued before dispose: still completes
    layer.dispose();
    layer.dispose();
    expect(layer.disposed).toBe(true);
    expect(layer.bytes).toBe(0);
    expect(Array.from((await inFlight).data)).toEqual([9, 9, 9, 9]);
    const disposed = expect.objectContaining({ name: 'Error', code: 'ERR_CHANNELCONV_DISPOSED' });
    expect(() => layer.runSync(x)).toThrow(disposed);
    await expect(layer.run(x)).rejects.toThrow(disposed);
    expect(() => layer.cost([1, 4, 4])).toThrow(disposed);
  });
});

describe('sync fast path', () => {
  it('gives the same errors (class, code, message) as the async path', async () => {
    const x = { data: new Float32Array(2 * 5 * 5), shape: [2, 5, 5] };
    const w = { data: new Float32Array(3 * 2 * 3 * 3), shape: [3, 2, 3, 3] };
    const bad: [Tensor, Tensor, object][] = [
      [x, w, { out: new Float32Array(8) }],
      [x, w, { bias: new Float32Array(2) }],
      [x, w, { out: x.data }],
      [x, { data: new Float32Array(27), shape: [1, 3, 3, 3] }, {}],
      [x, w, { padding: 'valid', dilation: 3 }],
      [x, w, { groups: 2 }],
    ];
    for (const [i, ww, o] of bad) {
      let syncErr: Error & { code?: string } = new Error('none');
      try { conv2dSync(i, ww, o); } catch (e) { syncErr = e as Error; }
      const asyncErr = await conv2d(i, ww, o).then(() => new Error('none'), (e: Error) => e) as Error & { code?: string };
      expect(syncErr.code).toBeDefined();
      expect([syncErr.name, syncErr.code, syncErr.message]).toEqual([asyncErr.name, asyncErr.code, asyncErr.message]);
    }
  });
});

// Child processes: each loads the addon with CHANNELCONV_ISA set and convolves deterministic data.
const child = `
const cc = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
let s = 12345; const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
const fill = (n) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = rnd(); return a; };
const out = { isa: cc.backendInfo().cpu.isa, config: cc.backendInfo().cpu.config, results: [] };
for (const [xs, ws, o] of JSON.parse(process.argv[1])) {
  const x = { data: fill(xs.reduce((a, b) => a * b)), shape: xs }, w = { data: fill(ws.reduce((a, b) => a * b)), shape: ws };
  out.results.push(Array.from(cc.conv2dSync(x, w, o).data));
}
console.log(JSON.stringify(out));
`;
// GEMM K crossing several KC blocks and pixel counts crossing tiles; stride 2; depthwise (direct).
const isaShapes: [number[], number[], object][] = [
  [[1, 40, 30, 50], [20, 40, 5, 5], { padding: 2 }],
  [[2, 3, 31, 29], [9, 3, 7, 7], { padding: 3, stride: 2 }],
  [[1, 8, 21, 45], [8, 1, 3, 3], { padding: 1, groups: 8 }],
];

function runChild(isa: string, more: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['-e', child, JSON.stringify(isaShapes)], {
    env: { ...process.env, CHANNELCONV_ISA: isa, ...more }, encoding: 'utf8',
  });
}

function isaRefs() {
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const fill = (n: number) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = rnd(); return a; };
  return isaShapes.map(([xs, ws, o]) => {
    const x = { data: fill(xs.reduce((a, b) => a * b)), shape: xs };
    const w = { data: fill(ws.reduce((a, b) => a * b)), shape: ws };
    const oo = o as { padding: number; stride?: number; groups?: number };
    const p = oo.padding;
    return refConv(x, w, { padding: [p, p, p, p], stride: [oo.stride ?? 1, oo.stride ?? 1], groups: oo.groups ?? 1 }).data;
  });
}

describe('CHANNELCONV_ISA', () => {
  // Every kernel set of this build (the table in native/cpu/kernel_table.cpp, per architecture).
  const isas = backendInfo().cpu.isas;
  const supported = isas.filter((isa) => runChild(isa).status === 0);

  it('generic always runs, and the default is one of the supported kernel sets', () => {
    expect(supported).toContain('generic');
    expect(supported).toContain(backendInfo().cpu.isa);
  });

  it('each supported ISA, forced, reports itself and matches the float64 reference', () => {
    const refs = isaRefs();
    for (const isa of supported) {
      const r = runChild(isa);
      const out = JSON.parse(r.stdout) as { isa: string; results: number[][] };
      expect(out.isa).toBe(isa);
      out.results.forEach((y, i) => expect(relError(y, refs[i]), `${isa} shape ${i}`).toBeLessThanOrEqual(1e-5));
    }
  });

  it('an unknown value fails the load with ERR_CHANNELCONV_INVALID_ISA listing the valid values', () => {
    const r = runChild('sse9');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('ERR_CHANNELCONV_INVALID_ISA');
    expect(r.stderr).toContain(`CHANNELCONV_ISA='sse9' is not a known ISA; valid values: ${isas.join(', ')}`);
    expect(isas[isas.length - 1]).toBe('generic');
  });
});

describe('per-core configuration', () => {
  const CONFIGS = ['zen5', 'zen4', 'intel-avx512', 'zen3', 'intel-avx2', 'default'];

  it('backendInfo().cpu reports the detected core and a configuration of the table with its block sizes', () => {
    const { core, config, isa } = backendInfo().cpu;
    expect(['none', 'half', 'full']).toContain(core.avx512);
    expect(typeof core.uarch).toBe('string');
    expect(CONFIGS).toContain(config.name);
    expect(config.mr).toBeGreaterThan(0);
    expect(config.nc % config.nr).toBe(0);
    expect(config.kc).toBeGreaterThan(0);
    expect(config.tileBytes).toBeGreaterThanOrEqual(64 * 1024);
    expect([2, 4]).toContain(config.winogradTile);
    if (process.arch === 'x64') {
      expect(core.family).toBeGreaterThan(0);
      expect(core.l1d).toBeGreaterThan(0);
      expect(core.l2).toBeGreaterThan(0);
      if (isa === 'avx512') expect(core.avx512).not.toBe('none');
    }
  });

  it('each configuration, forced with CHANNELCONV_CPU_CONFIG, reports itself and matches the reference', () => {
    const refs = isaRefs();
    for (const name of CONFIGS) {
      const r = runChild(backendInfo().cpu.isa, { CHANNELCONV_CPU_CONFIG: name });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { config: { name: string }; results: number[][] };
      expect(out.config.name).toBe(name);
      out.results.forEach((y, i) => expect(relError(y, refs[i]), `${name} shape ${i}`).toBeLessThanOrEqual(1e-5));
    }
  });

  it('an unknown configuration fails the load with ERR_CHANNELCONV_INVALID_ISA listing the valid names', () => {
    const r = runChild(backendInfo().cpu.isa, { CHANNELCONV_CPU_CONFIG: 'pentium' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('ERR_CHANNELCONV_INVALID_ISA');
    expect(r.stderr).toContain(`CHANNELCONV_CPU_CONFIG='pentium' is not a known configuration; valid values: ${CONFIGS.join(', ')}`);
  });
});

describe('algorithms by name', () => {
  it('every registry entry that can run a stride-1 3x3 / 5x5 layer, forced, matches the reference; the others refuse', async () => {
    const r = rng(seed + 41);
    const names = backendInfo().algorithms;
    expect(names).toEqual(expect.arrayContaining(['direct', 'winograd_4x4', 'winograd_2x2', 'implicit_gemm', 'packed_gemm']));
    for (const [xs, ws, padding] of [[[2, 19, 13, 17], [21, 19, 3, 3], 1], [[1, 7, 11, 9], [5, 7, 5, 5], 2]] as [number[], number[], number][]) {
      const x = { data: r.floats(xs.reduce((a, b) => a * b)), shape: xs };
      const w = { data: r.floats(ws.reduce((a, b) => a * b)), shape: ws };
      const bias = r.floats(ws[0]);
      const ref = refConv(x, w, { padding: [padding, padding, padding, padding], bias }).data;
      const ran: string[] = [];
      for (const algorithm of names) {
        const opts = { padding, bias, algorithm: algorithm as never };
        if (algorithm === 'winograd_4x4' && ws[2] === 5) {
          expect(() => conv2dSync(x, w, opts)).toThrow(/cannot run this problem.*valid here: 'auto'/);
          continue;
        }
        const y = conv2dSync(x, w, opts);
        expect(y.algorithm).toBe(algorithm);
        expect(relError(y.data, ref), `${algorithm} ${ws}`).toBeLessThanOrEqual(1e-5);
        expect(relError((await conv2d(x, w, opts)).data, ref)).toBeLessThanOrEqual(1e-5);
        ran.push(algorithm);
      }
      expect(ran).toContain('winograd_2x2');
    }
  });

  it("'auto' takes Winograd for a ResNet 3x3 layer and for the lecture's 5x5 layer, and reports it", () => {
    const tile = backendInfo().cpu.config.winogradTile;
    expect(convCost([8, 64, 56, 56], [64, 64, 3, 3], { padding: 1 }).algorithm).toBe(`winograd_${tile}x${tile}`);
    expect(convCost([1, 100, 64, 64], [100, 100, 5, 5], { padding: 2 }).algorithm).toBe('winograd_2x2');
    expect(convCost([8, 64, 56, 56], [64, 64, 3, 3], { padding: 1, stride: 2 }).algorithm).toBe('implicit_gemm');
    expect(convCost([8, 56, 56, 64], [64, 64, 3, 3], { padding: 1, layout: 'NHWC' }).algorithm).toBe('implicit_gemm');
  });
});
