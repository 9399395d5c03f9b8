// Output arrays for calls that were given no `options.out`.
//
// `new Float32Array(n)` asks V8 for zeroed memory (calloc): for outputs of megabytes that means
// zeroing, or faulting in fresh zero pages, for memory the kernel then overwrites in full (about 1 ms
// of a 7.8 ms S5 call here; docs/PERF.md, "What was tried", output allocation). Node's
// Buffer.allocUnsafeSlow takes uninitialized memory from malloc, which reuses the blocks of freed
// outputs: the call then runs almost as fast as with a reused `out`. The array is still a new,
// unshared ArrayBuffer of exactly the output's size (allocUnsafeSlow never uses Buffer's pool), and
// allocation failure is a catchable RangeError, as for `new Float32Array`.
//
// Only used where every element is written before the array reaches the caller (the convolution
// kernels write the whole output; a call that fails drops the array).
import { constants } from 'buffer';
import { codes, plainError } from './errors';

/** Below this many elements calloc is cheap (small blocks come from the heap already zeroed or hot). */
const UNINIT_MIN_ELEMS = 16384; // a local binding (not read through `exports` on every call)
export { UNINIT_MIN_ELEMS };

function uninitialized(size: number): Float32Array {
  return new Float32Array(Buffer.allocUnsafeSlow(4 * size).buffer, 0, size);
}

/**
 * A new Float32Array of `size` elements for an output the kernel overwrites in full; its contents
 * are unspecified until then. Throws ERR_CHANNELCONV_OUT_OF_MEMORY when the memory is not there.
 */
export function newOutput(size: number): Float32Array {
  try {
    return size >= UNINIT_MIN_ELEMS && 4 * size <= constants.MAX_LENGTH ? uninitialized(size) : new Float32Array(size);
  } catch (cause) { // V8's RangeError "Array buffer allocation failed"
    const err = plainError(codes.OUT_OF_MEMORY, `could not allocate ${4 * size} bytes for the output`);
    (err as Error & { cause?: unknown }).cause = cause;
    throw err;
  }
}
