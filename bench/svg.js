// A bar chart of GFLOP/s per shape with the measured FMA peak as a line, written as SVG text.
'use strict';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const COLORS = ['#3b6ea8', '#e08a2c', '#4a9a5b', '#8a5bb0'];

/** Picks a round axis step so the axis has about 5 to 10 ticks. */
function niceStep(max) {
  const raw = max / 6;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

/**
 * report: the JSON that scripts/bench.js writes. One group of bars per shape, one bar per thread count
 * (our fp32 CPU results with 'auto' only: a forced algorithm's rows, bf16 rows and a peer's, oneDNN's, are not drawn); a dashed line per thread count at the measured peak for that many threads.
 */
function chart(report) {
  const cpu = report.results.filter((r) => r.device === 'cpu' && (r.api || 'native') === 'native' &&
    (r.algorithm || 'auto').startsWith('auto') && (r.precision || 'fp32') === 'fp32');
  const shapes = [...new Set(cpu.map((r) => r.shape))];
  const threads = [...new Set(cpu.map((r) => r.threads))].sort((a, b) => a - b);
  const peaks = threads.map((t) => {
    const p = (report.peak.probes || []).filter((x) => x.threads === t && (x.precision || 'fp32') === 'fp32').reduce((a, x) => Math.max(a, x.gflops), 0);
    return { threads: t, gflops: p || (t === report.peak.threads ? report.peak.gflops : 0) };
  });
  const W = 860, H = 500, L = 70, R = 20, T = 64, B = 112;
  const plotW = W - L - R, plotH = H - T - B;
  const ymax = Math.max(...peaks.map((p) => p.gflops), ...cpu.map((r) => r.gflops), 1) * 1.08;
  const step = niceStep(ymax);
  const y = (v) => T + plotH - (v / ymax) * plotH;
  const groupW = plotW / Math.max(shapes.length, 1);
  const barW = Math.min(48, (groupW * 0.7) / threads.length);
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  const when = report.date ? report.date.replace('T', ' ').replace(/\..*$/, ' UTC') : '';
  out.push(`<text x="${L}" y="24" font-size="16" font-weight="bold">channelconv conv2d: GFLOP/s per shape (median), fp32, CPU</text>`);
  out.push(`<text x="${L}" y="44" fill="#555">${esc(`${report.machine.cpu}, ${report.machine.logicalCpus} logical CPUs, GEMM ${report.isa}; ${when}${report.quick ? ' (quick run)' : ''}`)}</text>`);
  for (let v = 0; v <= ymax; v += step) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${+v.toFixed(6)}</text>`);
  }
  out.push(`<text transform="translate(18 ${T + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#444">GFLOP/s (2 FLOPs per multiply-add)</text>`);
  out.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${T + plotH}" stroke="#888"/>`);
  out.push(`<line x1="${L}" x2="${W - R}" y1="${T + plotH}" y2="${T + plotH}" stroke="#888"/>`);
  shapes.forEach((id, gi) => {
    const x0 = L + gi * groupW + (groupW - barW * threads.length) / 2;
    threads.forEach((t, ti) => {
      const r = cpu.find((q) => q.shape === id && q.threads === t);
      if (!r) return;
      const x = x0 + ti * barW;
      const h = Math.max(T + plotH - y(r.gflops), 0.5);
      out.push(`<rect x="${x.toFixed(1)}" y="${(T + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[ti % COLORS.length]}"><title>${esc(`${id} ${t} thread(s): ${r.gflops.toFixed(1)} GFLOP/s, ${r.ms} ms`)}</title></rect>`);
      const label = r.gflops >= 10 ? r.gflops.toFixed(0) : r.gflops.toFixed(2);
      out.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(T + plotH - h - 4).toFixed(1)}" text-anchor="middle" font-size="11">${label}</text>`);
    });
    const r0 = cpu.find((q) => q.shape === id);
    const cx = L + gi * groupW + groupW / 2;
    out.push(`<text x="${cx.toFixed(1)}" y="${T + plotH + 18}" text-anchor="middle" font-weight="bold">${esc(id)}</text>`);
    const name = (r0 && r0.name) || '';
    const maxChars = Math.max(8, Math.floor(groupW / 6.2));
    const lines = [''];
    for (const word of name.split(' ')) {
      const cur = lines[lines.length - 1];
      if (cur && (cur + ' ' + word).length > maxChars) lines.push(word);
      else lines[lines.length - 1] = cur ? cur + ' ' + word : word;
    }
    lines.slice(0, 3).forEach((line, li) => {
      out.push(`<text x="${cx.toFixed(1)}" y="${T + plotH + 34 + li * 13}" text-anchor="middle" font-size="10" fill="#555">${esc(line)}</text>`);
    });
    if (r0 && r0.ms < 0.1) {
      out.push(`<text x="${cx.toFixed(1)}" y="${T + plotH + 76}" text-anchor="middle" font-size="10" fill="#555">${esc(`${(r0.ms * 1e3).toFixed(2)} µs/call`)}</text>`);
    }
  });
  peaks.forEach((p, i) => {
    if (!(p.gflops > 0)) return;
    const color = threads.length > 1 ? COLORS[i % COLORS.length] : '#c0392b';
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(p.gflops).toFixed(1)}" y2="${y(p.gflops).toFixed(1)}" stroke="${color}" stroke-width="2" stroke-dasharray="8 5"/>`);
    out.push(`<text x="${W - R - 4}" y="${(y(p.gflops) - 6).toFixed(1)}" text-anchor="end" fill="${color}">${esc(`measured fp32 FMA peak, ${p.threads} thread(s): ${p.gflops.toFixed(0)} GFLOP/s`)}</text>`);
  });
  if (threads.length > 1) {
    threads.forEach((t, i) => {
      const x = L + 10 + i * 110;
      out.push(`<rect x="${x}" y="${H - 18}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
      out.push(`<text x="${x + 16}" y="${H - 8}">${t} thread(s)</text>`);
    });
  } else if (threads.length === 1) {
    out.push(`<text x="${L}" y="${H - 8}" fill="#555">${threads[0]} thread(s); bar labels in GFLOP/s</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

module.exports = { chart, niceStep, esc };
