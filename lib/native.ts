// Loads the compiled addon once per process (per worker_thread: the addon is context-aware).
// node-gyp-build picks build/Release (a source build) first, then prebuilds/<platform>-<arch>/.
// When nothing loads, the error says what was tried and how to fix it (as sharp's lib/sharp.js does).
import * as fs from 'fs';
import * as path from 'path';
import type { Binding } from '../binding';
import { codes, plainError } from './errors';

const packageRoot = path.resolve(__dirname, '..');
let binding: Binding | undefined;

interface NodeGypBuild {
  (dir: string): unknown;
  resolve(dir: string): string;
}

/** The native module; loaded on first use so that importing the package never needs the binary. */
export function native(): Binding {
  if (binding) return binding;
  // OpenMP threads that finish early must sleep, not spin: on a machine with other busy processes a
  // spinning thread takes the core its team-mate needs (2-thread medians were 4x worse). libgomp
  // reads this when it is loaded with the addon, so it is set just before; a user's value wins.
  if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'passive';
  binding = load();
  return binding;
}

const message = (e: unknown) => String((e as Error)?.message ?? e).trim();

function load(): Binding {
  const tried: string[] = [];
  let cause: unknown;
  let file: string | undefined;
  let haveLoader = false;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
    haveLoader = true;
    try {
      file = nodeGypBuild.resolve(packageRoot);
    } catch (e) {
      cause = e;
      tried.push(
        `no binary in ${path.join(packageRoot, 'build', 'Release')} (a source build) or in ` +
          `${path.join(packageRoot, 'prebuilds')} (${shippedPrebuilds()}): ${message(e).split('\n')[0]}`,
      );
    }
    // Loaded through node-gyp-build rather than require(file): it keeps working inside webpack bundles.
    if (file) return nodeGypBuild(packageRoot) as Binding;
  } catch (e) {
    // The binary loaded but CHANNELCONV_ISA is unusable: its own message says which values are valid.
    if ((e as { code?: unknown })?.code === codes.INVALID_ISA) throw e;
    cause = e;
    tried.push(file ? `${file}: ${message(e)}` : `require('node-gyp-build'): ${message(e)}`);
  }
  const err = plainError(codes.LOAD_FAILED, loadFailure(tried, haveLoader, file, cause));
  (err as Error & { cause?: unknown }).cause = cause;
  throw err;
}

/** What prebuilds/ holds, e.g. "prebuilds shipped: linux-x64/channelconv.glibc.node". */
function shippedPrebuilds(): string {
  const dir = path.join(packageRoot, 'prebuilds');
  const list = (d: string) => {
    try {
      return fs.readdirSync(d);
    } catch {
      return [];
    }
  };
  const files = list(dir).flatMap((t) => list(path.join(dir, t)).map((f) => `${t}/${f}`));
  return files.length ? `prebuilds shipped: ${files.join(', ')}` : 'this copy of the package has no prebuilds';
}

function runtime(): string {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const libc = process.platform !== 'linux' ? '' : header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}, ` : 'not glibc (musl?), ';
  return `${process.platform}-${process.arch} (${libc}Node ${process.versions.node}, N-API ${process.versions.napi})`;
}

/**
 * glibc's dlopen says "<file>: cannot open shared object file" for a file that exists but was built
 * for another machine type (an x64 build/Release copied to an arm64 machine, or the reverse).
 */
function otherArch(file: string, cause: string): boolean {
  return cause.startsWith(`${file}: cannot open shared object file`) && fs.existsSync(file);
}

/** The LOAD_FAILED message: the runtime, what was tried, the likely fixes for `error` (exported for tests). */
export function loadFailure(tried: string[], haveLoader: boolean, file: string | undefined, error: unknown): string {
  const cause = message(error);
  const fixes: string[] = [];
  const rebuild = [
    '- Build it from source: install CMake >= 3.18 and a C++17 compiler (Debian/Ubuntu: apt-get install',
    '    cmake g++; README, "Platforms"), then run: npm_config_build_from_source=true npm rebuild channelconv',
    '    (install scripts must be allowed: an install with --ignore-scripts, or one whose scripts npm',
    '    did not approve, skips this build; prebuilt binaries need no install script).',
  ];
  let pkgName: string | undefined;
  try {
    pkgName = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).name;
  } catch {
    // not in its package directory
  }
  if (pkgName !== 'channelconv') {
    fixes.push(
      `- channelconv's code runs from ${packageRoot}, which is not its package directory: it was probably`,
      '    bundled. Mark it external so it loads from node_modules (esbuild --external:channelconv,',
      "    webpack externals: { channelconv: 'commonjs channelconv' }, Vite ssr.external: ['channelconv']).",
    );
  }
  if (Number(process.versions.napi) < 8) fixes.push('- Upgrade Node.js to >= 18.17 (channelconv needs N-API 8).');
  if ((error as { code?: string })?.code === 'ERR_DLOPEN_DISABLED') {
    fixes.push('- Run Node.js without --no-addons: channelconv is a native addon.');
  } else if (!haveLoader) {
    fixes.push('- Reinstall channelconv: its dependency node-gyp-build is missing.');
  } else if (/GLIBC_[\d.]+'? not found|GLIBCXX_|CXXABI_/.test(cause)) {
    fixes.push("- This system's C library is older than the prebuilt binary needs (README, \"Install\", lists the", '    minimum glibc). Upgrade the OS, or:', ...rebuild);
  } else if (/libgomp\.so/.test(cause)) {
    fixes.push(
      '- Install the GCC OpenMP runtime, libgomp.so.1: apt-get install libgomp1 (Debian/Ubuntu),',
      '    dnf install libgomp (Fedora/RHEL), apk add libgomp (Alpine).',
    );
  } else if (/libgcc_s\.so/.test(cause)) {
    fixes.push('- Install the GCC runtime, libgcc_s.so.1: apt-get install libgcc-s1 (Debian/Ubuntu), dnf install libgcc.');
  } else if (file && (/invalid ELF header|wrong ELF class|file too short|not a dynamic executable/.test(cause) || otherArch(file, cause))) {
    fixes.push(
      `- ${file} is damaged or built for another platform (node_modules copied between machines?).`,
      '    Reinstall on this machine: rm -rf node_modules && npm install',
    );
  } else if (!file) {
    fixes.push(`- There is no prebuilt binary for ${process.platform}-${process.arch} with this C library.`, ...rebuild);
  } else {
    fixes.push('- Reinstall channelconv, or:', ...rebuild);
  }
  fixes.push('- See the README of channelconv, section "Install".');
  return [
    `channelconv: could not load its native addon on ${runtime()}.`,
    'Tried:',
    ...tried.map((t) => `  - ${t}`),
    'Possible fixes:',
    ...fixes.map((f) => `  ${f}`),
  ].join('\n');
}
