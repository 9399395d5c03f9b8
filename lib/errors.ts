/** Stable error codes; the native layer uses the same strings (native/core/error.h). */
export const codes = {
  INVALID_TYPE: 'ERR_CHANNELCONV_INVALID_TYPE',
  UNKNOWN_OPTION: 'ERR_CHANNELCONV_UNKNOWN_OPTION',
  INVALID_SHAPE: 'ERR_CHANNELCONV_INVALID_SHAPE',
  CHANNEL_MISMATCH: 'ERR_CHANNELCONV_CHANNEL_MISMATCH',
  INVALID_GROUPS: 'ERR_CHANNELCONV_INVALID_GROUPS',
  INVALID_OPTION: 'ERR_CHANNELCONV_INVALID_OPTION',
  EMPTY_OUTPUT: 'ERR_CHANNELCONV_EMPTY_OUTPUT',
  TOO_LARGE: 'ERR_CHANNELCONV_TOO_LARGE',
  OUT_MISMATCH: 'ERR_CHANNELCONV_OUT_MISMATCH',
  ALIAS: 'ERR_CHANNELCONV_ALIAS',
  OUT_OF_MEMORY: 'ERR_CHANNELCONV_OUT_OF_MEMORY',
  NO_CUDA: 'ERR_CHANNELCONV_NO_CUDA',
  CUDA: 'ERR_CHANNELCONV_CUDA',
  DISPOSED: 'ERR_CHANNELCONV_DISPOSED',
  LOAD_FAILED: 'ERR_CHANNELCONV_LOAD_FAILED',
  INTERNAL: 'ERR_CHANNELCONV_INTERNAL',
  INVALID_ISA: 'ERR_CHANNELCONV_INVALID_ISA',
} as const;

export type ErrorCode = (typeof codes)[keyof typeof codes];

export interface ChannelconvError extends Error {
  code: ErrorCode;
}

function withCode<E extends Error>(err: E, code: ErrorCode): E & { code: ErrorCode } {
  return Object.assign(err, { code });
}

/** Short description of a value for error messages: its type, or the value itself when small. */
export function describe(v: unknown, depth = 0): string {
  try {
    const d = describeUnsafe(v, depth);
    return d.length > 120 ? d.slice(0, 119) + '…' : d;
  } catch {
    return typeof v; // a Proxy or a throwing getter: say no more than the type
  }
}

function describeUnsafe(v: unknown, depth: number): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length?: number }).length ?? v.byteLength})`;
  if (Array.isArray(v)) {
    // Small and shallow arrays are shown; deep or cyclic ones are not walked.
    return v.length <= 8 && depth < 2 ? `[${Array.from(v, (x) => describe(x, depth + 1)).join(', ')}]` : `an Array(${v.length})`;
  }
  if (typeof v === 'object') return (v as object).constructor?.name === 'Object' ? 'an object' : `a ${(v as object).constructor?.name ?? 'object'}`;
  return typeof v;
}

/** TypeError naming the parameter, what it must be, and what it got. */
export function typeError(name: string, expected: string, got: unknown): TypeError & { code: ErrorCode } {
  return withCode(new TypeError(`${name} must be ${expected}, got ${describe(got)}`), codes.INVALID_TYPE);
}

export function rangeError(code: ErrorCode, message: string): RangeError & { code: ErrorCode } {
  return withCode(new RangeError(message), code);
}

export function plainError(code: ErrorCode, message: string): Error & { code: ErrorCode } {
  return withCode(new Error(message), code);
}

export function unknownOptionError(name: string, known: readonly string[]): TypeError & { code: ErrorCode } {
  return withCode(
    new TypeError(`unknown option ${describe(name)}; known options: ${known.join(', ')}`),
    codes.UNKNOWN_OPTION,
  );
}

/** Whether `e` is one of ours (it has an ERR_CHANNELCONV_ code). */
export function isChannelconvError(e: unknown): boolean {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' &&
    (e as unknown as { code: string }).code.startsWith('ERR_CHANNELCONV_');
}

/**
 * Runs `read` (which reads the user's argument `name`), turning anything it throws that is not one of
 * our errors (a throwing getter, a revoked Proxy, a Symbol converted to a string) into a TypeError
 * with a code that names the argument; the original error is its `cause`.
 */
export function guarded<T>(name: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (isChannelconvError(e)) throw e;
    const err = withCode(
      new TypeError(`${name} could not be read: ${e instanceof Error ? e.message : describe(e)}`),
      codes.INVALID_TYPE,
    );
    (err as Error & { cause?: unknown }).cause = e;
    throw err;
  }
}
