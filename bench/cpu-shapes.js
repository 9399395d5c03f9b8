#!/usr/bin/env node
// CPU kernel timings for the benchmark shapes S1..S7 (docs/PERF.md "CPU kernels"), until the full
// suite lands: median conv2dSync time per shape for 1 and 2 threads, one ISA per child process.
// Usage: node bench/cpu-shapes.js [--isa avx512,avx2,generic] [--shapes S1,S3] [--threads 1,2] [--ms 1500]
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

const SHAPES = {
  S1: { x: [1, 100, 64, 64], w: [100, 100, 5, 5], o: { padding: 2 } },
  S2: { x: [8, 100, 64, 64], w: [100, 100, 5, 5], o: { padding: 2 } },
  S3: { x: [8, 64, 56, 56], w: [64, 64, 3, 3], o: { padding: 1 } },
  S4: { x: [8, 256, 56, 56], w: [64, 256, 1, 1], o: {} },
  S5: { x: [8, 3, 224, 224], w: [64, 3, 7, 7], o: { stride: 2, padding: 3 } },
  S6: { x: [1, 2, 3, 3], w: [1, 2, 2, 2], o: {} },
  S7: { x: [8, 128, 56, 56], w: [128, 1, 3, 3], o: { groups: 128, padding: 1 } },
};

if (process.env.CC_BENCH_CHILD) {
  const cc = require(path.join(__dirname, '..', 'dist', 'index.js'));
  const budget = Number(opt('ms', '1500'));
  const rows = [];
  for (const name of opt('shapes', Object.keys(SHAPES).join(',')).split(',')) {
    const s = SHAPES[name];
    const rand = (shape) => ({ data: new Float32Array(shape.reduce((a, b) => a * b)).map(() => Math.random() - 0.5), shape });
    const x = rand(s.x), w = rand(s.w);
    for (const threads of opt('threads', '1,2').split(',').map(Number)) {
      const o = { ...s.o, threads, out: new Float32Array(cc.convCost(s.x, s.w, s.o).outputShape.reduce((a, b) => a * b)) };
      const { flops, workspaceBytes } = cc.convCost(s.x, s.w, o);
      const tiny = name === 'S6';
      const inner = tiny ? 10000 : 1;  // S6: time batches of calls, report per call
      for (let i = 0; i < 3; i++) cc.conv2dSync(x, w, o);
      const times = [];
      const t0 = Date.now();
      while (times.length < 7 || (Date.now() - t0 < budget && times.length < 200)) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < inner; i++) cc.conv2dSync(x, w, o);
        times.push(Number(process.hrtime.bigint() - t) / 1e6 / inner);
      }
      times.sort((a, b) => a - b);
      const ms = times[times.length >> 1];
      rows.push({ shape: name, isa: cc.backendInfo().cpu.isa, threads, ms, gflops: flops / ms / 1e6, workspaceBytes });
    }
  }
  process.stdout.write(JSON.stringify(rows));
} else {
  const all = [];
  for (const isa of opt('isa', 'avx512,avx2,generic').split(',')) {
    const r = spawnSync(process.execPath, [__filename, ...args], {
      env: { ...process.env, CC_BENCH_CHILD: '1', CHANNELCONV_ISA: isa }, encoding: 'utf8',
    });
    if (r.status !== 0) { console.error(`isa ${isa}: ${r.stderr.trim().split('\n').pop()}`); continue; }
    all.push(...JSON.parse(r.stdout));
  }
  console.log('| shape | isa | threads | median | GFLOP/s | workspace |');
  console.log('|-------|-----|---------|--------|---------|-----------|');
  for (const r of all) {
    const t = r.ms < 0.1 ? `${(r.ms * 1000).toFixed(2)} µs` : `${r.ms.toFixed(2)} ms`;
    console.log(`| ${r.shape} | ${r.isa} | ${r.threads} | ${t} | ${r.gflops.toFixed(1)} | ${(r.workspaceBytes / 1024).toFixed(0)} KiB |`);
  }
}
