// The packed call descriptor of the fast native entry points (conv2dSyncPacked, planPacked,
// PreparedConv): shapes and options as numbers in one Float64Array, so a call crosses N-API once
// without reading an options object property by property. Layout: binding.d.ts NativeDesc.
import type { NativeConvParams } from '../binding';

export const DESC_LEN = 40;
const PAD_MODE = { explicit: 0, valid: 1, same: 2, same_lower: 3 } as const;

/** Fills `d` from already validated shapes and normalised parameters. */
export function writeDesc(d: Float64Array, inputShape: readonly number[], weightShape: readonly number[],
  p: NativeConvParams): Float64Array {
  d[0] = inputShape.length;
  for (let i = 0; i < 4; i++) {
    d[1 + i] = i < inputShape.length ? inputShape[i] : 1;
    d[5 + i] = weightShape[i];
  }
  d[9] = p.stride[0]; d[10] = p.stride[1];
  d[11] = p.dilation[0]; d[12] = p.dilation[1];
  d[13] = PAD_MODE[p.padMode];
  d[14] = p.padding[0]; d[15] = p.padding[1]; d[16] = p.padding[2]; d[17] = p.padding[3];
  d[18] = p.groups;
  d[19] = p.layout === 'NHWC' ? 1 : 0;
  d[20] = p.weightLayout === 'HWIO' ? 1 : 0;
  d[21] = p.threads ?? 0;
  d[22] = p.activation === 'relu' ? 1 : 0;
  return d;
}

/** The output shape a native call wrote into `d`. */
export function outputShapeOf(d: Float64Array): number[] {
  const rank = d[24];
  return rank === 4 ? [d[25], d[26], d[27], d[28]] : [d[25], d[26], d[27]];
}

export interface DescPlan {
  outputShape: number[];
  macs: number;
  workspaceBytes: number;
  padding: [number, number, number, number];
}

/** Everything a plan wrote into `d`. */
export function planOf(d: Float64Array): DescPlan {
  return { outputShape: outputShapeOf(d), macs: d[29], workspaceBytes: d[30], padding: [d[31], d[32], d[33], d[34]] };
}

/**
 * Upper bounds from the shapes alone, before planning (an output is never larger than the padded
 * input): [multiply-adds, output elements]. Lets a call be routed, or its output allocated, first.
 */
export function boundsOf(inputShape: readonly number[], weightShape: readonly number[], p: NativeConvParams): [number, number] {
  const s = inputShape;
  const nhwc = p.layout === 'NHWC';
  const [n, h, w] = s.length === 4 ? (nhwc ? [s[0], s[1], s[2]] : [s[0], s[2], s[3]]) : (nhwc ? [1, s[0], s[1]] : [1, s[1], s[2]]);
  const pad = p.padMode === 'explicit' ? p.padding : [0, 0, 0, 0];
  const pixels = n * (h + pad[0] + pad[1]) * (w + pad[2] + pad[3]);
  const cout = p.weightLayout === 'HWIO' ? weightShape[3] : weightShape[0];
  return [pixels * weightShape.reduce((a, b) => a * b, 1), pixels * cout];
}
