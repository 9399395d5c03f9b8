// Shared by the demo and the LeNet example (examples/lenet): the colours, the signed colour map and
// the grid of labelled panels the pictures are laid out in.
'use strict';
const { canvas, fillRect, paint } = require('./image');
const { drawText, textWidth } = require('./font');

const BG = [22, 24, 30];
const INK = [235, 235, 235];
const DIM = [150, 155, 165];
const GAP = 10;
const MARGIN = 12;

// Display colour map for signed responses: 0 is black, +1 (the channel's largest |value|) full orange,
// -1 full blue, linear in between, so weak responses stay dim and the strongest ones are the colours
// the legend names (never a pale tint that could pass for the white of the input). t is the value
// divided by the channel's largest |value|.
const POS = [255, 140, 20];
const NEG = [40, 120, 255];
function diverging(t) {
  const a = Math.min(1, Math.abs(t));
  return (t >= 0 ? POS : NEG).map((v) => Math.round(v * a));
}

/**
 * Lays out labelled panels in a grid. panels = [{ lines: [[text, rgb, scale]], draw(img, x, y),
 * foot?(img, x, y) }]; `foot` draws into a strip of footH pixels under the panel. Returns the
 * picture and where each panel's image lies in it.
 */
function grid(panels, cols, pw, ph, header, footH = 0) {
  const lineH = (scale) => 7 * scale + 4;
  const labelH = Math.max(...panels.map((p) => p.lines.reduce((h, [, , s]) => h + lineH(s), 0))) + 2;
  const headerH = header.reduce((h, [, , s]) => h + lineH(s), 0) + (header.length ? 6 : 0);
  const rows = Math.ceil(panels.length / cols);
  const cellH = labelH + ph + footH;
  const W = 2 * MARGIN + cols * pw + (cols - 1) * GAP;
  const H = 2 * MARGIN + headerH + rows * cellH + (rows - 1) * GAP;
  const img = canvas(W, H, BG);
  const rects = [];
  let y = MARGIN;
  for (const [text, rgb, scale] of header) {
    drawText(img, fit(text, W - 2 * MARGIN, scale), MARGIN, y, rgb, scale);
    y += lineH(scale);
  }
  panels.forEach((p, k) => {
    const x0 = MARGIN + (k % cols) * (pw + GAP);
    const top = MARGIN + headerH + Math.floor(k / cols) * (cellH + GAP);
    let y0 = top;
    for (const [text, rgb, scale] of p.lines) {
      drawText(img, fit(text, pw, scale), x0, y0, rgb, scale);
      y0 += lineH(scale);
    }
    p.draw(img, x0, top + labelH);
    rects.push({ x: x0, y: top + labelH, width: pw, height: ph });
    if (p.foot) p.foot(img, x0, top + labelH + ph);
  });
  return { img, rects };
}

/** Shortens a label that would not fit in `width` pixels at `scale`. */
function fit(text, width, scale) {
  let t = text;
  while (t.length > 1 && textWidth(t, scale) > width) t = t.slice(0, -1);
  return t;
}

/**
 * Draws one filter's slices side by side, joined by '+': slice i meets input channel i and the
 * results are summed. Each slice is kh×kw values value(i, row, col), enlarged by an integer factor into
 * a black tile×tile square whose top-left corner is at y, coloured by `diverging` scaled by the largest
 * |value| of the whole filter. labels[i], when given, precedes slice i. Returns where the tiles are
 * ({ x, y, size } each) and the x after the last one.
 */
function slices(img, x, y, { count, kh, kw, tile, value, labels }) {
  const z = Math.max(1, Math.floor(tile / Math.max(kh, kw)));
  let wmax = 0;
  for (let i = 0; i < count; i++) for (let r = 0; r < kh; r++) for (let c = 0; c < kw; c++) wmax = Math.max(wmax, Math.abs(value(i, r, c)));
  const textY = y + Math.floor((tile - 7) / 2);
  const tiles = [];
  let cx = x;
  for (let i = 0; i < count; i++) {
    if (labels) {
      drawText(img, labels[i], cx, textY, INK, 1);
      cx += textWidth(labels[i], 1) + 4;
    }
    fillRect(img, cx, y, tile, tile, [0, 0, 0]);
    const ox = cx + Math.floor((tile - kw * z) / 2);
    const oy = y + Math.floor((tile - kh * z) / 2);
    paint(img, ox, oy, kw, kh, z, (sx, sy) => diverging(wmax > 0 ? value(i, sy, sx) / wmax : 0));
    tiles.push({ x: cx, y, size: tile });
    cx += tile;
    if (i < count - 1) {
      drawText(img, '+', cx + 6, textY, DIM, 1);
      cx += 17;
    }
  }
  return { tiles, end: cx };
}

module.exports = { BG, INK, DIM, GAP, MARGIN, diverging, grid, fit, slices };
