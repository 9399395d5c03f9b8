// The "see the channels" demo (demo/): runs it on its synthetic picture, on a PNG and on a JPEG, and
// checks that the pictures decode with the expected sizes, that they show the data, and that each
// filter of the bank finds its feature where the synthetic picture has it.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { createRequire } from 'module';
import * as os from 'os';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The demo is plain CommonJS run by Node (`npm run demo`); load it the same way, not through vite.
const require = createRequire(import.meta.url);
const root = path.join(__dirname, '..');
const { runDemo, main, parseArgs, diverging, MAX_SIDE } = require('../demo/demo.js');
const { SCENE } = require('../demo/synthetic.js');
const { PNG } = require('pngjs');
const jpeg = require('jpeg-js');

interface Rect { x: number; y: number; width: number; height: number }
interface Png { width: number; height: number; data: Buffer }

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'channelconv-demo-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const readPng = (file: string): Png => PNG.sync.read(fs.readFileSync(file));
const pixel = (img: Png, x: number, y: number) => {
  const i = (y * img.width + x) * 4;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
};

/** Writes an RGB picture given by f(x, y) -> [r, g, b] (0..255) as PNG or JPEG. */
function writeImage(file: string, width: number, height: number, f: (x: number, y: number) => number[]) {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const [r, g, b] = f(x, y);
      data.set([r, g, b, 255], (y * width + x) * 4);
    }
  const buf = file.endsWith('.png')
    ? PNG.sync.write({ width, height, data })
    : jpeg.encode({ width, height, data }, 95).data;
  fs.writeFileSync(file, buf);
}

