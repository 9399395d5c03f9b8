// The native module, exactly as native/binding exports it. Only lib/native.ts imports this; every
// other TS file goes through the public API in lib/.

/** Scalar conv2d parameters, already normalised by the TS layer (the native side checks again). */
export interface NativeConvParams {
  stride: [number, number];
  dilation: [number, number];
  padMode: 'explicit' | 'valid' | 'same' | 'same_lower';
  /** [top, bottom, left, right]; read when padMode is 'explicit'. */
  padding: [number, number, number, number];
  groups: number;
  layout: 'NCHW' | 'NHWC';
  weightLayout: 'OIHW' | 'HWIO';
  /** 0 or absent: all cores. */
  threads?: number;
  /** Applied after the bias; absent: 'none'. */
  activation?: 'none' | 'relu';
}

/**
 * Float64Array(40) call descriptor of the packed entry points (written by lib/desc.ts):
 * [0] input rank (3|4), [1..4] input shape (unused trailing slots 1), [5..8] weight shape,
 * [9,10] stride, [11,12] dilation, [13] pad mode (0 explicit, 1 valid, 2 same, 3 same_lower),
 * [14..17] padding, [18] groups, [19] layout (0 NCHW, 1 NHWC), [20] weight layout (0 OIHW, 1 HWIO),
 * [21] threads (0 = default), [22] relu (0|1). Written back by the call: [24] output rank,
 * [25..28] output shape, [29] macs, [30] workspace bytes, [31..34] resolved padding.
 */
export type NativeDesc = Float64Array;

/** Weights packed once (createConv2d). Methods throw ERR_CHANNELCONV_DISPOSED after dispose(). */
export interface NativePreparedConv {
  /** Runs on the calling thread; returns `out`, or a new array when out is null. */
  runSync(input: Float32Array, out: Float32Array | null, desc: NativeDesc): Float32Array;
  /** As runSync on the libuv pool; argument errors throw synchronously. */
  runAsync(input: Float32Array, out: Float32Array | null, desc: NativeDesc): Promise<Float32Array>;
  dispose(): void;
  /** Native memory held (0 once disposed). */
  readonly bytes: number;
}

export interface NativePlan {
  outputShape: number[];
  macs: number;
  workspaceBytes: number;
  /** Resolved [top, bottom, left, right]. */
  padding: [number, number, number, number];
}

export interface NativeBackendInfo {
  version: string;
  cpu: { isa: string; threads: number };
  cuda: {
    compiled: boolean;
    available: boolean;
    reason?: string;
    devices: { name: string; computeCapability: string; memoryBytes: number }[];
  };
}

/** A device (CUDA) buffer of float32: an opaque External, freed by cudaFree or the GC. */
export interface NativeDeviceHandle {
  readonly __channelconvDeviceHandle: never;
}

export interface NativeCudaOptions {
  precision: 'fp32' | 'tf32';
}

export interface Binding {
  /** conv2dSync in one call: plans into desc, checks, allocates `out` when null, runs; returns out. */
  conv2dSyncPacked(input: Float32Array, weight: Float32Array, bias: Float32Array | null,
                   out: Float32Array | null, desc: NativeDesc): Float32Array;
  /** Plans into desc (prepared: workspace of a prepared layer's call). */
  planPacked(desc: NativeDesc, prepared?: boolean): void;
  /** Packs weight (and copies bias) for desc's weight shape and options. */
  PreparedConv: new (weight: Float32Array, bias: Float32Array | null, desc: NativeDesc) => NativePreparedConv;
  backendInfo(): NativeBackendInfo;
  /** Validates shapes and options; throws TypeError/RangeError with `code`. */
  plan(inputShape: number[], weightShape: number[], params: NativeConvParams): NativePlan;
  /** Writes the convolution into `out` (length = product of the planned output shape). */
  conv2dSync(input: Float32Array, inputShape: number[], weight: Float32Array, weightShape: number[],
             bias: Float32Array | null, params: NativeConvParams, out: Float32Array): void;
  /**
   * As conv2dSync, on the libuv pool; argument errors throw synchronously. Input, weight and bias are
   * copied when the call starts; the output is written to `out` when the promise settles (or, when
   * `out` is null, to a new array). Resolves with the output array.
   */
  conv2dAsync(input: Float32Array, inputShape: number[], weight: Float32Array, weightShape: number[],
              bias: Float32Array | null, params: NativeConvParams, out: Float32Array | null): Promise<Float32Array>;
  /** Bytes of native memory reported to V8 (AdjustExternalMemory); async calls add theirs while they run. */
  externalMemory(): number;
  /** backendInfo().cuda; probes the driver once per process (compiled builds only). */
  cudaStatus(): NativeBackendInfo['cuda'];
  /** Whether this process has probed CUDA (cudaStatus / backendInfo / a CUDA call). */
  cudaProbed(): boolean;
  /** Copies data to a new device buffer (synchronous). Throws ERR_CHANNELCONV_NO_CUDA without a GPU. */
  cudaUpload(data: Float32Array): NativeDeviceHandle;
  /** Copies a device buffer into `out` (same length) on the libuv pool. */
  cudaDownload(handle: NativeDeviceHandle, out: Float32Array): Promise<void>;
  /** Releases the handle's device memory (after any work using it finishes). Idempotent. */
  cudaFree(handle: NativeDeviceHandle): void;
  /**
   * conv2d on the GPU. Host input: writes `out`, returns undefined. Device input (NCHW): returns a new
   * device buffer holding the output ([N, Cout, OH, OW]); `out` is ignored.
   */
  cudaConv2dSync(input: Float32Array | NativeDeviceHandle, inputShape: number[], weight: Float32Array,
                 weightShape: number[], bias: Float32Array | null, params: NativeConvParams,
                 out: Float32Array | null, options: NativeCudaOptions): NativeDeviceHandle | undefined;
  /** As cudaConv2dSync, on the libuv pool (the pool thread waits for the GPU). */
  cudaConv2dAsync(input: Float32Array | NativeDeviceHandle, inputShape: number[], weight: Float32Array,
                  weightShape: number[], bias: Float32Array | null, params: NativeConvParams,
                  out: Float32Array | null, options: NativeCudaOptions): Promise<NativeDeviceHandle | undefined>;
}
