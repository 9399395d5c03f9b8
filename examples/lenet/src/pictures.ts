// The pictures of a training run: the loss and accuracy curves (training.svg), the learnt filters
// (filters.png) and one test digit through every layer (activations.png). The PNGs are drawn with the
// demo's canvas, font, colour map and panel grid (demo/), so they read like the demo's pictures.
import type { Tensor } from 'channelconv';
import { esc, niceStep } from '../../../bench/svg';
import { drawText, textWidth } from '../../../demo/font';
import { canvas, encodePng, fillRect, paint, type Canvas } from '../../../demo/image';
import { BG, DIM, INK, diverging, grid, slices, type Line, type Panel } from '../../../demo/panels';
import type { Activations, LeNet } from './lenet';

/** One point of the curves: epoch 0 is the untrained network. */
export interface EpochRecord {
  epoch: number;
  /** Mean training loss over the epoch (absent for epoch 0). */
  trainLoss?: number;
  trainAccuracy?: number;
  testLoss: number;
  testAccuracy: number;
}

const label = (text: string, scale = 2): Line => [text, INK, scale];
const note = (text: string): Line => [text, DIM, 1];

/** Stacks pictures top to bottom on the background colour, left-aligned. */
function stack(parts: Canvas[]): Canvas {
  const width = Math.max(...parts.map((p) => p.width));
  const out = canvas(width, parts.reduce((h, p) => h + p.height, 0), BG);
  let y = 0;
  for (const p of parts) {
    for (let r = 0; r < p.height; r++) p.data.copy(out.data, ((y + r) * width) * 4, r * p.width * 4, (r + 1) * p.width * 4);
    y += p.height;
  }
  return out;
}

const TILE = 35; // a 5×5 kernel enlarged 7 times, as the demo's filter tiles

/**
 * filters.png: conv1's 6 kernels (one slice each: the input has one channel) and conv2's 16 kernels,
 * each a row of its 6 slices joined by '+' (slice c meets pool1's channel c; the six results are summed
 * into one output channel). Each kernel is coloured by its own largest |value|, as in the demo.
 */
