#!/usr/bin/env node
// npm run demo -- [image.png|jpg] [--out DIR]
// "See the channels": splits a picture into its R, G, B channels (channels.png) and runs ONE conv2d
// call with a hand-made bank of 3-channel filters over it (features.png, features.json). Within each
// filter the three channel results are summed; across filters the outputs are stacked.
'use strict';
const fs = require('fs');
const path = require('path');
const { paint, encodePng, readImage, fitWithin } = require('./image');
const { drawText, textWidth } = require('./font');
const { INK, DIM, GAP, diverging, grid, slices } = require('./panels');
const { syntheticImage } = require('./synthetic');
const { makeBank, weightTensor, support, K } = require('./bank');

const MAX_SIDE = 320; // larger inputs are shrunk to fit (see fitWithin)
const PANEL = 256; // small inputs are enlarged by an integer factor towards this size for display

function loadChannelconv() {
  try {
    return require('../dist/index.js');
  } catch (e) {
    throw new Error(`cannot load channelconv from dist/ (${e.message.split('\n')[0]}); build it with \`npm run build\``);
  }
}

/** Parses the command line: at most one image path, --out DIR; returns { input, outDir, help }. */
function parseArgs(argv) {
  const opts = { input: null, outDir: 'demo-out', help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') opts.help = true;
    else if (a === '--out') {
      if (i + 1 >= argv.length) throw new Error('--out needs a directory');
      opts.outDir = argv[++i];
    } else if (a.startsWith('--out=')) opts.outDir = a.slice(6);
    else if (a.startsWith('-')) throw new Error(`unknown option ${a} (usage: npm run demo -- [image.png|jpg] [--out DIR])`);
    else if (opts.input !== null) throw new Error(`only one image at a time (got ${opts.input} and ${a})`);
    else opts.input = a;
  }
  return opts;
}

const to8 = (v) => Math.max(0, Math.min(255, Math.round(v * 255)));

