#!/usr/bin/env node
// npm run bench: placeholder until the native benchmark suite lands: builds if needed, then times the
// lecture's layer (100 -> 100 channels, 5x5, 64x64, padding 2) through conv2dSync.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');
const root = path.join(__dirname, '..');
const r = spawnSync(path.join(root, 'node_modules', '.bin', 'cmake-js'), ['build', '--log-level', 'warn'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status || 1);
const cc = require(path.join(root, 'dist', 'index.js'));
const x = { data: new Float32Array(100 * 64 * 64).map(() => Math.random() - 0.5), shape: [1, 100, 64, 64] };
const w = { data: new Float32Array(100 * 100 * 25).map(() => Math.random() - 0.5), shape: [100, 100, 5, 5] };
const opts = { padding: 2 };
const { flops } = cc.convCost(x.shape, w.shape, opts);
for (let i = 0; i < 2; i++) cc.conv2dSync(x, w, opts);
const times = [];
const t0 = Date.now();
while (times.length < 5 || (Date.now() - t0 < 3000 && times.length < 50)) {
  const t = process.hrtime.bigint();
  cc.conv2dSync(x, w, opts);
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
}
times.sort((a, b) => a - b);
const ms = times[times.length >> 1];
const info = cc.backendInfo();
console.log(`S1 lecture layer 100->100, 5x5, 64x64: ${ms.toFixed(2)} ms median of ${times.length}, ` +
  `${(flops / ms / 1e6).toFixed(1)} GFLOP/s (isa ${info.cpu.isa}, ${info.cpu.threads} threads)`);
