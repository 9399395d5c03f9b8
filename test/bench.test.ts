// The benchmark suite (npm run bench): a --quick run's JSON and SVG have the promised structure and
// sane values. No timing assertions: the numbers depend on the machine and its load.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const SHAPES = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7'];
const bench = (args: string[]) =>
  spawnSync(process.execPath, [path.join(root, 'scripts', 'bench.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 110_000 });

interface Result { shape: string; name: string; api: string; algorithm?: string; impl?: string; vsOurs?: number; ms: number; msMin: number; msMax: number; gflops: number; peakFraction: number | null; threads: number | null; device: string; macs: number; samples: number; checkError?: number }
interface Report {
  peak: { gflops: number; threads: number; isa: string; singleThreadGflops: number; probes: { isa: string; threads: number; gflops: number }[] };
  results: Result[];
  backward: (Result & { direction: string; api: string; xForward: number })[];
  nodeApi: { syncUs: number; asyncUs: number; nativeUs: number; syncOverheadUs: number; asyncOverheadUs: number } | null;
  projection: {
    convention: string; totalFlops: number; totalMultiplyAdds: number; rows: { row: string; gflops: number | null; hours: number | null; note?: string }[];
    cpuHours: number; cpuGflops: number; gpuMinutes: number | null; gpuGflops: number | null; s1MultiplyAdds: number; lecture: { cpuHours: number; gpuMinutes: number };
  };
  isa: string;
  machine: { cpu: string; logicalCpus: number };
}

describe('npm run bench --quick', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'channelconv-bench-'));
  const json = path.join(dir, 'bench.json');
  const svg = path.join(dir, 'bench.svg');
  let stdout = '';
  let rep: Report;

  beforeAll(() => {
    const r = bench(['--quick', '--json', json, '--svg', svg]);
    stdout = r.stdout;
    if (r.status !== 0) throw new Error(`bench exited ${r.status}: ${r.stderr}`);
    rep = JSON.parse(fs.readFileSync(json, 'utf8')) as Report;
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('measures a peak for every supported ISA probe, at 1 thread and all', () => {
    expect(rep.peak.gflops).toBeGreaterThan(0);
    expect(rep.peak.singleThreadGflops).toBeGreaterThan(0);
    expect(rep.peak.probes.map((p) => p.isa)).toContain('generic');
    for (const p of rep.peak.probes) expect(p.gflops).toBeGreaterThan(0);
    expect(new Set(rep.peak.probes.map((p) => p.threads))).toContain(1);
    // The peak is the best probe at the run's thread count.
    const atT = rep.peak.probes.filter((p) => p.threads === rep.peak.threads).map((p) => p.gflops);
    expect(rep.peak.gflops).toBe(Math.max(...atT));
  });

  it('reports the backward rows: gradInput, gradWeight and both for every shape but S6, with a same-run forward', () => {
    // 'auto' rows (a shape whose 'auto' is not the implicit GEMM also gets that GEMM forced, beside it)
    const ours = rep.backward.filter((r) => r.api === 'native' && r.algorithm.startsWith('auto'));
    for (const dir of ['backward_data', 'backward_weights', 'backward']) {
      expect(ours.filter((r) => r.direction === dir).map((r) => r.shape).sort()).toEqual(SHAPES.filter((s) => s !== 'S6'));
    }
    const s1 = rep.results.find((r) => r.shape === 'S1' && r.api === 'native')!;
    for (const r of rep.backward) {
      expect(r.ms, `${r.shape} ${r.direction}`).toBeGreaterThan(0);
      expect(r.checkError).toBeLessThanOrEqual(1e-3);
      expect(r.xForward).toBeGreaterThan(0);
      // Each part costs the forward's multiply-adds; both parts twice.
      if (r.shape === 'S1' && r.api === 'native') expect(r.macs).toBe(s1.macs * (r.direction === 'backward' ? 2 : 1));
    }
    expect(rep.backward.filter((r) => r.api === 'native forward').every((r) => r.xForward === 1)).toBe(true);
    expect(stdout).toContain('Backward pass');
  });

  it('reports every shape once on the CPU with positive, consistent numbers', () => {
    const cpu = rep.results.filter((r) => r.device === 'cpu' && r.api === 'native' && r.algorithm!.startsWith('auto'));
    expect(cpu.map((r) => r.shape).sort()).toEqual(SHAPES);
    for (const r of cpu) {
      expect(r.ms, r.shape).toBeGreaterThan(0);
      expect(r.msMin).toBeLessThanOrEqual(r.ms);
      expect(r.msMax).toBeGreaterThanOrEqual(r.ms);
      expect(r.samples).toBeGreaterThanOrEqual(3);
      expect(r.threads).toBeGreaterThanOrEqual(1);
      expect(r.gflops).toBeGreaterThan(0);
      // GFLOP/s is 2 * multiply-adds over the median time.
      // (relative: both are rounded in the JSON, so a fast kernel's large GFLOP/s differs in the 4th decimal)
      expect(Math.abs(r.gflops / ((2 * r.macs) / (r.ms * 1e6)) - 1)).toBeLessThan(1e-4);
      expect(r.peakFraction).toBeGreaterThan(0);
      // Winograd does fewer multiply-adds than the direct sum its rate is counted by (F(4x4, 3x3):
      // 4x fewer at most), so its effective fraction of the FMA peak may pass 1.
      expect(r.peakFraction).toBeLessThan(r.algorithm!.includes('winograd') ? 6 : 1.5);
      expect(r.checkError).toBeLessThanOrEqual(1e-3);
    }
    expect(cpu.find((r) => r.shape === 'S1')!.macs).toBe(1.024e9);
  });

  it('puts oneDNN beside ours where the build has it, checked and timed in the same run', () => {
    const peers = rep.results.filter((r) => r.api !== 'native' && r.device === 'cpu');
    if (!(rep as unknown as { onednn: string | null }).onednn) {
      expect(peers).toEqual([]);
      return;
    }
    expect(peers.length).toBeGreaterThanOrEqual(SHAPES.length);
    for (const r of peers) {
      expect(r.api).toMatch(/^onednn/);
      expect(r.checkError).toBeLessThanOrEqual(1e-3);
      const ours = rep.results.find((o) => o.shape === r.shape && o.api === 'native' && o.algorithm!.startsWith('auto'))!;
      // Relative: the JSON has 6 significant digits, and a ratio can be large (S6: ~1e5).
      expect(Math.abs(r.vsOurs! / (r.ms / ours.ms) - 1)).toBeLessThan(1e-4);
    }
  });

  it('measures the Node-API overhead of S6, sync and async', () => {
    const a = rep.nodeApi!;
    expect(a).not.toBeNull();
    for (const v of [a.syncUs, a.asyncUs, a.nativeUs]) expect(v).toBeGreaterThan(0);
    expect(a.syncOverheadUs).toBeCloseTo(a.syncUs - a.nativeUs, 6);
  });

  it("reprints the lecture's projection with the measured CPU rate", () => {
    const p = rep.projection;
    const s1 = rep.results.find((r) => r.shape === 'S1' && r.device === 'cpu' && r.api === 'native' && r.algorithm!.startsWith('auto'))!;
    const algo = s1.algorithm!.replace('auto: ', '');
    expect(p.cpuHours).toBeCloseTo((1e7 * s1.ms) / 1e3 / 3600, 6);
    // One workload and one convention in every row: 10 x 1e6 x S1 = 1.024e16 multiply-adds =
    // 2.048e16 FLOP, time = FLOP / rate; the lecture's rates count a multiply-add as one FLOP.
    expect(p.convention).toBe('FLOP = 2 x multiply-add');
    expect(p.totalMultiplyAdds).toBe(1.024e16);
    expect(p.totalFlops).toBe(2.048e16);
    // With Winograd on S1 ('auto'), a labelled effective rate, and the GEMM's row beside it.
    const gemm = algo.startsWith('winograd') ? [`measured, CPU (${s1.threads} threads, implicit_gemm)`] : [];
    expect(p.rows.map((r) => r.row)).toEqual(['lecture, CPU', 'lecture, GPU', `measured, CPU (${s1.threads} threads, ${algo})`, 'measured, GPU', ...gemm]);
    if (gemm.length) expect(stdout).toContain('Winograd: effective rate, the direct multiply-adds / time');
    for (const r of p.rows) if (r.gflops !== null) expect(r.hours! * 3600 * r.gflops * 1e9).toBeCloseTo(2.048e16, -8);
    expect(p.rows[0].gflops).toBe(300);
    expect(p.lecture.cpuHours).toBeCloseTo(18.96, 2);
    expect(p.lecture.gpuMinutes).toBeCloseTo(14.22, 2);
    expect(Math.abs(p.rows[2].gflops! / s1.gflops - 1)).toBeLessThan(1e-4); // both from the median time (the JSON rounds)
    if (!rep.results.some((r) => r.device === 'cuda')) expect(p.gpuMinutes).toBeNull();
    expect(stdout).toContain('about a gigaflop');
    expect(stdout).toContain('Convention, every row: FLOP = 2 x multiply-add');
    expect(stdout).toMatch(/lecture, CPU\s+300 GFLOP\/s\s+19\.0 hours/);
    expect(stdout).toMatch(/lecture, GPU\s+24,000 GFLOP\/s\s+14\.2 minutes/);
    expect(stdout).toMatch(/measured, GPU\s+n\/a|measured, GPU\s+[\d.]+ GFLOP\/s/);
  });

  it('writes an SVG chart with one bar per result and the peak line', () => {
    const s = fs.readFileSync(svg, 'utf8');
    expect(s.startsWith('<svg')).toBe(true);
    expect(s.trim().endsWith('</svg>')).toBe(true);
    expect((s.match(/<rect [^>]*><title>/g) || []).length).toBe(rep.results.filter((r) => r.device === 'cpu' && r.api === 'native' && r.algorithm!.startsWith('auto')).length);
    expect(s).toContain('measured fp32 FMA peak');
  });
});

describe('npm run bench options', () => {
  it('--shapes and --threads select what runs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'channelconv-bench-'));
    const json = path.join(dir, 'b.json');
    const r = bench(['--quick', '--shapes', 'S6,S4', '--threads', '1', '--json', json]);
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8')) as Report;
    expect(rep.results.filter((x) => x.api === 'native' && x.algorithm!.startsWith('auto')).map((x) => x.shape)).toEqual(['S6', 'S4']);
    expect(rep.results.every((x) => x.threads === 1)).toBe(true);
    expect(rep.projection.cpuHours).toBeNull(); // S1 was not run
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('rejects an unknown shape or option with exit status 2', () => {
    expect(bench(['--shapes', 'S9']).status).toBe(2);
    expect(bench(['--frobnicate']).status).toBe(2);
  });
});

describe('help texts', () => {
  const shapes = JSON.parse(fs.readFileSync(path.join(root, 'bench', 'shapes.json'), 'utf8')) as { id: string; name: string; gpuOnly?: boolean }[];
  for (const [cmd, script] of [['bench', 'scripts/bench.js'], ['bench:peers', 'bench/peers/run.js']]) {
    it(`npm run ${cmd} -- --help explains every option and names every shape`, () => {
      // parseArgs (bench/lib.js) refuses to print a help text that leaves one of its options out.
      const r = spawnSync(process.execPath, [path.join(root, script), '--help'], { cwd: root, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      for (const s of shapes.filter((x) => !x.gpuOnly)) expect(r.stdout).toMatch(new RegExp(`^\\s+${s.id}  ${s.name.replace(/[()]/g, '\\$&')} \\(`, 'm'));
      for (const word of ['--quick', '--shapes', '--json', '--threads', '--budget', 'docs/PERF.md', '50 us']) expect(r.stdout).toContain(word);
      if (cmd === 'bench:peers') {
        expect(r.stdout).toMatch(/--ort-spin\s+leave onnxruntime's pool threads spin-waiting[^]*1\.3-1\.9x slower/);
        expect(r.stdout).not.toMatch(/see the notes/);
        expect(r.stdout).toContain('callsPerSample');
      }
    });
  }

  it('a help text that leaves an option out is refused', () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const lib = require('../bench/lib.js');
    const spec = { flags: { '--quick': 'quick' }, values: { '--json': 'json' } };
    const fail = (msg: string) => { throw new Error(msg); };
    expect(() => lib.parseArgs(['--help'], spec, 'usage\n  --quick  fast', fail)).toThrow(/does not explain --json/);
  });
});

describe('timed samples are batches of at least 50 µs (bench/lib.js sizeBatch)', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const lib = require('../bench/lib.js');
  // A fake clock that only calls move: each call takes exactly `ms`.
  const fake = (ms: number, isAsync: boolean) => {
    let t = 0;
    let calls = 0;
    const call = isAsync ? async () => { calls++; t += ms; } : () => { calls++; t += ms; };
    return { call, clock: () => t, count: () => calls };
  };
  for (const isAsync of [false, true]) {
    it(`${isAsync ? 'async' : 'sync'}: a 3 µs call is timed 17 or a few more calls at a time, a 2 ms call alone`, async () => {
      const tiny = fake(0.003, isAsync);
      const r = await lib.sizeBatch(tiny.call, isAsync, { warmupMs: 1, clock: tiny.clock });
      expect(r.calls * 0.003).toBeGreaterThanOrEqual(0.05);
      expect(r.calls).toBeLessThanOrEqual(20);
      expect(r.perCallMs).toBeCloseTo(0.003, 9);
      expect(tiny.count()).toBeGreaterThanOrEqual(Math.ceil(1 / 0.003)); // the warm-up ran its time
      const big = fake(2, isAsync);
      expect((await lib.sizeBatch(big.call, isAsync, { warmupMs: 1, clock: big.clock })).calls).toBe(1);
      expect(big.count()).toBe(1); // one warm-up call, longer than the warm-up
    });

    it(`${isAsync ? 'async' : 'sync'}: descheduled calls do not make a batch too short`, async () => {
      let t = 0;
      let n = 0;
      // Every 7th call loses a 10 ms time slice; without that a call takes 2 µs.
      const step = () => { n++; t += n % 7 === 0 ? 10 : 0.002; };
      const call = isAsync ? async () => step() : step;
      const r = await lib.sizeBatch(call, isAsync, { warmupMs: 0.001, clock: () => t });
      expect(r.calls).toBeGreaterThanOrEqual(25);
    });
  }
});

describe('bench:peers ONNX writer', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { varint, convModel } = require('../bench/peers/onnx.js');
  it('encodes varints as protobuf does', () => {
    expect([...varint(1)]).toEqual([1]);
    expect([...varint(300)]).toEqual([0xac, 0x02]);
    expect([...varint(-1)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });
  it('embeds the weight as raw float32 bytes in the model', () => {
    const w = new Float32Array([1.5, -2, 3.25, 4]);
    const m: Buffer = convModel({ inputShape: [1, 1, 3, 3], weight: w, weightShape: [1, 1, 2, 2], bias: null, outputShape: [1, 1, 2, 2], stride: 1, pad: 0, groups: 1 });
    expect(m.indexOf(Buffer.from(w.buffer))).toBeGreaterThan(0);
    expect(m.indexOf(Buffer.from('Conv'))).toBeGreaterThan(0);
  });
});

describe('contenders take turns in a new order each round (bench/lib.js roundOrder)', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const lib = require('../bench/lib.js');
  it('each round is a permutation, the same in every run; over rounds every contender follows every other', () => {
    const n = 6;
    const follows = new Set<string>();
    const orders = new Set<string>();
    for (let round = 0; round < 200; round++) {
      const order: number[] = lib.roundOrder(n, round);
      expect([...order].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(lib.roundOrder(n, round)).toEqual(order);
      orders.add(order.join(','));
      for (let k = 1; k < n; k++) follows.add(`${order[k - 1]}>${order[k]}`);
    }
    expect(follows.size).toBe(n * (n - 1)); // a fixed rotation gives only n of the 30 pairs
    expect(orders.size).toBeGreaterThan(100);
    expect(lib.roundOrder(1, 5)).toEqual([0]);
    expect(lib.roundOrder(0, 5)).toEqual([]);
  });
});
