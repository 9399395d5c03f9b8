// What this process can run on: the CPU kernel sets, the algorithms, CUDA.
import type { NativeBackendInfo, NativeCudaStatus } from '../binding';
import { native } from './native';

/**
 * What backendInfo() returns: the version; cpu: the kernel set in use (isa) and how it computes
 * precision 'bf16' (bf16: 'native' AVX512_BF16 dot products, or 'emulated' with fp32 FMAs: the same
 * results within the documented bound, no speed-up), every set in this binary
 * (isas: CHANNELCONV_ISA's values) and those this CPU runs, the default thread count (OMP_NUM_THREADS
 * honoured), the thread runtime, the core as detected and the blocking configuration chosen for it
 * (core, config); algorithms: the registry in the order 'auto' tries it
 * (options.algorithm's values besides 'auto'); cuda: compiled, available, the reason when not, devices.
 */
export type BackendInfo = NativeBackendInfo & { cuda: NativeCudaStatus };

let cpuInfo: NativeBackendInfo | undefined;

/** The native side's CPU facts and algorithm names, read once (never probes CUDA). */
function info(): NativeBackendInfo {
  return (cpuInfo ??= native().backendInfo());
}

/** What this process can run on. Probes the CUDA driver on first use (once per process). */
export function backendInfo(): BackendInfo {
  const i = info();
  return {
    version: i.version,
    cpu: { ...i.cpu, isas: i.cpu.isas.slice(), supportedIsas: i.cpu.supportedIsas.slice(), core: { ...i.cpu.core }, config: { ...i.cpu.config } },
    algorithms: i.algorithms.slice(),
    cuda: native().cudaStatus(),
  };
}

/** The registry's algorithm names; index i is the descriptor's algorithm number i. */
export function algorithmNames(): readonly string[] {
  return info().algorithms;
}

/** The default thread count of a call, as the native side decides it (OMP_NUM_THREADS honoured). */
export function defaultThreads(): number {
  return info().cpu.threads;
}
