// The native module, exactly as native/binding exports it. Only lib/ imports this; every other TS
// file goes through the public API in lib/.

/**
 * Float64Array(50): the one call descriptor of every entry point (slots: lib/desc.ts, the same
 * numbers as native/binding/call.h). [0, 32) is the request, written by TS; the rest are the plan's
 * results (output shape, multiply-adds, workspace, algorithm, padding), written back by plan / run.
 */
export type NativeDesc = Float64Array;

/** A device (CUDA) buffer of float32: an opaque External, freed by cudaFree or the GC. */
export interface NativeDeviceHandle {
  readonly __channelconvDeviceHandle: never;
}

/** A prepared layer: its weight (and bias) copied and packed once. Calls pass it in place of the weight. */
export interface NativeLayer {
  /** Frees the weights now (runs in flight keep them until they end); later calls throw ERR_CHANNELCONV_DISPOSED. */
  dispose(): void;
  /** Native memory held: the weight copy, the bias and the packed panels packed so far (0 once disposed). */
  readonly bytes: number;
}

export interface NativeBackendInfo {
  version: string;
  cpu: {
    /** The kernel set in use. */
    isa: string;
    /** Every kernel set compiled into this binary, best first (CHANNELCONV_ISA's values). */
    isas: string[];
    /** Those this CPU runs. */
    supportedIsas: string[];
    /** Threads a call uses by default: OMP_NUM_THREADS, else the cores this process may use. */
    threads: number;
    /** The CPU threads' runtime: 'openmp', or 'threads' (a build without OpenMP). */
    parallel: 'openmp' | 'threads';
    /**
     * The core as detected: cpuid vendor, display family / model, micro-architecture ('zen5', 'zen4',
     * 'zen3', 'zen2', 'intel-avx512', 'intel-avx2', 'unknown'), how it executes 512-bit FMAs ('full',
     * 'half': split in two 256-bit halves as on Zen 4, 'none'), data-cache bytes (0: unknown).
     */
    core: { vendor: string; family: number; model: number; uarch: string; avx512: 'none' | 'half' | 'full'; l1d: number; l2: number; l3: number };
    /**
     * The blocking configuration chosen for this core (CHANNELCONV_CPU_CONFIG forces one by name) and
     * the block sizes the kernel set in use runs with: register block mr x nr, K block kc, packed B
     * width nc, a task's working set tileBytes, Winograd's preferred output tile (2 or 4).
     */
    config: { name: string; mr: number; nr: number; kc: number; nc: number; tileBytes: number; winogradTile: number };
  };
  /** The algorithm registry's names, in its order (options.algorithm's values besides 'auto'). */
  algorithms: string[];
}

export interface NativeCudaStatus {
  compiled: boolean;
  available: boolean;
  reason?: string;
  /** The directions the GPU path computes ('forward', 'backward_data', 'backward_weights'); [] without CUDA. */
  directions: ('forward' | 'backward_data' | 'backward_weights')[];
  devices: { name: string; computeCapability: string; memoryBytes: number }[];
}

/** What runAsync resolves with: the output, [gradWeight | null, gradBias | null] for backward-weights, or a device output. */
export type NativeAsyncResult = Float32Array | [Float32Array | null, Float32Array | null] | NativeDeviceHandle;

export interface Binding {
  /** The CPU side and the algorithms; never probes CUDA. */
  backendInfo(): NativeBackendInfo;
  /**
   * Resolves and plans the request in desc (a prepared layer's: with `layer`), writing the results
   * into desc. Throws TypeError / RangeError / Error with `code`. A repeated request is planned once
   * (a per-thread cache).
   */
  plan(desc: NativeDesc, layer?: NativeLayer | null): void;
  /**
   * Plans (from the cache when the request repeats), checks the arrays and runs, writing the results
   * into desc. src: the input (forward: x, backward-data: gradOutput, backward-weights: x) or a device
   * handle (device 'cuda'); w: the weight or a prepared layer (backward-weights: null or a layer);
   * dst: the output (length from the plan; null for a device input of forward / backward-data);
   * src2: gradOutput of backward-weights (a device handle when src is one); dst2: its bias gradient.
   * Returns a device handle for a device input of forward / backward-data (backward-weights writes
   * its host outputs).
   */
  run(desc: NativeDesc, src: Float32Array | NativeDeviceHandle, w: Float32Array | NativeLayer | null,
      bias: Float32Array | null, dst: Float32Array | null, src2?: Float32Array | NativeDeviceHandle | null,
      dst2?: Float32Array | null): NativeDeviceHandle | undefined;
  /**
   * As run, on the libuv pool; argument errors throw synchronously. The host arrays are copied when
   * the call starts; the outputs are the call's own, handed over without a copy. dst and dst2, when
   * given, are only checked (length, overlap): the caller copies the result into them.
   */
  runAsync(desc: NativeDesc, src: Float32Array | NativeDeviceHandle, w: Float32Array | NativeLayer | null,
           bias: Float32Array | null, dst: Float32Array | null, src2?: Float32Array | NativeDeviceHandle | null,
           dst2?: Float32Array | null): Promise<NativeAsyncResult>;
  /** (weight, bias, desc of a forward CPU request with an input the layer accepts) */
  Layer: new (weight: Float32Array, bias: Float32Array | null, desc: NativeDesc) => NativeLayer;
  /** Bytes of native memory this addon reports to V8 in this environment (async calls, layers). */
  externalMemory(): number;
  /** backendInfo().cuda; probes the driver once per process (compiled builds only). */
  cudaStatus(): NativeCudaStatus;
  /** Whether this process has probed CUDA (cudaStatus / backendInfo / a CUDA call). */
  cudaProbed(): boolean;
  /** Copies data to a new device buffer (synchronous). Throws ERR_CHANNELCONV_NO_CUDA without a GPU. */
  cudaUpload(data: Float32Array): NativeDeviceHandle;
  /** Copies a device buffer into `out` (same length) on the libuv pool. */
  cudaDownload(handle: NativeDeviceHandle, out: Float32Array): Promise<void>;
  /** Releases the handle's device memory (after any work using it finishes). Idempotent. */
  cudaFree(handle: NativeDeviceHandle): void;
}
