// What this process can run on: the CPU kernel sets, the algorithms, CUDA.
import type { NativeBackendInfo, NativeCudaStatus } from '../binding';
import { native } from './native';

export interface BackendInfo {
  /** Package version. */
  version: string;
  cpu: {
    /** The kernel set in use (CHANNELCONV_ISA, else the best this CPU runs). */
    isa: string;
    /** Every kernel set in this binary, best first: the values CHANNELCONV_ISA accepts. */
    isas: string[];
    /** Those this CPU runs. */
    supportedIsas: string[];
    /** The default thread count of a call: OMP_NUM_THREADS when set, else the cores this process may use. */
    threads: number;
    /** 'openmp', or 'threads' for a build without OpenMP (a std::thread pool). */
    parallel: 'openmp' | 'threads';
  };
  /** The algorithm registry, in the order 'auto' tries it: options.algorithm's values besides 'auto'. */
  algorithms: string[];
  cuda: NativeCudaStatus;
}

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
    cpu: { ...i.cpu, isas: i.cpu.isas.slice(), supportedIsas: i.cpu.supportedIsas.slice() },
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
