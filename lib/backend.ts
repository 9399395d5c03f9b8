import { native } from './native';

export interface BackendInfo {
  /** Package version. */
  version: string;
  /** isa: the GEMM kernel set in use; threads: the default thread count of a call. */
  cpu: { isa: string; threads: number };
  cuda: {
    /** Whether this binary was built with CUDA kernels. */
    compiled: boolean;
    /** Whether a usable GPU was found. */
    available: boolean;
    /** Why CUDA is not available, when it is not. */
    reason?: string;
    devices: { name: string; computeCapability: string; memoryBytes: number }[];
  };
}

/** What this process can run on. */
export function backendInfo(): BackendInfo {
  return native().backendInfo();
}