export function filtersPicture(net: LeNet): Canvas {
  const [conv1, conv2] = net.layers;
  const k = conv1.spec.kernel;
  const w1 = conv1.weight.data, w2 = conv2.weight.data;
  const [co2, ci2] = conv2.weight.shape;
  const first = grid(
    Array.from({ length: conv1.spec.outChannels }, (_, o): Panel => ({
      lines: [label(`${o}`), note(`MAX |W| ${maxAbs(w1.subarray(o * k * k, (o + 1) * k * k)).toFixed(2)}`)],
      draw: (img, x, y) => {
        slices(img, x, y, { count: 1, kh: k, kw: k, tile: TILE * 2, value: (_i, r, c) => w1[(o * k + r) * k + c] });
      },
    })),
    6, TILE * 2, TILE * 2,
    [label(`CONV1: 6 FILTERS [6, 1, ${k}, ${k}]`), note('ONE SLICE EACH (THE DIGIT HAS ONE CHANNEL); EACH MAKES ONE OUTPUT CHANNEL')],
  );
  const rowW = ci2 * TILE + (ci2 - 1) * 17;
  const second = grid(
    Array.from({ length: co2 }, (_, o): Panel => ({
      lines: [note(`FILTER ${o} -> OUTPUT CHANNEL ${o}`)],
      draw: (img, x, y) => {
        slices(img, x, y, { count: ci2, kh: k, kw: k, tile: TILE, value: (i, r, c) => w2[((o * ci2 + i) * k + r) * k + c] });
      },
    })),
    2, rowW, TILE,
    [label(`CONV2: 16 FILTERS [16, 6, ${k}, ${k}]`), note('EACH A ROW OF 6 SLICES, ONE PER INPUT CHANNEL, WHOSE RESULTS ARE SUMMED'),
      note('COLOURS: ORANGE +, BLUE -, BLACK 0; EACH FILTER SCALED BY ITS OWN LARGEST |VALUE|')],
  );
  return stack([first.img, second.img]);
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * activations.png: digit `s` of a forward pass through each layer, one row of channels per layer. The
 * channels of a layer share one scale (its largest value), so their strengths compare; after a relu
 * every value is >= 0. The dense layers' outputs are drawn as grids of cells, the output as the
 * softmax probabilities.
 */
export function activationsPicture(a: Activations, s: number, label_: number): Canvas {
  const plane = (t: Tensor, c: number) => {
    const [, ch, h, w] = t.shape;
    return t.data.subarray((s * ch + c) * h * w, (s * ch + c + 1) * h * w);
  };
  const wide = 8 * 80 + 7 * 10; // the widest row (conv2: 8 channels of 80 px per row): the narrow panels get this width for their labels
  const sample = (t: Tensor) => t.data.subarray(s * (t.data.length / t.shape[0]), (s + 1) * (t.data.length / t.shape[0]));
  const maps = (name: string, t: Tensor, what: string, zoom: number, cols: number) => {
    const [, ch, h, w] = t.shape;
    const scale = maxAbs(sample(t)) || 1;
    return grid(
      Array.from({ length: ch }, (_, c): Panel => ({
        lines: [note(`${c}`)],
        draw: (img, x, y) => paint(img, x, y, w, h, zoom, (sx, sy) => diverging(plane(t, c)[sy * w + sx] / scale)),
      })),
      cols, w * zoom, h * zoom,
      [label(`${name}: [${t.shape.slice(1).join(', ')}]`), note(`${what}; SCALE: LARGEST VALUE ${scale.toFixed(2)}`)],
    ).img;
  };
  const cells = (name: string, t: Tensor, what: string, cols: number) => {
    const v = sample(t);
    const scale = maxAbs(v) || 1;
    const rows = Math.ceil(v.length / cols), z = 12;
    return grid(
      [{ lines: [], draw: (img, x, y) => paint(img, x, y, cols, rows, z, (sx, sy) => {
        const i = sy * cols + sx;
        return i < v.length ? diverging(v[i] / scale) : BG;
      }) }],
      1, Math.max(wide, cols * z), rows * z,
      [label(`${name}: [${t.shape.slice(1).join(', ')}]`), note(`${what}; ${cols} PER ROW; SCALE: LARGEST VALUE ${scale.toFixed(2)}`)],
    ).img;
  };
  const logits = sample(a.logits);
  const max = Math.max(...logits);
  const e = Array.from(logits, (z) => Math.exp(z - max));
  const sum = e.reduce((p, q) => p + q, 0);
  const probs = e.map((v) => v / sum);
  const guess = probs.indexOf(Math.max(...probs));
  const barW = 40, barH = 100;
  const output = grid(
    [{ lines: [], draw: (img, x, y) => {
      probs.forEach((p, d) => {
        const h = Math.round(p * barH);
        fillRect(img, x + d * barW + 6, y + barH - h, barW - 12, h, d === guess ? [235, 115, 20] : [120, 125, 135]);
        drawCentred(img, `${d}`, x + d * barW + barW / 2, y + barH + 6);
      });
    } }],
    1, Math.max(wide, 10 * barW), barH + 16,
    [label(`OUTPUT: SOFTMAX OF DENSE3 [10]`), note(`THE NETWORK SAYS ${guess} (${(100 * probs[guess]).toFixed(1)}%); THE LABEL IS ${label_}`)],
  ).img;
  const digit = grid(
    [{ lines: [], draw: (img, x, y) => paint(img, x, y, 28, 28, 4, (sx, sy) => {
      const g = Math.round(255 * Math.min(1, Math.max(0, plane(a.input, 0)[sy * 28 + sx])));
      return [g, g, g];
    }) }],
    1, wide, 112,
    [label('ONE TEST DIGIT THROUGH LENET'), note(`INPUT [1, 28, 28], LABEL ${label_}. COLOURS: ORANGE +, BLUE -, BLACK 0`)],
  ).img;
  return stack([
    digit,
    maps('CONV1 + RELU', a.conv1, '6 OUTPUT CHANNELS, ONE PER FILTER', 3, 6),
    maps('MAX POOL 2×2', a.pool1, 'EACH CHANNEL HALVED', 6, 6),
    maps('CONV2 + RELU', a.conv2, '16 CHANNELS, EACH THE SUM OF 6 SLICES OVER POOL1', 8, 8),
    maps('MAX POOL 2×2', reshape(a.pool2, [a.pool2.shape[0], 16, 5, 5]), '400 VALUES: THE INPUT OF DENSE1', 16, 8),
    cells('DENSE1 + RELU (1×1 CONV)', a.dense1, '120 CHANNELS OF ONE PIXEL', 20),
    cells('DENSE2 + RELU (1×1 CONV)', a.dense2, '84 CHANNELS OF ONE PIXEL', 20),
    output,
  ]);
}

const reshape = (t: Tensor, shape: number[]): Tensor => ({ data: t.data, shape });

function drawCentred(img: Canvas, text: string, cx: number, y: number): void {
  drawText(img, text, Math.round(cx - textWidth(text, 1) / 2), y, INK, 1);
}

/** training.svg: loss (training, test) and test accuracy per epoch, side by side. */
export function trainingSvg(history: EpochRecord[], title: string, testDigits: number): string {
  const testName = `test (${testDigits.toLocaleString('en-US')} held-out digits)`;
  const W = 940, H = 380, top = 64, bottom = 50, panelW = 380, gap = 80, left = 60;
  const plotH = H - top - bottom;
  const epochs = history[history.length - 1].epoch;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  const panel = (x0: number, name: string, lo: number, hi: number, series: { name: string; color: string; pts: [number, number][] }[],
    fmt: (v: number) => string, legendAtTop: boolean) => {
    const x = (e: number) => x0 + (e / Math.max(epochs, 1)) * panelW;
    const y = (v: number) => top + plotH - ((v - lo) / (hi - lo)) * plotH;
    out.push(`<text x="${x0}" y="${top - 12}" font-weight="bold">${esc(name)}</text>`);
    const step = niceStep(hi - lo);
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) {
      out.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e3e3"/>`);
      out.push(`<text x="${x0 - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${esc(fmt(v))}</text>`);
    }
    const estep = Math.max(1, Math.ceil(epochs / 10));
    for (let e = 0; e <= epochs; e += estep) {
      out.push(`<text x="${x(e).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" fill="#444">${e}</text>`);
    }
    out.push(`<text x="${x0 + panelW / 2}" y="${top + plotH + 34}" text-anchor="middle" fill="#444">epoch</text>`);
    out.push(`<line x1="${x0}" x2="${x0}" y1="${top}" y2="${top + plotH}" stroke="#888"/>`);
    out.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#888"/>`);
    series.forEach((s, i) => {
      if (s.pts.length === 0) return;
      const d = s.pts.map(([e, v], k) => `${k ? 'L' : 'M'}${x(e).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
      for (const [e, v] of s.pts) out.push(`<circle cx="${x(e).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(`${s.name}, epoch ${e}: ${fmt(v)}`)}</title></circle>`);
      const ly = legendAtTop ? top + 16 + 16 * i : top + plotH - 12 - 16 * (series.length - 1 - i);
      out.push(`<text x="${x0 + panelW - 4}" y="${ly}" text-anchor="end" fill="${s.color}">${esc(s.name)}</text>`);
    });
  };
  const losses = history.flatMap((h) => [h.testLoss, h.trainLoss ?? h.testLoss]);
  panel(left, 'loss (softmax cross-entropy)', 0, Math.max(...losses) * 1.05, [
    { name: 'training (mean over the epoch)', color: '#3b6ea8', pts: history.filter((h) => h.trainLoss !== undefined).map((h) => [h.epoch, h.trainLoss!]) },
    { name: testName, color: '#e08a2c', pts: history.map((h) => [h.epoch, h.testLoss]) },
  ], (v) => v.toFixed(2), true);
  const accs = history.filter((h) => h.epoch > 0).flatMap((h) => [h.testAccuracy, h.trainAccuracy ?? 1].map((a) => 100 * a));
  const lo = Math.min(90, Math.floor(Math.min(...accs, 100) / 5) * 5);
  panel(left + panelW + gap, `accuracy, % (epoch 0, untrained: ${(100 * history[0].testAccuracy).toFixed(1)}% on the test digits)`, lo, 100, [
    { name: testName, color: '#e08a2c', pts: history.filter((h) => h.epoch > 0).map((h) => [h.epoch, 100 * h.testAccuracy]) },
    { name: 'training (during the epoch)', color: '#3b6ea8', pts: history.filter((h) => h.trainAccuracy !== undefined).map((h) => [h.epoch, 100 * h.trainAccuracy!]) },
  ], (v) => v.toFixed(1), false);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export { encodePng };
