// The lecture's worked examples, exact values.
import { describe, expect, it } from 'vitest';
import {
  conv2dSync, convCost, corr2d, corr2dMultiIn, corr2dMultiInOut, corr2dMultiInOut1x1, tensor, toNested,
} from '../lib/index';
import { refConv, relError, rng } from './helpers';

const X = tensor([
  [[0, 1, 2], [3, 4, 5], [6, 7, 8]],
  [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
]);
const K = tensor([
  [[0, 1], [2, 3]],
  [[1, 2], [3, 4]],
]);

describe('the lecture', () => {
  it('corr2d of one channel', () => {
    const y = corr2d(tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]]), tensor([[0, 1], [2, 3]]));
    expect(y.shape).toEqual([2, 2]);
    expect(toNested(y)).toEqual([[19, 25], [37, 43]]);
  });

  it('corr2d detects a vertical edge with K = [1, -1]', () => {
    const img = tensor(Array.from({ length: 6 }, () => [1, 1, 0, 0, 0, 0, 1, 1]));
    const y = corr2d(img, tensor([[1, -1]]));
    expect(toNested(y)).toEqual(Array.from({ length: 6 }, () => [0, 1, 0, 0, 0, -1, 0]));
  });

  it('multiple input channels are summed: 56 at the top left', () => {
    const y = corr2dMultiIn(X, K);
    expect(y.shape).toEqual([2, 2]);
    expect(toNested(y)).toEqual([[56, 72], [104, 120]]);
  });

  it('multiple output channels are stacked: K, K+1, K+2', () => {
    const K3 = tensor([0, 1, 2].map((d) => (toNested(K) as number[][][]).map((c) => c.map((r) => r.map((v) => v + d)))));
    expect(K3.shape).toEqual([3, 2, 2, 2]);
    const y = corr2dMultiInOut(X, K3);
    expect(y.shape).toEqual([3, 2, 2]);
    expect(toNested(y)).toEqual([
      [[56, 72], [104, 120]],
      [[76, 100], [148, 172]],
      [[96, 128], [192, 224]],
    ]);
  });

  it('1x1 convolution is a matrix product over channels and equals the general path', () => {
    const r = rng(7);
    const x = { data: r.floats(3 * 3 * 3), shape: [3, 3, 3] };
    const k = { data: r.floats(2 * 3), shape: [2, 3, 1, 1] };
    const y1 = corr2dMultiInOut1x1(x, k);
    const y2 = corr2dMultiInOut(x, k);
    expect(y1.shape).toEqual([2, 3, 3]);
    expect(Array.from(y1.data)).toEqual(Array.from(y2.data));
    // Y = K(2x3) · X(3x9)
    for (let o = 0; o < 2; o++)
      for (let p = 0; p < 9; p++) {
        let s = 0;
        for (let c = 0; c < 3; c++) s += k.data[o * 3 + c] * x.data[c * 9 + p];
        expect(y1.data[o * 9 + p]).toBeCloseTo(s, 5);
      }
    expect(relError(y1.data, refConv(x, k).data)).toBeLessThan(1e-6);
  });

  it('bias is added per output channel', () => {
    const y = conv2dSync(X, { data: K.data, shape: [1, 2, 2, 2] }, { bias: new Float32Array([0.5]) });
    expect(Array.from(y.data)).toEqual([56.5, 72.5, 104.5, 120.5]);
  });

  it("costs c_i·c_o·k_h·k_w·m_h·m_w multiply-adds: the lecture's layer is about a gigaflop", () => {
    const c = convCost([1, 100, 64, 64], [100, 100, 5, 5], { padding: 2 });
    expect(c.outputShape).toEqual([1, 100, 64, 64]);
    expect(c.macs).toBe(100 * 100 * 5 * 5 * 64 * 64);
    expect(c.macs).toBe(1.024e9);
    expect(c.flops).toBe(2 * c.macs);
    expect(c.workspaceBytes).toBeGreaterThan(0);
  });

  it('tensor and toNested round-trip', () => {
    const n = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]];
    const t = tensor(n);
    expect(t.shape).toEqual([2, 2, 2]);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(toNested(t)).toEqual(n);
    expect(toNested(tensor(3))).toBe(3);
  });
});
