// The CUDA side of the TS API: device-resident tensors, and the choice of device for a call.
import type { NativeCudaStatus, NativeDeviceHandle } from '../binding';
import { codes, plainError, rangeError } from './errors';
import { native } from './native';
import { readTensor, type Tensor } from './tensor';

/**
 * 'auto' never considers the GPU below this many multiply-adds (about 1 ms of CPU work on a few
 * cores): launch, allocation and PCIe costs dominate there, and CUDA is not even probed.
 */
export const AUTO_CUDA_MIN_MACS = 2 ** 26;

// Cost model for 'auto' above that floor (estimates, not measurements of this machine's GPU):
// CPU time = 2·macs / (threads · 25 GFLOP/s); GPU time = 0.3 ms fixed (stream, allocations,
// launches, synchronisation) + bytes moved over PCIe at 12 GB/s + 2·macs / 10 TFLOP/s.
const CPU_FLOPS_PER_THREAD = 25e9;
const GPU_FIXED_S = 3e-4;
const PCIE_BYTES_PER_S = 12e9;
const GPU_FLOPS = 10e12;

/** Whether 'auto' should prefer the GPU for a host-tensor call (before asking if one exists). */
export function autoPrefersCuda(macs: number, bytesMoved: number, threads: number): boolean {
  if (macs < AUTO_CUDA_MIN_MACS) return false;
  const cpu = (2 * macs) / (Math.max(1, threads) * CPU_FLOPS_PER_THREAD);
  const gpu = GPU_FIXED_S + bytesMoved / PCIE_BYTES_PER_S + (2 * macs) / GPU_FLOPS;
  return gpu < cpu;
}

/** backendInfo().cuda, probing the driver on first use (once per process). */
export function cudaStatus(): NativeCudaStatus {
  return native().cudaStatus();
}

/** Throws ERR_CHANNELCONV_NO_CUDA with the reason when no GPU is usable. */
export function requireCuda(what: string): void {
  const s = cudaStatus();
  if (!s.available) {
    throw plainError(codes.NO_CUDA, `${what} requested but CUDA is not available: ${s.reason ?? 'unknown reason'}`);
  }
}

// Backstop for DeviceTensors that are dropped without dispose(): frees the device memory when the
// tensor is collected (the native handle's own finalizer is a second backstop).
const registry = new FinalizationRegistry<NativeDeviceHandle>((h) => {
  try {
    native().cudaFree(h);
  } catch {
    /* nothing to report from a finalizer */
  }
});

/**
 * A float32 tensor in GPU memory (NCHW), so a chain of conv2d calls stays on the device. Made by
 * toDevice() and by conv2d / conv2dSync on a DeviceTensor input; read back with toHost(); free it
 * with dispose() (otherwise the garbage collector frees it eventually).
 */
export class DeviceTensor {
  /** Always 'cuda'. */
  readonly device = 'cuda' as const;
  readonly shape: number[];
  #handle: NativeDeviceHandle | null;

  /** @internal Use toDevice(). */
  constructor(handle: NativeDeviceHandle, shape: number[]) {
    this.#handle = handle;
    this.shape = shape.slice();
    registry.register(this, handle, this);
  }

  /** Element count. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get disposed(): boolean {
    return this.#handle === null;
  }

  /** @internal The native handle; throws ERR_CHANNELCONV_DISPOSED after dispose(). */
  handle(name = 'DeviceTensor'): NativeDeviceHandle {
    if (this.#handle === null) throw plainError(codes.DISPOSED, `${name} was disposed`);
    return this.#handle;
  }

  /** Copies the tensor to host memory (on the libuv pool; the event loop is not blocked). */
  async toHost(): Promise<Tensor> {
    const data = new Float32Array(this.size);
    await native().cudaDownload(this.handle(), data);
    return { data, shape: this.shape.slice() };
  }

  /** Frees the device memory now (work already queued on it finishes first). Idempotent. */
  dispose(): void {
    if (this.#handle === null) return;
    registry.unregister(this);
    native().cudaFree(this.#handle);
    this.#handle = null;
  }
}

export function isDeviceTensor(v: unknown): v is DeviceTensor {
  try {
    return v instanceof DeviceTensor;
  } catch {
    return false; // instanceof throws on a revoked Proxy: not a DeviceTensor
  }
}

/**
 * Copies a host Tensor to the GPU (synchronously: returns when the copy is done). Throws
 * ERR_CHANNELCONV_NO_CUDA with the reason when no GPU is usable.
 */
export function toDevice(arg: Tensor): DeviceTensor {
  const t = readTensor(arg, 't');
  if (t.shape.length === 0) throw rangeError(codes.INVALID_SHAPE, 't must have rank >= 1');
  requireCuda('toDevice');
  return new DeviceTensor(native().cudaUpload(t.data), t.shape);
}
