// The hand-made filter bank: 8 filters of 3 channels each, all K×K so that the whole bank is one
// weight tensor [8, 3, K, K] and one conv2d call. Smaller filters sit at the centre of their K×K
// kernel with zeros around them (the 1×1 colour filters are a single centre tap).
'use strict';

const BLOB_RADIUS = 11; // matches the synthetic picture's blob
const RING_RADIUS = 17; // the surround: a ring from BLOB_RADIUS to RING_RADIUS
const K = 2 * RING_RADIUS + 1; // 35: the largest filter sets the common kernel size
const C = (K - 1) / 2; // the centre tap

// Oriented edge detectors: the derivative of an elongated Gaussian (sigma 1.2 px across the edge, 7 px
// along it, cut at 3 sigma and at the kernel's edge). The elongation makes them orientation-selective: an edge at 45°
// to the filter cuts both lobes in half, which largely cancel.
const SIGMA_ACROSS = 1.2;
const SIGMA_ALONG = 7;

/** One K×K plane: a Float64Array indexed [row * K + col], row = y offset + C, col = x offset + C. */
function orientedEdge(nx, ny) {
  // (nx, ny): unit normal of the edge, pointing to the bright side for a positive response
  // (x right, y down; the conv is a cross-correlation, so no kernel flip).
  const p = new Float64Array(K * K);
  let positive = 0;
  for (let r = 0; r < K; r++)
    for (let c = 0; c < K; c++) {
      const dx = c - C;
      const dy = r - C;
      const u = dx * nx + dy * ny; // across the edge
      const v = -dx * ny + dy * nx; // along the edge
      if (Math.abs(u) > 3 * SIGMA_ACROSS || Math.abs(v) > 3 * SIGMA_ALONG) continue;
      const w = u * Math.exp(-(u * u) / (2 * SIGMA_ACROSS ** 2) - (v * v) / (2 * SIGMA_ALONG ** 2));
      p[r * K + c] = w;
      if (w > 0) positive += w;
    }
  // A unit step from dark to bright across the edge then gives exactly +1 (the kernel is odd in u).
  for (let i = 0; i < p.length; i++) p[i] /= positive;
  return p;
}

/** Centre-surround: mean brightness in a disk minus mean brightness in the ring around it. */
function centreSurround() {
  const disk = new Float64Array(K * K);
  const ring = new Float64Array(K * K);
  let sd = 0;
  let sr = 0;
  for (let r = 0; r < K; r++)
    for (let c = 0; c < K; c++) {
      // Anti-aliased radii so the disk and ring are round, not jagged.
      const d = Math.hypot(r - C, c - C);
      const inDisk = Math.min(1, Math.max(0, BLOB_RADIUS + 0.5 - d));
      const inOuter = Math.min(1, Math.max(0, RING_RADIUS + 0.5 - d));
      disk[r * K + c] = inDisk;
      ring[r * K + c] = inOuter - inDisk;
      sd += inDisk;
      sr += inOuter - inDisk;
    }
  // Zero sum: a flat area gives 0; a bright disk of the right size on a dark ground gives its contrast.
  return disk.map((v, i) => v / sd - ring[i] / sr);
}

function centreTap(value) {
  const p = new Float64Array(K * K);
  p[C * K + C] = value;
  return p;
}

const third = (p) => p.map((v) => v / 3);

// Each filter: one plane per input channel (R, G, B). The spatial filters weight the three channels
// equally (they look at brightness, the mean of R, G and B); the colour filters look at no neighbours
// and only mix channels, like a 1×1 convolution; the colour-opponent edge has different slices: the
// vertical edge on R, the same edge negated on G, nothing on B, summed, it sees where red turns to
// green, which has no brightness edge, and not a white edge, where R and G cancel.
function makeBank() {
  const s = Math.SQRT1_2;
  const spatial = (p) => [third(p), third(p), third(p)];
  return [
    {
      name: 'vertical edges',
      label: 'VERTICAL EDGES',
      responds: 'brightness changing from left to right (+: brighter to the right)',
      planes: spatial(orientedEdge(1, 0)),
    },
    {
      name: 'horizontal edges',
      label: 'HORIZONTAL EDGES',
      responds: 'brightness changing from top to bottom (+: brighter below)',
      planes: spatial(orientedEdge(0, 1)),
    },
    {
      name: 'diagonal / edges',
      label: 'DIAGONAL / EDGES',
      responds: 'edges running like / (+: brighter below right)',
      planes: spatial(orientedEdge(s, s)),
    },
    {
      name: 'diagonal \\ edges',
      label: 'DIAGONAL \\ EDGES',
      responds: 'edges running like \\ (+: brighter above right)',
      planes: spatial(orientedEdge(s, -s)),
    },
    {
      name: 'blob',
      label: 'ROUND BLOBS',
      responds: `a bright disk of radius ~${BLOB_RADIUS} px on a darker surround (centre minus ring)`,
      planes: spatial(centreSurround()),
    },
    {
      name: 'greenness',
      label: 'GREENNESS 1×1',
      responds: 'green minus the mean of red and blue, per pixel (no neighbours)',
      planes: [centreTap(-0.5), centreTap(1), centreTap(-0.5)],
    },
    {
      name: 'blueness',
      label: 'BLUENESS 1×1',
      responds: 'blue minus the mean of red and green, per pixel (no neighbours)',
      planes: [centreTap(-0.5), centreTap(-0.5), centreTap(1)],
    },
    {
      name: 'red-green edges',
      label: 'RED-GREEN EDGES',
      responds: 'red minus green changing from left to right (+: redder to the right); blind to brightness edges',
      planes: [orientedEdge(1, 0), orientedEdge(1, 0).map((v) => -v), new Float64Array(K * K)],
    },
  ];
}

/** The bank as one OIHW weight tensor: data [Cout = bank size, Cin = 3, K, K]. */
function weightTensor(bank) {
  const data = new Float32Array(bank.length * 3 * K * K);
  bank.forEach((f, o) => f.planes.forEach((p, i) => data.set(p, (o * 3 + i) * K * K)));
  return { data, shape: [bank.length, 3, K, K] };
}

/** The smallest [row0, col0, rows, cols] box that holds every non-zero weight of a filter. */
function support(f) {
  let r0 = K;
  let r1 = -1;
  let c0 = K;
  let c1 = -1;
  for (const p of f.planes)
    for (let r = 0; r < K; r++)
      for (let c = 0; c < K; c++)
        if (p[r * K + c] !== 0) {
          r0 = Math.min(r0, r);
          r1 = Math.max(r1, r);
          c0 = Math.min(c0, c);
          c1 = Math.max(c1, c);
        }
  return [r0, c0, r1 - r0 + 1, c1 - c0 + 1];
}

module.exports = { makeBank, weightTensor, support, K, BLOB_RADIUS, RING_RADIUS };
