// Loads the compiled addon once per process (per worker_thread: the addon is context-aware).
import * as path from 'path';
import type { Binding } from '../binding';
import { codes, plainError } from './errors';

const packageRoot = path.resolve(__dirname, '..');
let binding: Binding | undefined;

/** The native module; loaded on first use so that importing types never needs the binary. */
export function native(): Binding {
  if (binding) return binding;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const load = require('node-gyp-build') as (dir: string) => unknown;
  // OpenMP threads that finish early must sleep, not spin: on a machine with other busy processes a
  // spinning thread takes the core its team-mate needs (2-thread medians were 4x worse). libgomp
  // reads this when it is loaded with the addon, so it is set just before; a user's value wins.
  if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'passive';
  try {
    binding = load(packageRoot) as Binding;
  } catch (cause) {
    // The binary loaded but CHANNELCONV_ISA is unusable: its own message says which values are valid.
    if ((cause as { code?: unknown }).code === codes.INVALID_ISA) throw cause;
    const err = plainError(
      codes.LOAD_FAILED,
      `channelconv: could not load its native binary for ${process.platform}-${process.arch} ` +
        `(Node ${process.versions.node}, N-API ${process.versions.napi}).\n` +
        `Looked in ${path.join(packageRoot, 'build', 'Release')} and ${path.join(packageRoot, 'prebuilds')}.\n` +
        `Cause: ${(cause as Error).message}\n` +
        'Fix: run `npm rebuild channelconv` (needs cmake and a C++17 compiler), or reinstall so a prebuilt binary is used.',
    );
    (err as Error & { cause?: unknown }).cause = cause;
    throw err;
  }
  return binding;
}
