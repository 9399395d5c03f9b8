// The demo's own test picture, drawn in code: every filter of the bank has something to find in it,
// and the test knows where (SCENE holds the coordinates). Pure red, green and blue areas all have the
// same grey value (1/3), so the grey panel of channels.png shows what a grey image loses.
'use strict';
const { planar } = require('./image');

const WIDTH = 256;
const HEIGHT = 192;

// Rectangles are [x0, y0, x1, y1) in pixels (pixel (x, y) covers [x, x+1) × [y, y+1), so centres at
// .5 sit on a pixel centre); colours are [r, g, b] in 0..1. Background is black.
const SCENE = {
  width: WIDTH,
  height: HEIGHT,
  green: { rect: [12, 12, 100, 84], color: [0, 1, 0] }, // a large pure green area
  verticalBar: { rect: [112, 12, 122, 180], color: [1, 1, 1] }, // long vertical edges at x = 112, 122
  horizontalBar: { rect: [12, 96, 100, 106], color: [1, 1, 1] }, // long horizontal edges at y = 96, 106
  diamond: { center: [190.5, 54.5], radius: 40, color: [1, 1, 1] }, // |x-cx| + |y-cy| <= r: four diagonal edges
  blue: { rect: [136, 112, 244, 180], color: [0, 0, 1] }, // a large pure blue area
  blob: { center: [52.5, 143.5], radius: 11, color: [1, 1, 1] }, // a round blob, the blob detector's size
  red: { rect: [12, 166, 56, 180], color: [1, 0, 0] }, // a red band: same grey as the green and blue areas ...
  greenBand: { rect: [56, 166, 100, 180], color: [0, 1, 0] }, // ... turning green at x = 56: no brightness edge
};

/**
 * Coverage in 0..1 of the pixel whose top-left corner is (x, y) by a shape given as `inside(px, py)`,
 * from 4×4 samples: anti-aliased edges for the round and diagonal shapes.
 */
function coverage(inside, x, y) {
  let n = 0;
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (inside(x + (j + 0.5) / 4, y + (i + 0.5) / 4)) n++;
  return n / 16;
}

/** Draws the synthetic picture: a planar float image [3, 192, 256]. */
function syntheticImage() {
  const img = planar(WIDTH, HEIGHT);
  const plane = WIDTH * HEIGHT;
  const put = (x, y, color, a) => {
    for (let c = 0; c < 3; c++) {
      const i = c * plane + y * WIDTH + x;
      img.data[i] = img.data[i] * (1 - a) + color[c] * a;
    }
  };
  const rect = ({ rect: [x0, y0, x1, y1], color }) => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) put(x, y, color, 1);
  };
  const shape = (inside, color) => {
    for (let y = 0; y < HEIGHT; y++)
      for (let x = 0; x < WIDTH; x++) {
        const a = coverage(inside, x, y);
        if (a > 0) put(x, y, color, a);
      }
  };
  rect(SCENE.green);
  rect(SCENE.verticalBar);
  rect(SCENE.horizontalBar);
  rect(SCENE.blue);
  rect(SCENE.red);
  rect(SCENE.greenBand);
  const d = SCENE.diamond;
  shape((px, py) => Math.abs(px - d.center[0]) + Math.abs(py - d.center[1]) <= d.radius, d.color);
  const b = SCENE.blob;
  shape((px, py) => Math.hypot(px - b.center[0], py - b.center[1]) <= b.radius, b.color);
  return img;
}

module.exports = { syntheticImage, SCENE };
