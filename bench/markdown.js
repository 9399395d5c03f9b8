#!/usr/bin/env node
// Prints Markdown tables (for docs/PERF.md) from the JSON that `npm run bench -- --json FILE` and
// `npm run bench:peers -- --json FILE` write. Usage: node bench/markdown.js FILE...
'use strict';
const fs = require('fs');
const { fmtTime } = require('./lib');

const pct = (f) => (f === null || f === undefined ? 'n/a' : `${(100 * f).toFixed(1)}%`);
const gf = (g) => (g >= 1 ? g.toFixed(1) : g.toFixed(3));
const row = (cells) => `| ${cells.join(' | ')} |`;

function bench(rep) {
  const out = [];
  out.push(`\`${rep.command}\` — ${rep.date}, ${rep.machine.cpu}, ${rep.machine.logicalCpus} logical CPUs, GEMM kernels \`${rep.isa}\`, load average at the end ${rep.machine.loadavg.map((x) => x.toFixed(1)).join(' / ')}`);
  out.push('');
  out.push(`Measured fp32 FMA peak: ${rep.peak.probes.map((p) => `${p.isa} ${p.threads} thread(s) ${p.gflops.toFixed(0)}`).join(', ')} GFLOP/s.`);
  out.push('');
  if (rep.onednn) out.push(`Peer in the native suite: ${rep.onednn}; "× ours" = its median time / ours (above 1: channelconv is faster). "blocked": its own layouts, the primitive alone.`, '');
  out.push(row(['shape', 'layer', 'contender', 'threads', 'median', 'min – max', 'GFLOP/s', 'of peak', 'n', '× ours']));
  out.push(row(['---', '---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const r of rep.results) {
    const who = !r.api || r.api === 'native' ? r.algorithm || 'auto' : r.impl ? `${r.api} (${r.impl})` : r.api;
    out.push(row([r.shape, r.name, who, r.threads ?? '-', fmtTime(r.ms), r.msMin === undefined ? '' : `${fmtTime(r.msMin)} – ${fmtTime(r.msMax)}`, gf(r.gflops), pct(r.peakFraction), r.samples, r.vsOurs === undefined ? '' : r.vsOurs.toFixed(2)]));
  }
  if (rep.nodeApi) {
    const a = rep.nodeApi;
    out.push('');
    out.push(`Node-API overhead on S6 (${a.threads} threads), per call: native ${a.nativeUs.toFixed(2)} µs; conv2dSync ${a.syncUs.toFixed(2)} µs (+${a.syncOverheadUs.toFixed(2)}); conv2d async ${a.asyncUs.toFixed(2)} µs (+${a.asyncOverheadUs.toFixed(2)}).`);
  }
  const p = rep.projection;
  const time = (h) => (h === null ? 'n/a' : h >= 1 ? `${h.toFixed(1)} h` : `${(h * 60).toFixed(1)} min`);
  out.push('');
  out.push(`The lecture's cost table: every row the same workload, ${p.layers} × S1 layers × ${p.images.toLocaleString('en-US')} images = ${p.totalMultiplyAdds.toExponential(3).replace('e+', 'e')} multiply-adds = ${p.totalFlops.toExponential(3).replace('e+', 'e')} FLOP, and the same convention, ${p.convention.replace(' x ', ' × ')}; time = FLOP / rate.`);
  out.push('');
  out.push(row(['', 'rate (FLOP = 2 × multiply-add)', 'time']));
  out.push(row(['---', '---:', '---:']));
  for (const r of p.rows) {
    const rate = r.gflops === null ? 'n/a' : `${r.gflops.toLocaleString('en-US', { maximumFractionDigits: 1 })} GFLOP/s`;
    out.push(row([r.row, r.quoted ? `${rate} (the lecture's "${r.quoted}", which counts a multiply-add as one FLOP)` : rate, time(r.hours)]));
  }
  return out.join('\n');
}

function peers(rep) {
  const out = [];
  out.push(`\`${rep.command}\` — ${rep.date}, ${rep.machine.cpu}, ${rep.machine.logicalCpus} logical CPUs, ${rep.threads} thread(s) for channelconv and onnxruntime, load average at the end ${rep.machine.loadavg.map((x) => x.toFixed(1)).join(' / ')}; peers: ${Object.entries(rep.peers).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out.push('');
  const names = rep.results[0].contenders.map((c) => c.name);
  out.push(row(['shape', ...names.map((n) => `${n}: median (GFLOP/s) × ours`)]));
  out.push(row(['---', ...names.map(() => '---:')]));
  for (const r of rep.results) {
    out.push(row([r.shape, ...names.map((n) => {
      const c = r.contenders.find((x) => x.name === n);
      const ratio = c.name === 'channelconv conv2dSync' ? '' : ` ×${c.ratioToOurs.toFixed(2)}`;
      return `${fmtTime(c.ms)} (${gf(c.gflops)})${ratio}${c.coldOnly ? ' cold' : ''}${c.ok ? '' : ' MISMATCH'}`;
    })]));
  }
  out.push('');
  out.push('×r = that contender\'s median time / channelconv conv2dSync\'s: above 1, channelconv is faster.');
  // Where a sample was a batch (a call shorter than 50 µs), how many calls it held.
  const batched = rep.results.filter((r) => r.contenders.some((c) => c.callsPerSample > 1));
  if (batched.length) {
    out.push(`Calls per timed sample (each sample a batch of at least 50 µs): ${batched.map((r) =>
      `${r.shape}: ${r.contenders.map((c) => `${c.name} ${c.callsPerSample}`).join(', ')}`).join('; ')}.`);
  }
  return out.join('\n');
}

for (const f of process.argv.slice(2)) {
  const rep = JSON.parse(fs.readFileSync(f, 'utf8'));
  console.log(rep.schema === 'channelconv-bench-peers/1' ? peers(rep) : bench(rep));
  console.log('');
}
