// The one path of every call from lib/ to the native side: a descriptor (desc.ts) planned once per
// repeated request, the output allocated here (output.ts) for synchronous calls, one native run; or,
// asynchronously, one native job whose own output is handed over without a copy.
import type { NativeDesc, NativeDeviceHandle, NativeLayer } from '../binding';
import { algorithmNames, defaultThreads } from './backend';
import { dstSizeOf, remember, REQUEST_LEN, sameRequest, slot, writeRequest, type Request } from './desc';
import { AUTO_CUDA_MIN_MACS, autoPrefersCuda, cudaStatus, requireCuda } from './device';
import { codes, rangeError, typeError } from './errors';
import { native } from './native';
import { newOutput } from './output';
import type { NormalizedOptions } from './options';

/** What route() needs to know of a call. */
export interface RouteSpec {
  /** The call's request on a device. */
  request(device: 'cpu' | 'cuda'): Request;
  /** Whether the call's input is a DeviceTensor: it then runs on the GPU. */
  deviceInput: boolean;
  opts: Pick<NormalizedOptions, 'device' | 'geometry' | 'out' | 'algorithm' | 'threads'>;
  /** Bytes of host inputs (and outputs) a GPU run would move, given the planned descriptor. */
  hostBytes(desc: NativeDesc): number;
}

/**
 * Writes a call's request into desc for the device it runs on, and returns that device. DeviceTensor
 * inputs always run on the GPU; 'auto' consults the cost model only above AUTO_CUDA_MIN_MACS (and only
 * for a direction the GPU path computes, backendInfo().cuda.directions), so small calls and every
 * 'cpu' call never initialise CUDA.
 */
export function route(desc: NativeDesc, last: Float64Array | null, spec: RouteSpec): 'cpu' | 'cuda' {
  const { opts } = spec;
  let device: 'cpu' | 'cuda' = 'cpu';
  if (spec.deviceInput) {
    if (opts.device === 'cpu') {
      throw rangeError(codes.INVALID_OPTION, "options.device is 'cpu' but the input is a DeviceTensor; call toHost() first");
    }
    if (opts.geometry.layout !== 'NCHW') {
      throw rangeError(codes.INVALID_OPTION, "DeviceTensor inputs are NCHW: options.layout must be 'NCHW'");
    }
    if (opts.out !== null) throw rangeError(codes.INVALID_OPTION, 'options.out cannot be used with a DeviceTensor input');
    requireCuda('a DeviceTensor input');
    device = 'cuda';
  } else if (opts.device === 'cuda') {
    requireCuda("device 'cuda'");
    device = 'cuda';
  }
  if (device === 'cuda' && opts.algorithm >= 0) {
    throw rangeError(codes.INVALID_OPTION, "options.algorithm names a CPU algorithm; on the GPU it must be 'auto'");
  }
  const cpu = spec.request('cpu');
  writeRequest(desc, device === 'cpu' ? cpu : spec.request('cuda'));
  if (opts.device !== 'auto' || spec.deviceInput) return device;
  plan(desc, last);
  const macs = desc[slot.macs];
  if (macs < AUTO_CUDA_MIN_MACS) return 'cpu';
  if (!autoPrefersCuda(macs, spec.hostBytes(desc), opts.threads || defaultThreads())) return 'cpu';
  const cuda = cudaStatus();
  if (!cuda.available || !cuda.directions.includes(cpu.direction)) return 'cpu';
  writeRequest(desc, spec.request('cuda'));
  return 'cuda';
}

/** What a synchronous call site keeps between calls: the request planned last into its descriptor. */
export function newLastRequest(): Float64Array {
  return new Float64Array(REQUEST_LEN).fill(NaN);
}

/**
 * Plans the request in `desc` unless `last` says desc already holds its results (the same request
 * was planned into it last). Throws the native side's TypeError / RangeError.
 */
export function plan(desc: NativeDesc, last: Float64Array | null = null, layer: NativeLayer | null = null): void {
  if (last && sameRequest(desc, last)) return;
  if (last) last[0] = NaN; // desc's results are about to change
  native().plan(desc, layer);
  if (last) remember(desc, last);
}

/** The name of the algorithm a plan chose ('cuda' for the GPU path's own choice). */
export function algorithmOf(desc: NativeDesc): string {
  const i = desc[slot.algorithmOut];
  return i >= 0 ? algorithmNames()[i] : 'cuda';
}

/**
 * Runs the request on the calling thread, into `out` or a new output (allocated here, sized by the
 * plan). Returns the output. With `out` given the call crosses into native code once, else at most
 * twice (plan, run), once when the request repeats.
 */
export function runSync(desc: NativeDesc, last: Float64Array | null, src: Float32Array, w: Float32Array | NativeLayer | null,
  bias: Float32Array | null, out: Float32Array | null, src2: Float32Array | null = null,
  out2: Float32Array | null = null): Float32Array {
  if (out === null && !(desc[slot.direction] === 2 && desc[slot.skipWeights] === 1)) {
    plan(desc, last, isLayer(w) ? w : null);
    out = newOutput(dstSizeOf(desc));
  } else if (last) {
    last[0] = NaN;
  }
  native().run(desc, src, w, bias, out, src2, out2);
  if (last) remember(desc, last);
  return out as Float32Array; // null only for backward-weights' bias gradient alone
}

/**
 * Runs the request with device-tensor inputs (backward-weights: src2 = gradOutput, outputs on the host
 * in out / out2); returns the device output of the other directions.
 */
export function runDevice(desc: NativeDesc, src: NativeDeviceHandle, w: Float32Array | null, bias: Float32Array | null,
  src2: NativeDeviceHandle | null = null, out: Float32Array | null = null, out2: Float32Array | null = null): NativeDeviceHandle {
  return native().run(desc, src, w, bias, out, src2, out2) as NativeDeviceHandle;
}

/**
 * Runs the request on the libuv pool. The native side copies the host inputs when the call starts
 * and hands over its own output; with `out`, that output is copied into it when the call completes
 * (ERR_CHANNELCONV_INVALID_TYPE if out was detached or resized meanwhile).
 */
export async function runAsync(desc: NativeDesc, src: Float32Array, w: Float32Array | NativeLayer | null,
  bias: Float32Array | null, out: Float32Array | null): Promise<Float32Array> {
  const y = (await native().runAsync(desc, src, w, bias, out)) as Float32Array;
  return out === null ? y : copyInto(out, y, 'options.out');
}

/**
 * Runs a backward-weights request (x, gradOutput; a prepared layer or null in place of the weight) on
 * the libuv pool: resolves with the call's own [gradWeight, gradBias] (null where not computed).
 */
export async function runAsyncWeights(desc: NativeDesc, x: Float32Array, layer: NativeLayer | null,
  dy: Float32Array): Promise<[Float32Array | null, Float32Array | null]> {
  return (await native().runAsync(desc, x, layer, null, null, dy)) as [Float32Array | null, Float32Array | null];
}

/** Copies a finished call's output into the caller's array, which may have changed meanwhile. */
export function copyInto(out: Float32Array, y: Float32Array, name: string): Float32Array {
  if (out.length !== y.length) {
    throw typeError(name, `a Float32Array of ${y.length} elements when the call completed (was it detached?)`, out);
  }
  out.set(y);
  return out;
}

function isLayer(w: unknown): w is NativeLayer {
  return w !== null && typeof w === 'object' && !ArrayBuffer.isView(w);
}
