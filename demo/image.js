// Image input/output for the demo: PNG and JPEG decoding with pure-JS codecs (pngjs, jpeg-js: no
// native build, so `npm ci` never fails on them), planar float images, and a small RGBA canvas.
'use strict';
const fs = require('fs');
const { PNG } = require('pngjs');
const jpeg = require('jpeg-js');

/** A planar float image: data is [3, height, width] (R, G, B planes), values in 0..1. */
function planar(width, height) {
  return { width, height, data: new Float32Array(3 * width * height) };
}

/** An RGBA canvas filled with `rgb`. */
function canvas(width, height, rgb = [0, 0, 0]) {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    data[4 * i] = rgb[0];
    data[4 * i + 1] = rgb[1];
    data[4 * i + 2] = rgb[2];
    data[4 * i + 3] = 255;
  }
  return { width, height, data };
}

function fillRect(img, x, y, w, h, rgb) {
  for (let py = Math.max(0, y); py < Math.min(img.height, y + h); py++)
    for (let px = Math.max(0, x); px < Math.min(img.width, x + w); px++) {
      const i = (py * img.width + px) * 4;
      img.data[i] = rgb[0];
      img.data[i + 1] = rgb[1];
      img.data[i + 2] = rgb[2];
      img.data[i + 3] = 255;
    }
}

/**
 * Paints a width×height picture into `img` at (x, y), each source pixel as a scale×scale block;
 * `pixel(sx, sy)` returns its [r, g, b] in 0..255.
 */
function paint(img, x, y, width, height, scale, pixel) {
  for (let sy = 0; sy < height; sy++)
    for (let sx = 0; sx < width; sx++) {
      const rgb = pixel(sx, sy);
      fillRect(img, x + sx * scale, y + sy * scale, scale, scale, rgb);
    }
}

function encodePng(img) {
  // RGB without alpha and the strongest deflate level: the pictures are committed to the repo.
  return PNG.sync.write(img, { colorType: 2, deflateLevel: 9 });
}

function sniff(buf) {
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47 && buf.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  return null;
}

/**
 * Reads a PNG or JPEG file (recognised by its leading bytes, not its name) into a planar float image.
 * Transparent pixels are composited over black. Throws an Error with a clear message for a missing
 * file, an unsupported format or a corrupt image.
 */
function readImage(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    if (e.code === 'ENOENT') throw new Error(`image not found: ${file}`);
    if (e.code === 'EISDIR') throw new Error(`not a file: ${file}`);
    throw new Error(`cannot read ${file}: ${e.message}`);
  }
  const format = sniff(buf);
  if (!format) throw new Error(`unsupported image format: ${file} (expected a PNG or JPEG file)`);
  let rgba;
  try {
    rgba = format === 'png'
      ? PNG.sync.read(buf)
      : jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 100, maxMemoryUsageInMB: 1024 });
  } catch (e) {
    throw new Error(`cannot decode ${format.toUpperCase()} ${file}: ${e.message}`);
  }
  const { width, height, data } = rgba;
  if (!(width > 0 && height > 0)) throw new Error(`cannot decode ${format.toUpperCase()} ${file}: empty image`);
  const out = planar(width, height);
  const plane = width * height;
  for (let i = 0; i < plane; i++) {
    const a = data[4 * i + 3] / 255;
    for (let c = 0; c < 3; c++) out.data[c * plane + i] = (data[4 * i + c] / 255) * a;
  }
  return { image: out, format };
}

/**
 * Shrinks a planar image by area averaging so that its longer side is at most `maxSide` (the demo's
 * largest kernel is 35×35: a phone photo at full size would make a huge, slow convolution and a
 * picture too large to look at). Images that already fit are returned unchanged.
 */
function fitWithin(img, maxSide) {
  const long = Math.max(img.width, img.height);
  if (long <= maxSide) return img;
  const f = long / maxSide;
  const W = Math.max(1, Math.round(img.width / f));
  const H = Math.max(1, Math.round(img.height / f));
  const out = planar(W, H);
  const fx = img.width / W;
  const fy = img.height / H;
  for (let c = 0; c < 3; c++) {
    const src = img.data.subarray(c * img.width * img.height);
    for (let y = 0; y < H; y++) {
      const y0 = y * fy;
      const y1 = y0 + fy;
      for (let x = 0; x < W; x++) {
        const x0 = x * fx;
        const x1 = x0 + fx;
        let acc = 0;
        // Each source pixel weighted by the area it shares with the destination pixel.
        for (let sy = Math.floor(y0); sy < Math.ceil(y1); sy++) {
          const wy = Math.min(y1, sy + 1) - Math.max(y0, sy);
          for (let sx = Math.floor(x0); sx < Math.ceil(x1); sx++) {
            const wx = Math.min(x1, sx + 1) - Math.max(x0, sx);
            acc += src[sy * img.width + sx] * wx * wy;
          }
        }
        out.data[c * W * H + y * W + x] = acc / (fx * fy);
      }
    }
  }
  return out;
}

module.exports = { planar, canvas, fillRect, paint, encodePng, readImage, fitWithin, sniff };