/** Runs the demo; returns what it wrote. opts: { input: path | null, outDir, log, timingRuns = 3 }. */
async function runDemo(opts = {}) {
  const log = opts.log || (() => {});
  const outDir = opts.outDir || 'demo-out';
  let image;
  let source;
  if (opts.input) {
    const { image: raw, format } = readImage(opts.input);
    image = fitWithin(raw, MAX_SIDE);
    source = { file: opts.input, format, width: raw.width, height: raw.height };
  } else {
    image = syntheticImage();
    source = { file: null, format: 'synthetic', width: image.width, height: image.height };
  }
  const cc = loadChannelconv();
  const { width: W, height: H } = image;
  const plane = W * H;
  const bank = makeBank();
  const weight = weightTensor(bank);
  const input = { data: image.data, shape: [1, 3, H, W] };
  const options = { padding: 'same' };

  // The whole bank is one call: Cin = 3, Cout = bank.length.
  const time = async () => {
    const t0 = process.hrtime.bigint();
    const y = await cc.conv2d(input, weight, options);
    return { y, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  };
  const first = await time();
  const out = first.y;
  // The first call also starts the thread pool: time a few more and report the median (the CPU may
  // be shared; this is a run record, not a benchmark).
  const runs = [first.ms];
  for (let i = 1; i < (opts.timingRuns ?? 3); i++) runs.push((await time()).ms);
  const ms = [...runs].sort((a, b) => a - b)[runs.length >> 1];
  const cost = cc.convCost(input.shape, weight.shape, options);

  const stats = bank.map((f, o) => {
    const ch = out.data.subarray(o * plane, (o + 1) * plane);
    let min = Infinity;
    let max = -Infinity;
    let argmin = 0;
    let argmax = 0;
    for (let i = 0; i < plane; i++) {
      if (ch[i] < min) (min = ch[i]), (argmin = i);
      if (ch[i] > max) (max = ch[i]), (argmax = i);
    }
    return { min, max, argmin: [argmin % W, Math.floor(argmin / W)], argmax: [argmax % W, Math.floor(argmax / W)] };
  });

  // Display: small pictures enlarged by an integer factor; each panel shows one W×H plane.
  const s = Math.max(1, Math.floor(PANEL / Math.max(W, H)));
  const pw = W * s;
  const ph = H * s;
  const at = (c, x, y) => image.data[c * plane + y * W + x];
  const rgbPanel = (img, x, y) => paint(img, x, y, W, H, s, (sx, sy) => [0, 1, 2].map((c) => to8(at(c, sx, sy))));
  const label = (text) => [text, INK, textWidth(text, 2) <= pw ? 2 : 1];
  const note = (text) => [text, DIM, 1];

  const channelPanels = [
    { lines: [label('INPUT'), note(`${W}×${H}, 3 CHANNELS`)], draw: rgbPanel },
    {
      lines: [label('GREY'), note('MEAN OF R, G, B: COLOUR IS LOST')],
      draw: (img, x, y) => paint(img, x, y, W, H, s, (sx, sy) => {
        const g = to8((at(0, sx, sy) + at(1, sx, sy) + at(2, sx, sy)) / 3);
        return [g, g, g];
      }),
    },
    ...['RED', 'GREEN', 'BLUE'].map((name, c) => ({
      lines: [label(`${name} CHANNEL`), note(`CHANNEL ${c} OF THE INPUT`)],
      draw: (img, x, y) => paint(img, x, y, W, H, s, (sx, sy) => {
        const rgb = [0, 0, 0];
        rgb[c] = to8(at(c, sx, sy));
        return rgb;
      }),
    })),
  ];
  const channelsPng = grid(channelPanels, channelPanels.length, pw, ph, []);

  const fmt = (v) => (Math.abs(v) < 0.005 ? '0' : v.toFixed(2));
  // Under each feature panel: the filter's three slices, the planes that meet the R, G and B channels
  // before the sum, each drawn whole at one pixel per tap (TILE = K): a 1×1 filter is the one centre
  // pixel of its zero-padded K×K kernel, as its label says.
  const TILE = K;
  const footH = TILE + 8;
  const filterTiles = []; // where each filter's R, G, B tiles are drawn: [{ x, y, size }] per filter
  const filterFoot = (f) => (img, x, y) => {
    let cx = x;
    drawText(img, 'FILTER', cx, y + 6 + (TILE - 7) / 2, DIM, 1);
    cx += textWidth('FILTER', 1) + 8;
    filterTiles.push(slices(img, cx, y + 6, { count: 3, kh: K, kw: K, tile: TILE, labels: ['R', 'G', 'B'], value: (i, r, c) => f.planes[i][r * K + c] }).tiles);
  };
  const featurePanels = [
    {
      lines: [label('INPUT'), note(`[1, 3, ${H}, ${W}]`), note('R, G, B CHANNELS')],
      draw: rgbPanel,
    },
    ...bank.map((f, o) => {
      const ch = out.data.subarray(o * plane, (o + 1) * plane);
      const scale = Math.max(Math.abs(stats[o].min), Math.abs(stats[o].max)) || 1;
      const [, , kh, kw] = support(f);
      return {
        lines: [
          label(`${o} ${f.label}`),
          note(`OUTPUT CHANNEL ${o}: MIN ${fmt(stats[o].min)}, MAX ${fmt(stats[o].max)}`),
          note(kh === K && kw === K ? `FILTER 3×${K}×${K}` : `FILTER 3×${kh}×${kw}, ZERO-PADDED TO 3×${K}×${K}`),
        ],
        draw: (img, x, y) => paint(img, x, y, W, H, s, (sx, sy) => diverging(ch[sy * W + sx] / scale)),
        foot: filterFoot(f),
      };
    }),
  ];
  const cols = Math.ceil(Math.sqrt(featurePanels.length)); // a square-ish grid: 9 panels, 3 × 3
  // No timing in the picture: it is committed to the repo, and one run's time on a shared CPU says
  // little (features.json has it).
  const title = `ONE CONV2D CALL: X[1,3,${H},${W}] * K[${weight.shape.join(',')}] -> Y[${out.shape.join(',')}]`;
  const [co, ci, kh, kw] = weight.shape;
  const header = [
    [title, INK, textWidth(title, 2) <= cols * pw + (cols - 1) * GAP ? 2 : 1],
    [`X: INPUT, K: THE FILTER BANK (${co} FILTERS OF ${ci} SLICES), Y: OUTPUT. ` +
      `COST ${ci}·${co}·${kh}·${kw}·${H}·${W} = ${(cost.macs / 1e9).toPrecision(3)}E9 MULTIPLY-ADDS.`, DIM, 1],
    ['EACH OUTPUT CHANNEL = ONE FILTER: ITS R, G, B SLICES MEET THE R, G, B CHANNELS AND ARE SUMMED; THE OUTPUT CHANNELS ARE STACKED.', DIM, 1],
    ['COLOURS: ORANGE +, BLUE -, BLACK 0; EACH CHANNEL (AND EACH FILTER) SCALED BY ITS OWN LARGEST |VALUE|; FILTERS AT 1 PIXEL PER TAP', DIM, 1],
  ];
  const featuresPng = grid(featurePanels, cols, pw, ph, header, footH);

  const round = (v) => Number(v.toPrecision(4));
  const json = {
    input: {
      source: source.file === null ? 'synthetic' : source.file,
      format: source.format,
      decodedSize: [source.width, source.height],
      shape: input.shape,
      note: source.width !== W || source.height !== H ? `shrunk to fit ${MAX_SIDE} px by area averaging` : undefined,
    },
    conv2d: {
      call: "conv2d(input, weight, { padding: 'same' })",
      weightShape: weight.shape,
      outputShape: out.shape,
      ms: round(ms),
      runsMs: runs.map(round),
      macs: cost.macs,
      gflops: round(cost.flops / ms / 1e6),
      timing: `ms: median wall time of ${runs.length} identical calls (runsMs; the first includes thread start-up); the outputs shown are the first call's`,
      backend: cc.backendInfo().cpu,
    },
    channels: bank.map((f, o) => ({
      index: o,
      name: f.name,
      respondsTo: f.responds,
      min: round(stats[o].min),
      max: round(stats[o].max),
      argmin: stats[o].argmin,
      argmax: stats[o].argmax,
      display: `value / ${round(Math.max(Math.abs(stats[o].min), Math.abs(stats[o].max)))}`,
    })),
    filters: bank.map((f, o) => {
      const [r0, c0, kh, kw] = support(f);
      return {
        index: o,
        name: f.name,
        // Only the non-zero box is listed (rounded to 4 significant digits); the rest of the K×K kernel is zero.
        support: { rows: [r0, r0 + kh], cols: [c0, c0 + kw], of: [K, K] },
        weights: f.planes.map((p) =>
          Array.from({ length: kh }, (_, r) => Array.from({ length: kw }, (_, c) => round(p[(r0 + r) * K + c0 + c]))),
        ),
      };
    }),
  };

  fs.mkdirSync(outDir, { recursive: true });
  const paths = {
    channels: path.join(outDir, 'channels.png'),
    features: path.join(outDir, 'features.png'),
    json: path.join(outDir, 'features.json'),
  };
  fs.writeFileSync(paths.channels, encodePng(channelsPng.img));
  fs.writeFileSync(paths.features, encodePng(featuresPng.img));
  fs.writeFileSync(paths.json, JSON.stringify(json, null, 1) + '\n');
  log(`input: ${source.file === null ? 'synthetic picture' : source.file} -> [1, 3, ${H}, ${W}]`);
  log(`one conv2d call: [${input.shape}] * [${weight.shape}] -> [${out.shape}] in ${ms.toFixed(1)} ms (median of ${runs.length}) ` +
    `(${(cost.flops / ms / 1e6).toFixed(1)} GFLOP/s)`);
  for (const c of json.channels) log(`  channel ${c.index} ${c.name.padEnd(16)} min ${c.min.toFixed(3).padStart(7)}  max ${c.max.toFixed(3).padStart(7)}`);
  log(`wrote ${paths.channels}, ${paths.features}, ${paths.json}`);
  // Where each panel is, at what scale: lets the test check the pictures pixel by pixel.
  const layout = { scale: s, channels: channelsPng.rects, features: featuresPng.rects, filterTiles };
  return { paths, json, output: out, image, layout };
}

const USAGE = 'usage: npm run demo -- [image.png|jpg] [--out DIR]\n' +
  'Without an image, a synthetic test picture is used. Writes channels.png, features.png and\n' +
  'features.json to DIR (default demo-out/).';

/**
 * The command line: returns the exit status (0 done, 1 failed, 2 bad arguments) and the run's result.
 * `log` / `error` print a line (console.log / console.error from the shell).
 */
async function main(argv, { log = console.log, error = console.error } = {}) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    error(`demo: ${e.message}`);
    return { status: 2 };
  }
  if (opts.help) {
    log(USAGE);
    return { status: 0 };
  }
  try {
    return { status: 0, result: await runDemo({ ...opts, log }) };
  } catch (e) {
    error(`demo: ${e.message}`); // a message, not a stack trace: these are the user's mistakes
    return { status: 1 };
  }
}

module.exports = { runDemo, main, parseArgs, diverging, MAX_SIDE };

if (require.main === module) {
  main(process.argv.slice(2)).then(({ status }) => {
    process.exitCode = status;
  });
}