describe('demo on the synthetic picture', () => {
  const out = path.join(tmp, 'synthetic');
  const logged: string[] = [];
  const errors: string[] = [];
  let status: number;
  let json: any;
  let W: number;
  let H: number;
  let ch: (o: number, x: number, y: number) => number;
  let result: any;

  beforeAll(async () => {
    // The command line's code path (`npm run demo -- --out DIR`), in-process to keep its tensors.
    ({ status, result } = await main(['--out', out], { log: (l: string) => logged.push(l), error: (l: string) => errors.push(l) }));
    json = JSON.parse(fs.readFileSync(path.join(out, 'features.json'), 'utf8'));
    [, , H, W] = json.input.shape;
    ch = (o, x, y) => result.output.data[(o * H + y) * W + x];
  });

  it('runs and writes the three files', () => {
    expect(errors).toEqual([]);
    expect(status).toBe(0);
    expect(logged.join('\n')).toMatch(/one conv2d call: \[1,3,192,256\] \* \[8,3,35,35\] -> \[1,8,192,256\]/);
    for (const f of ['channels.png', 'features.png', 'features.json']) expect(fs.existsSync(path.join(out, f))).toBe(true);
  });

  it('features.json: shapes, the bank, timing, per-channel min/max', () => {
    expect(json.input).toMatchObject({ source: 'synthetic', shape: [1, 3, 192, 256], decodedSize: [256, 192] });
    expect(json.conv2d.weightShape).toEqual([8, 3, 35, 35]);
    expect(json.conv2d.outputShape).toEqual([1, 8, 192, 256]);
    expect(json.conv2d.macs).toBe(8 * 3 * 35 * 35 * 192 * 256);
    expect(json.conv2d.runsMs).toHaveLength(3); // the CLI times 3 calls and reports the median
    expect(json.conv2d.ms).toBe([...json.conv2d.runsMs].sort((a: number, b: number) => a - b)[1]);
    expect(json.conv2d.ms).toBeGreaterThan(0);
    expect(json.channels.map((c: any) => c.name)).toEqual([
      'vertical edges', 'horizontal edges', 'diagonal / edges', 'diagonal \\ edges', 'blob', 'greenness', 'blueness', 'red-green edges',
    ]);
    expect(json.filters).toHaveLength(8);
    for (const f of json.filters) {
      expect(f.weights).toHaveLength(3); // one slice per input channel
      expect(f.weights[0]).toHaveLength(f.support.rows[1] - f.support.rows[0]);
      expect(f.weights[0][0]).toHaveLength(f.support.cols[1] - f.support.cols[0]);
    }
    // The 1×1 colour filters: a single centre tap per slice.
    expect(json.filters[5].support).toEqual({ rows: [17, 18], cols: [17, 18], of: [35, 35] });
    expect(json.filters[5].weights).toEqual([[[-0.5]], [[1]], [[-0.5]]]);
    // min/max in the file are the tensor's.
    json.channels.forEach((c: any, o: number) => {
      const plane = result.output.data.subarray(o * W * H, (o + 1) * W * H);
      expect(c.min).toBeCloseTo(Math.min(...plane), 3);
      expect(c.max).toBeCloseTo(Math.max(...plane), 3);
    });
  });

  it('the PNGs decode with the expected sizes', () => {
    const channels = readPng(path.join(out, 'channels.png'));
    const features = readPng(path.join(out, 'features.png'));
    // channels: 5 panels of 256×192 in a row (input, grey, R, G, B) with labels above.
    expect(channels.width).toBe(2 * 12 + 5 * 256 + 4 * 10);
    expect(channels.height).toBeGreaterThan(192 + 24);
    expect(channels.height).toBeLessThan(192 + 100);
    // features: input + 8 channels in a 3×3 grid.
    expect(features.width).toBe(2 * 12 + 3 * 256 + 2 * 10);
    expect(features.height).toBeGreaterThan(3 * 192 + 60);
    expect(features.height).toBeLessThan(3 * 192 + 400);
    expect(result.layout.channels).toHaveLength(5);
    expect(result.layout.features).toHaveLength(9);
  });

  it('docs/images holds the pictures this demo makes', () => {
    // Tolerant to the last bit of float rounding (another GEMM kernel may round differently).
    for (const f of ['channels.png', 'features.png']) {
      const made = readPng(path.join(out, f));
      const docs = readPng(path.join(root, 'docs', 'images', f));
      const hint = `docs/images/${f} is out of date: run npm run demo -- --out docs/images`;
      expect([docs.width, docs.height], hint).toEqual([made.width, made.height]);
      let diff = 0;
      for (let i = 0; i < made.data.length; i++) diff = Math.max(diff, Math.abs(made.data[i] - docs.data[i]));
      expect(diff, hint).toBeLessThanOrEqual(2);
    }
  });

  it('the synthetic picture has its shapes where SCENE says', () => {
    const at = (x: number, y: number) => [0, 1, 2].map((c) => result.image.data[(c * H + y) * W + x]);
    const mid = ([x0, y0, x1, y1]: number[]) => [Math.floor((x0 + x1) / 2), Math.floor((y0 + y1) / 2)];
    expect(at(...(mid(SCENE.green.rect) as [number, number]))).toEqual([0, 1, 0]);
    expect(at(...(mid(SCENE.blue.rect) as [number, number]))).toEqual([0, 0, 1]);
    expect(at(...(mid(SCENE.red.rect) as [number, number]))).toEqual([1, 0, 0]);
    expect(at(...(mid(SCENE.verticalBar.rect) as [number, number]))).toEqual([1, 1, 1]);
    expect(at(52, 143)).toEqual([1, 1, 1]); // blob centre
    expect(at(190, 54)).toEqual([1, 1, 1]); // diamond centre
    expect(at(2, 2)).toEqual([0, 0, 0]); // background
  });

  it('channels.png shows the input and each channel in its own colour', () => {
    const img = readPng(path.join(out, 'channels.png'));
    const [input, grey, red, green, blue] = result.layout.channels as Rect[];
    const p = (r: Rect, x: number, y: number) => pixel(img, r.x + x, r.y + y);
    const g = [50, 40]; // inside the green rectangle
    expect(p(input, g[0], g[1])).toEqual([0, 255, 0]);
    expect(p(grey, g[0], g[1])).toEqual([85, 85, 85]); // (0 + 255 + 0) / 3: same grey as ...
    expect(p(grey, 150, 150)).toEqual([85, 85, 85]); // ... the blue rectangle
    expect(p(grey, 50, 172)).toEqual([85, 85, 85]); // ... and the red band
    expect(p(red, g[0], g[1])).toEqual([0, 0, 0]);
    expect(p(green, g[0], g[1])).toEqual([0, 255, 0]);
    expect(p(blue, g[0], g[1])).toEqual([0, 0, 0]);
    expect(p(red, 50, 172)).toEqual([255, 0, 0]);
    expect(p(blue, 150, 150)).toEqual([0, 0, 255]);
    expect(p(red, 116, 100)).toEqual([255, 0, 0]); // white bar: in every channel
    expect(p(green, 116, 100)).toEqual([0, 255, 0]);
  });

  it('features.png shows each output channel with its own scale', () => {
    const img = readPng(path.join(out, 'features.png'));
    const rects = result.layout.features as Rect[];
    expect(pixel(img, rects[0].x + 50, rects[0].y + 40)).toEqual([0, 255, 0]); // the input panel
    // Greenness (channel 5, panel 6): its maximum (the green area) at the top of the ramp, the white
    // bar at zero (black), the blue area at -0.5 / 1.
    const green = rects[6];
    expect(pixel(img, green.x + 50, green.y + 40)).toEqual(diverging(1));
    expect(pixel(img, green.x + 116, green.y + 100)).toEqual([0, 0, 0]);
    expect(pixel(img, green.x + 150, green.y + 150)).toEqual(diverging(-0.5));
    // Vertical edges (channel 0, panel 1): +1 on the bar's left edge, -1 on its right edge.
    const vert = rects[1];
    expect(pixel(img, vert.x + 111, vert.y + 100)).toEqual(diverging(1));
    expect(pixel(img, vert.x + 121, vert.y + 100)).toEqual(diverging(-1));
  });

  it('the colours are the legend\'s: full-scale + is orange (not a pale tint), - blue, 0 black, linear between', () => {
    const [r, g, b] = diverging(1);
    expect(r).toBeGreaterThan(200); // orange: strong red, half green, little blue; far from white
    expect(g).toBeGreaterThan(90);
    expect(g).toBeLessThan(170);
    expect(b).toBeLessThan(60);
    const [nr, , nb] = diverging(-1);
    expect(nb).toBeGreaterThan(200);
    expect(nr).toBeLessThan(80);
    expect(diverging(0)).toEqual([0, 0, 0]);
    expect(diverging(2)).toEqual(diverging(1)); // clamped
    expect(diverging(0.5)).toEqual(diverging(1).map((v: number) => Math.round(v / 2)));
    // In the picture: the greenness channel's maximum (the green area) is drawn in that orange.
    const img = readPng(path.join(out, 'features.png'));
    const green = (result.layout.features as Rect[])[6];
    expect(pixel(img, green.x + 50, green.y + 40)).toEqual([r, g, b]);
  });

  it('filter thumbnails are the whole 35×35 kernel at one pixel per tap: a 1×1 filter is one centre pixel', () => {
    const img = readPng(path.join(out, 'features.png'));
    const tiles = result.layout.filterTiles as { x: number; y: number; size: number }[][];
    expect(tiles).toHaveLength(8);
    // The box of the non-black pixels of a tile.
    const box = (t: { x: number; y: number; size: number }) => {
      let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
      for (let y = 0; y < t.size; y++)
        for (let x = 0; x < t.size; x++)
          if (pixel(img, t.x + x, t.y + y).some((v) => v > 0)) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
      return [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
    };
    for (const filter of [5, 6]) {
      for (const t of tiles[filter]) {
        expect(t.size).toBe(35);
        expect(box(t)).toEqual([17, 17, 1, 1]); // the centre tap of the zero-padded 35×35 kernel
      }
    }
    // The vertical edge filter's label says 3×35×7: its thumbnail is 7 taps wide, 35 high.
    expect(box(tiles[0][0])).toEqual([14, 0, 7, 35]);
    // The red-green edge filter's B slice is all zero: a black tile.
    expect(box(tiles[7][2])[2]).toBe(-Infinity);
  });

  it('the red-green edge filter: different slices, summed, find what the brightness filters cannot', () => {
    // Its slices differ: the vertical edge on R, the same edge negated on G, zero on B.
    const [R, G, B] = json.filters[7].weights as number[][][];
    expect(R.flat().some((v) => v !== 0)).toBe(true);
    expect(G).toEqual(R.map((row) => row.map((v) => (v === 0 ? 0 : -v))));
    expect(B.flat().every((v) => v === 0)).toBe(true);
    const [x0, y0, x1, y1] = SCENE.red.rect;
    const mid = Math.floor((y0 + y1) / 2);
    // Where the red band turns green (x = 56): R - G falls by 2, no brightness change. The channel's
    // strongest response (its minimum) is there; the vertical brightness edge filter sees nothing.
    const c7 = json.channels[7];
    expect([x1 - 1, x1]).toContain(c7.argmin[0]);
    expect(c7.argmin[1]).toBeGreaterThanOrEqual(y0);
    expect(c7.argmin[1]).toBeLessThan(y1);
    expect(ch(7, x1, mid)).toBeLessThan(-1.2); // the band is only 14 px high: not the full -2
    expect(Math.abs(ch(0, x1, mid))).toBeLessThan(0.02);
    // Black to green (the green area's left edge): -1; green to black (its right edge): +1; black to
    // red (the band's left end): +; the white bar's edges, where R and G rise together: 0.
    const [gx0, gy0, gx1, gy1] = SCENE.green.rect;
    const gmid = Math.floor((gy0 + gy1) / 2);
    expect(ch(7, gx0, gmid)).toBeCloseTo(-1, 3);
    expect(ch(7, gx1 - 1, gmid)).toBeCloseTo(1, 3);
    expect(ch(7, x0, mid)).toBeGreaterThan(0.5);
    const [bx0, , bx1] = SCENE.verticalBar.rect;
    expect(Math.abs(ch(7, bx0, 100))).toBeLessThan(1e-4);
    expect(Math.abs(ch(7, bx1 - 1, 100))).toBeLessThan(1e-4);
    expect(ch(0, bx0, 100)).toBeCloseTo(1, 2); // which the brightness filter sees at full strength
  });

  it('one conv2d call: within each filter the three channels are summed', () => {
    // Greenness is G - (R + B) / 2 at every pixel; blueness is B - (R + G) / 2.
    const x = result.image.data;
    let err = 0;
    for (let i = 0; i < W * H; i++) {
      const [r, g, b] = [x[i], x[W * H + i], x[2 * W * H + i]];
      err = Math.max(err, Math.abs(result.output.data[5 * W * H + i] - (g - (r + b) / 2)));
      err = Math.max(err, Math.abs(result.output.data[6 * W * H + i] - (b - (r + g) / 2)));
    }
    expect(err).toBeLessThan(1e-6);
  });

  it('vertical and horizontal edge channels peak on vertical and horizontal edges', () => {
    const rects = [SCENE.green, SCENE.verticalBar, SCENE.horizontalBar, SCENE.blue, SCENE.red, SCENE.greenBand].map((s: any) => s.rect);
    // Pixel x - 1 and x straddle a vertical edge at x.
    const onVertical = ([x, y]: number[]) =>
      rects.some(([x0, y0, x1, y1]: number[]) => y >= y0 && y < y1 && [x0, x1].some((e) => x === e || x === e - 1));
    const onHorizontal = ([x, y]: number[]) =>
      rects.some(([x0, y0, x1, y1]: number[]) => x >= x0 && x < x1 && [y0, y1].some((e) => y === e || y === e - 1));
    const [v, h] = json.channels;
    expect(onVertical(v.argmax)).toBe(true);
    expect(onVertical(v.argmin)).toBe(true);
    expect(onHorizontal(h.argmax)).toBe(true);
    expect(onHorizontal(h.argmin)).toBe(true);
    expect(v.max).toBeCloseTo(1, 3); // a unit step (black to white) gives 1
    // Signs and orientation selectivity on the white bars (away from their ends).
    const [bx0, , bx1] = SCENE.verticalBar.rect;
    expect(ch(0, bx0, 100)).toBeCloseTo(1, 2); // dark -> bright to the right
    expect(ch(0, bx1 - 1, 100)).toBeCloseTo(-1, 2);
    expect(Math.abs(ch(1, bx0, 100))).toBeLessThan(0.02); // horizontal filter ignores a vertical edge
    const [, hy0, , hy1] = SCENE.horizontalBar.rect;
    expect(ch(1, 56, hy0)).toBeCloseTo(1, 2);
    expect(ch(1, 56, hy1 - 1)).toBeCloseTo(-1, 2);
    expect(Math.abs(ch(0, 56, hy0))).toBeLessThan(0.02);
  });

  it('diagonal channels peak on the diamond sides of their own direction', () => {
    const { center: [cx, cy], radius } = SCENE.diamond;
    const onSide = ([x, y]: number[]) => Math.abs(Math.abs(x + 0.5 - cx) + Math.abs(y + 0.5 - cy) - radius) <= 2;
    const [, , slash, backslash] = json.channels;
    for (const c of [slash, backslash]) {
      expect(onSide(c.argmax)).toBe(true);
      expect(onSide(c.argmin)).toBe(true);
    }
    // '/' sides: top-left (+, brighter below right) and bottom-right (-); '\': bottom-left (+), top-right (-).
    const quadrant = ([x, y]: number[]) => `${y < cy ? 'top' : 'bottom'}-${x < cx ? 'left' : 'right'}`;
    expect(quadrant(slash.argmax)).toBe('top-left');
    expect(quadrant(slash.argmin)).toBe('bottom-right');
    expect(quadrant(backslash.argmax)).toBe('bottom-left');
    expect(quadrant(backslash.argmin)).toBe('top-right');
    // A vertical edge gives a diagonal filter far less than a diagonal edge of the same contrast.
    let onBar = 0;
    for (let y = 60; y < 140; y++) for (let x = 100; x < 134; x++) onBar = Math.max(onBar, Math.abs(ch(2, x, y)));
    expect(onBar).toBeLessThan(0.3 * slash.max);
  });

  it('the blob detector peaks at the blob centre; colour channels inside their areas', () => {
    const blob = json.channels[4];
    const [bx, by] = SCENE.blob.center;
    expect(Math.hypot(blob.argmax[0] + 0.5 - bx, blob.argmax[1] + 0.5 - by)).toBeLessThanOrEqual(1.5);
    expect(blob.max).toBeGreaterThan(0.8);
    const inside = ([x, y]: number[], [x0, y0, x1, y1]: number[]) => x >= x0 && x < x1 && y >= y0 && y < y1;
    expect(inside(json.channels[5].argmax, SCENE.green.rect)).toBe(true);
    expect(inside(json.channels[6].argmax, SCENE.blue.rect)).toBe(true);
    expect(json.channels[5].max).toBeCloseTo(1, 5);
    expect(json.channels[6].max).toBeCloseTo(1, 5);
    // The white bar is bright but colourless: zero greenness and blueness.
    expect(ch(5, 116, 100)).toBeCloseTo(0, 5);
    expect(ch(6, 116, 100)).toBeCloseTo(0, 5);
  });
});

describe('demo on image files', () => {
  it('reads a PNG (and shrinks a large one to fit)', async () => {
    const file = path.join(tmp, 'wide.png');
    // 400×100: left half pure green, right half pure blue.
    writeImage(file, 400, 100, (x) => (x < 200 ? [0, 255, 0] : [0, 0, 255]));
    const outDir = path.join(tmp, 'png');
    const r = await runDemo({ input: file, outDir, timingRuns: 1 });
    expect(MAX_SIDE).toBe(320);
    expect(r.json.input).toMatchObject({ source: file, format: 'png', decodedSize: [400, 100], shape: [1, 3, 80, 320] });
    expect(r.json.conv2d.outputShape).toEqual([1, 8, 80, 320]);
    const channels = readPng(path.join(outDir, 'channels.png'));
    expect(channels.width).toBe(2 * 12 + 5 * 320 + 4 * 10);
    expect(readPng(path.join(outDir, 'features.png')).width).toBe(2 * 12 + 3 * 320 + 2 * 10);
    const [gx, gy] = r.json.channels[5].argmax;
    const [bx] = r.json.channels[6].argmax;
    expect(gx).toBeLessThan(160);
    expect(gy).toBeLessThan(80);
    expect(bx).toBeGreaterThanOrEqual(160);
    // Pure green and pure blue have the same brightness (1/3): the brightness edge filter does not see
    // their boundary at x = 160, but the colour channels jump across it.
    const at = (o: number, x: number, y: number) => r.output.data[(o * 80 + y) * 320 + x];
    for (const x of [158, 159, 160, 161]) expect(Math.abs(at(0, x, 40))).toBeLessThan(1e-5);
    expect(at(5, 150, 40)).toBeCloseTo(1, 5);
    expect(at(5, 170, 40)).toBeCloseTo(-0.5, 5);
    expect(at(6, 150, 40)).toBeCloseTo(-0.5, 5);
    expect(at(6, 170, 40)).toBeCloseTo(1, 5);
  });

  it('reads a JPEG and enlarges a small one for display', async () => {
    const file = path.join(tmp, 'small.jpg');
    // 48×40: a white disk (radius 11, the blob detector's size) on black.
    writeImage(file, 48, 40, (x, y) => (Math.hypot(x + 0.5 - 24, y + 0.5 - 20) <= 11 ? [255, 255, 255] : [0, 0, 0]));
    const outDir = path.join(tmp, 'jpeg');
    const r = await runDemo({ input: file, outDir, timingRuns: 1 });
    expect(r.json.input).toMatchObject({ format: 'jpeg', decodedSize: [48, 40], shape: [1, 3, 40, 48] });
    expect(r.layout.scale).toBe(5); // floor(256 / 48)
    const features = readPng(path.join(outDir, 'features.png'));
    expect(features.width).toBe(2 * 12 + 3 * 240 + 2 * 10);
    const [x, y] = r.json.channels[4].argmax;
    expect(Math.hypot(x + 0.5 - 24, y + 0.5 - 20)).toBeLessThanOrEqual(1.5);
  });

  it('a missing file or an unsupported format is a clear error', async () => {
    await expect(runDemo({ input: path.join(tmp, 'nope.png'), outDir: tmp })).rejects.toThrow(/image not found: .*nope\.png/);
    const gif = path.join(tmp, 'pic.png'); // named .png, but a GIF inside: recognised by content
    fs.writeFileSync(gif, Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'));
    await expect(runDemo({ input: gif, outDir: tmp })).rejects.toThrow(/unsupported image format: .*pic\.png \(expected a PNG or JPEG file\)/);
    const broken = path.join(tmp, 'broken.png');
    fs.writeFileSync(broken, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(20)]));
    await expect(runDemo({ input: broken, outDir: tmp })).rejects.toThrow(/cannot decode PNG/);
    // The command line (a real process) prints the message and exits with status 1, no stack trace.
    const r = spawnSync(process.execPath, ['demo/demo.js', path.join(tmp, 'nope.png'), '--out', tmp], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`demo: image not found: ${path.join(tmp, 'nope.png')}`);
  });

  it('command-line arguments', () => {
    expect(parseArgs([])).toEqual({ input: null, outDir: 'demo-out', help: false });
    expect(parseArgs(['a.jpg', '--out', 'x'])).toEqual({ input: 'a.jpg', outDir: 'x', help: false });
    expect(parseArgs(['--out=y', 'b.png'])).toEqual({ input: 'b.png', outDir: 'y', help: false });
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown option --bogus/);
    expect(() => parseArgs(['a.png', 'b.png'])).toThrow(/only one image/);
    expect(() => parseArgs(['--out'])).toThrow(/--out needs a directory/);
    const r = spawnSync(process.execPath, ['demo/demo.js', '--bogus'], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^demo: unknown option --bogus/);
  });
});
