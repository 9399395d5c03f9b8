// The lecture's operations (Dive into Deep Learning, "Multiple Input and Multiple Output Channels"),
// each a thin shape adapter over conv2dSync, so they exercise the same kernels as everything else.
import { conv2dSync } from './conv';
import { codes, rangeError } from './errors';
import { readTensor, type Tensor } from './tensor';

const view = (t: Tensor, shape: number[]): Tensor => ({ data: t.data, shape });

/** Cross-correlation of one channel: X [h, w], K [kh, kw] -> [h - kh + 1, w - kw + 1]. */
export function corr2d(X: Tensor, K: Tensor): Tensor {
  X = readTensor(X, 'X', [2]); // a snapshot: each property read once
  K = readTensor(K, 'K', [2]);
  const y = conv2dSync(view(X, [1, ...X.shape]), view(K, [1, 1, ...K.shape]));
  return view(y, y.shape.slice(1));
}

/** Multiple input channels, summed: X [ci, h, w], K [ci, kh, kw] -> [oh, ow]. */
export function corr2dMultiIn(X: Tensor, K: Tensor): Tensor {
  X = readTensor(X, 'X', [3]); // a snapshot: each property read once
  K = readTensor(K, 'K', [3]);
  if (X.shape[0] !== K.shape[0]) {
    throw rangeError(codes.CHANNEL_MISMATCH, `K.shape[0] must equal X's channel count ${X.shape[0]}, got ${K.shape[0]}`);
  }
  const y = conv2dSync(X, view(K, [1, ...K.shape]));
  return view(y, y.shape.slice(1));
}

/** Multiple output channels, stacked: X [ci, h, w], K [co, ci, kh, kw] -> [co, oh, ow]. */
export function corr2dMultiInOut(X: Tensor, K: Tensor): Tensor {
  X = readTensor(X, 'X', [3]); // a snapshot: each property read once
  K = readTensor(K, 'K', [4]);
  return conv2dSync(X, K);
}

/**
 * 1×1 convolution as one matrix product: X [ci, h, w], K [co, ci, 1, 1] -> [co, h, w], i.e.
 * (co × ci) · (ci × h·w). The native 1×1 path feeds X to the GEMM directly, with no im2col.
 */
export function corr2dMultiInOut1x1(X: Tensor, K: Tensor): Tensor {
  X = readTensor(X, 'X', [3]); // a snapshot: each property read once
  K = readTensor(K, 'K', [4]);
  if (K.shape[2] !== 1 || K.shape[3] !== 1) {
    throw rangeError(codes.INVALID_SHAPE, `K must be [co, ci, 1, 1], got [${K.shape.join(', ')}]`);
  }
  return conv2dSync(X, K);
}
