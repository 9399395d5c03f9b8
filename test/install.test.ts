// The published package, end to end: `npm pack` (its prepack builds a fresh prebuild), then the tarball
// is installed into temporary projects whose PATH holds only node, npm and sh (no compiler, no cmake,
// no nvcc, no git), with and without install scripts, from the npm cache (--prefer-offline). The
// projects then require and import it, and TypeScript consumers (.cts, .mts) type-check against it.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchors, links } from './markdown';

const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string };
// Packing compiles the addon; CUDA builds can take minutes.
const PACK_TIMEOUT = 20 * 60_000;

// The lecture's example: 2 input channels, 2x2 kernel -> [[56, 72], [104, 120]].
const LECTURE = `const X = [[[0,1,2],[3,4,5],[6,7,8]],[[1,2,3],[4,5,6],[7,8,9]]];
const K = [[[0,1],[2,3]],[[1,2],[3,4]]];`;
const EXPECTED = [56, 72, 104, 120];

let tmp = '';
let bin = ''; // node, npm and sh only
let tarball = '';
let npmCache = '';
let packMs = 0;

/** Where npm-cli.js lives: npm_execpath under `npm test`, else the npm found on PATH. */
function npmCli(): string {
  const fromNpm = process.env.npm_execpath;
  if (fromNpm && /npm-cli\.js$/.test(fromNpm)) return fromNpm;
  const onPath = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  return fs.realpathSync(onPath);
}

/** A clean environment: none of the npm_* variables of the `npm test` that runs us. */
function cleanEnv(PATH: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH,
    HOME: process.env.HOME ?? os.homedir(),
    TMPDIR: tmp,
    LANG: 'C',
    npm_config_cache: npmCache,
    npm_config_update_notifier: 'false',
    ...extra,
  };
}

const restricted = (extra?: Record<string, string>) => cleanEnv(bin, extra);

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}

/** A consumer project; with `scripts`, channelconv's install script is approved (npm 11 allowScripts). */
function project(name: string, scripts: boolean, tgz = tarball): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  const json: Record<string, unknown> = { name, version: '1.0.0', private: true };
  if (scripts) json.allowScripts = { [`file:${tgz}`]: true };
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(json, null, 2));
  return dir;
}

function npmInstall(dir: string, scripts: boolean, tgz = tarball, extra?: Record<string, string>) {
  const args = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'];
  if (!scripts) args.push('--ignore-scripts');
  return run(path.join(bin, 'npm'), [...args, tgz], dir, restricted(extra));
}

const CHECK_CJS = `${LECTURE}
const cc = require('channelconv');
const y = cc.corr2dMultiIn(cc.tensor(X), cc.tensor(K));
const dir = require('path').dirname(require.resolve('channelconv/package.json'));
console.log(JSON.stringify({ y: Array.from(y.data), shape: y.shape, binary: require('node-gyp-build').resolve(dir) }));
`;

const CHECK_MJS = `${LECTURE}
import cc, { corr2dMultiIn, tensor, conv2d } from 'channelconv';
import { createRequire } from 'module';
const req = createRequire(import.meta.url)('channelconv');
const y = corr2dMultiIn(tensor(X), tensor(K));
const z = await conv2d(tensor([X]), tensor([K]));
console.log(JSON.stringify({ y: Array.from(y.data), z: Array.from(z.data), same: req === cc && req.conv2d === conv2d }));
`;

// Type-checks only (noEmit). The @ts-expect-error lines fail the check if the types resolve to `any`.
const CONSUMER_CTS = `import cc = require('channelconv');
import { conv2dSync, tensor, codes, type Tensor, type Conv2dOptions, type BackendInfo } from 'channelconv';
const options: Conv2dOptions = { stride: 1, padding: 'same' };
const y: Tensor = conv2dSync(tensor([[[1, 2], [3, 4]]]), tensor([[[[1]]]]), options);
const info: BackendInfo = cc.backendInfo();
const code: 'ERR_CHANNELCONV_LOAD_FAILED' = codes.LOAD_FAILED;
// @ts-expect-error a string is not a Tensor
conv2dSync('x', y);
export = { y, info, code };
`;

const CONSUMER_MTS = `import cc, { conv2d, tensor, codes, type Tensor, type ChannelconvError } from 'channelconv';
const y: Promise<Tensor> = conv2d(tensor([[[1, 2], [3, 4]]]), tensor([[[[1]]]]), { dilation: [1, 1] });
const same: typeof conv2d = cc.conv2d;
const e = new Error('x') as ChannelconvError;
const known: boolean = e.code === codes.INVALID_SHAPE;
// @ts-expect-error 'NCDHW' is not a layout
void conv2d(tensor([1]), tensor([1]), { layout: 'NCDHW' });
export { y, same, known };
`;

function writeChecks(dir: string) {
  fs.writeFileSync(path.join(dir, 'check.cjs'), CHECK_CJS);
  fs.writeFileSync(path.join(dir, 'check.mjs'), CHECK_MJS);
}

function runCheck(dir: string, file: string) {
  const r = run(path.join(bin, 'node'), [file], dir, restricted());
  expect(r.output.trim() ? r.status : -1, r.output).toBe(0);
  return JSON.parse(r.output.trim().split('\n').pop() as string);
}

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'channelconv-install-')));
  bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(npmCli(), path.join(bin, 'npm'));
  fs.symlinkSync(fs.realpathSync('/bin/sh'), path.join(bin, 'sh'));
  npmCache = process.env.npm_config_cache || execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();

  const t0 = Date.now();
  const dest = path.join(tmp, 'pack');
  fs.mkdirSync(dest);
  // The full environment: packing builds the prebuild (cmake, a compiler, nvcc when present).
  const r = spawnSync('npm', ['pack', '--pack-destination', dest], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  packMs = Date.now() - t0;
  if (r.status !== 0) throw new Error(`npm pack failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  tarball = path.join(dest, `${pkg.name}-${pkg.version}.tgz`);
  expect(fs.existsSync(tarball)).toBe(true);
  console.log(`install.test: npm pack (with prebuildify) took ${(packMs / 1000).toFixed(1)} s`);
}, PACK_TIMEOUT);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the compiled JS and types, the prebuild, the native sources and the install script, nothing else', () => {
    const entries = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    const allowed = new RegExp(
      '^package/(package\\.json|README\\.md|LICENSE(\\.md)?|CMakeLists\\.txt|binding\\.d\\.ts' +
        '|dist/[\\w-]+\\.(js|mjs|d\\.ts|d\\.mts)' +
        '|prebuilds/[\\w+-]+/[\\w.+-]+\\.node' +
        '|native/(core|algos|cpu|cpu/(x86|arm|ref)|cuda|binding)/[\\w-]+\\.(h|hpp|cpp|cu|cuh|inl)' +
        '|scripts/(install|cmake-js-args)\\.js)$',
    );
    expect(entries.filter((e) => !allowed.test(e))).toEqual([]);
    for (const must of [
      'package/dist/index.js', 'package/dist/index.mjs', 'package/dist/index.d.ts', 'package/dist/index.d.mts',
      'package/binding.d.ts', 'package/CMakeLists.txt', 'package/scripts/install.js', 'package/native/binding/addon.cpp',
      'package/prebuilds/linux-x64/channelconv.glibc.node', 'package/prebuilds/linux-arm64/channelconv.glibc.node',
    ]) {
      expect(entries).toContain(must);
    }
  });

  it.each([
    ['x64', 'X86-64', 'ld-linux-x86-64'],
    ['arm64', 'AArch64', 'ld-linux-aarch64'],
  ])('has a portable linux-%s prebuild: no -march=native, the glibc the README states, only libc, libgomp and libgcc_s', (arch, machine, loader) => {
    const dir = path.join(tmp, `unpacked-${arch}`);
    fs.mkdirSync(dir);
    execFileSync('tar', ['-xzf', tarball, '-C', dir]);
    const node = path.join(dir, 'package', 'prebuilds', `linux-${arch}`, 'channelconv.glibc.node');
    // One binary for every CPU of the architecture: no build-machine tuning (ISA kernels are picked at run time).
    const cmake = fs.readFileSync(path.join(dir, 'package', 'CMakeLists.txt'), 'utf8').replace(/#.*$/gm, '');
    expect(cmake).not.toMatch(/-m(arch|tune|cpu)=native/);
    // readelf reads every architecture's ELF files (the host's objdump may not).
    expect(execFileSync('readelf', ['-h', node], { encoding: 'utf8' })).toMatch(new RegExp(`Machine:\\s+.*${machine}`));
    const symbols = execFileSync('readelf', ['-W', '--dyn-syms', node], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const versions = [...symbols.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const needed = versions.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a), [2, 0]);
    // The README's platform table: the row of this prebuild states "glibc X.Y or newer".
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const stated = new RegExp(`^\\| linux-${arch} \\(glibc\\)[^\\n]*glibc (\\d+)\\.(\\d+) or newer`, 'm').exec(readme);
    expect(stated, `README states "glibc X.Y or newer" in its linux-${arch} (glibc) row`).not.toBeNull();
    const [maj, min] = [Number(stated![1]), Number(stated![2])];
    // README's number must be the real minimum, not merely an upper bound.
    expect(`${needed[0]}.${needed[1]}`).toBe(`${maj}.${min}`);
    const libs = [...execFileSync('readelf', ['-d', node], { encoding: 'utf8' }).matchAll(/\(NEEDED\)\s+Shared library: \[(\S+)\]/g)].map((m) => m[1]);
    expect(libs).toContain('libc.so.6');
    expect(libs.filter((l) => !new RegExp(`^(libc|libm|libdl|libpthread|librt|libgomp|libgcc_s|${loader})\\.so\\.\\d+$`).test(l))).toEqual([]);
  });
});

describe.each([
  ['with its install script', true],
  ['with --ignore-scripts', false],
])('installed %s on a machine with no compiler', (name, scripts) => {
  let dir = '';
  let install = { status: null as number | null, output: '' };
  beforeAll(() => {
    dir = project(scripts ? 'with-scripts' : 'ignore-scripts', scripts);
    install = npmInstall(dir, scripts);
    writeChecks(dir);
  }, PACK_TIMEOUT);

  it('installs, using the prebuild (no source build)', () => {
    expect(install.status, install.output).toBe(0);
    // npm prints the script's banner when it runs it (--foreground-scripts).
    expect(install.output.includes('node scripts/install.js')).toBe(scripts);
    expect(fs.existsSync(path.join(dir, 'node_modules', 'channelconv', 'build'))).toBe(false);
  });

  it('require() computes the lecture example from the prebuild', () => {
    const out = runCheck(dir, 'check.cjs');
    expect(out.y).toEqual(EXPECTED);
    expect(out.shape).toEqual([2, 2]);
    expect(out.binary).toBe(path.join(dir, 'node_modules', 'channelconv', 'prebuilds', 'linux-x64', 'channelconv.glibc.node'));
  });

  it('import computes it too, sharing one instance with require()', () => {
    const out = runCheck(dir, 'check.mjs');
    expect(out).toEqual({ y: EXPECTED, z: EXPECTED, same: true });
  });

  it("the installed README's links work from node_modules: anchors of its headings, absolute URLs, or files it ships", () => {
    const pkgDir = path.join(dir, 'node_modules', 'channelconv');
    const readme = fs.readFileSync(path.join(pkgDir, 'README.md'), 'utf8');
    const heads = anchors(readme);
    for (const l of links(readme)) {
      const where = `README.md:${l.line}: ${l.target}`;
      if (/^[a-z]+:/i.test(l.target)) continue; // absolute (package.test.ts checks where they point)
      if (l.target.startsWith('#')) expect(heads.has(l.target.slice(1)), where).toBe(true);
      else expect(fs.existsSync(path.join(pkgDir, decodeURIComponent(l.target.replace(/[#?].*$/, '')))), `${where}: not in the package`).toBe(true);
    }
  });
});

describe('TypeScript consumers', () => {
  it('a .cts and a .mts consumer type-check against the published types (node16, nodenext)', () => {
    const dir = project('typescript', false);
    expect(npmInstall(dir, false).status).toBe(0);
    fs.writeFileSync(path.join(dir, 'consumer.cts'), CONSUMER_CTS);
    fs.writeFileSync(path.join(dir, 'consumer.mts'), CONSUMER_MTS);
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', lib: ['ES2022'], strict: true, noEmit: true, types: [], skipLibCheck: false },
        files: ['consumer.cts', 'consumer.mts'],
      }),
    );
    // The repo's TypeScript, with the full PATH (type-checking needs no compiler either way).
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const env = cleanEnv(process.env.PATH ?? '');
    for (const mode of ['node16', 'nodenext']) {
      const r = run(process.execPath, [tsc, '-p', 'tsconfig.json', '--module', mode, '--moduleResolution', mode], dir, env);
      expect(r.output, `tsc --module ${mode}`).toBe('');
      expect(r.status).toBe(0);
    }
    // The check can fail: a wrong assignment is reported.
    fs.writeFileSync(path.join(dir, 'consumer.mts'), CONSUMER_MTS.replace('const known: boolean', 'const known: string'));
    const bad = run(process.execPath, [tsc, '-p', 'tsconfig.json', '--module', 'nodenext'], dir, env);
    expect(bad.status).not.toBe(0);
    expect(bad.output).toMatch(/consumer\.mts.*TS2322/);
  });
});

describe('no usable prebuild and no compiler', () => {
  let noPrebuild = '';
  beforeAll(() => {
    // The same tarball without prebuilds/: what a platform without a prebuild sees.
    const dir = path.join(tmp, 'repack');
    fs.mkdirSync(dir);
    execFileSync('tar', ['-xzf', tarball, '-C', dir]);
    fs.rmSync(path.join(dir, 'package', 'prebuilds'), { recursive: true });
    noPrebuild = path.join(tmp, 'channelconv-noprebuild.tgz');
    execFileSync('tar', ['-czf', noPrebuild, '-C', dir, 'package']);
  });

  it('the install script fails, saying what is missing and how to fix it', () => {
    const dir = project('noprebuild-scripts', true, noPrebuild);
    const r = npmInstall(dir, true, noPrebuild);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/tried: prebuilt binary: No native build was found for platform=linux arch=x64/);
    expect(r.output).toMatch(/missing for a build from source: cmake \(>= 3\.18\) on PATH; a C\+\+17 compiler/);
    expect(r.output).toMatch(/apt-get install cmake g\+\+/);
    expect(r.output).toMatch(/npm rebuild channelconv/);
  });

  it('installed with --ignore-scripts, import works and the first call explains the load failure', () => {
    const dir = project('noprebuild-ignore', false, noPrebuild);
    expect(npmInstall(dir, false, noPrebuild).status).toBe(0);
    fs.writeFileSync(
      path.join(dir, 'fail.cjs'),
      "const cc = require('channelconv');\n" +
        'try { cc.backendInfo(); console.log(JSON.stringify({ ok: true })); }\n' +
        'catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: !!e.cause })); }\n',
    );
    const out = runCheck(dir, 'fail.cjs');
    expect(out.code).toBe('ERR_CHANNELCONV_LOAD_FAILED');
    expect(out.cause).toBe(true);
    expect(out.message).toMatch(/could not load its native addon on linux-x64 \(glibc [\d.]+, Node /);
    expect(out.message).toMatch(/Tried:\n {2}- no binary in .*build\/Release \(a source build\) or in .*prebuilds \(this copy of the package has no prebuilds\)/);
    expect(out.message).toMatch(/Possible fixes:\n {2}- There is no prebuilt binary for linux-x64/);
    expect(out.message).toMatch(/npm_config_build_from_source=true npm rebuild channelconv/);
  });

  it('npm_config_build_from_source=true skips a working prebuild (and so fails here)', () => {
    const dir = project('forced-source', true);
    const r = npmInstall(dir, true, tarball, { npm_config_build_from_source: 'true' });
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/tried: prebuilt binary: skipped \(npm_config_build_from_source is set\)/);
    expect(r.output).toMatch(/missing for a build from source: cmake/);
  });
});

describe('a build from source of the tarball (cmake and a compiler on PATH)', () => {
  it('npm_config_build_from_source=true CHANNELCONV_CUDA=OFF npm rebuild builds, passes the switch to CMake and loads', () => {
    const dir = project('source-build', true);
    expect(npmInstall(dir, false).status).toBe(0);
    const env = cleanEnv(process.env.PATH ?? '', { npm_config_build_from_source: 'true', CHANNELCONV_CUDA: 'OFF' });
    const r = run(path.join(bin, 'npm'), ['rebuild', '--foreground-scripts', 'channelconv'], dir, env);
    expect(r.status, r.output).toBe(0);
    const pkgDir = path.join(dir, 'node_modules', 'channelconv');
    expect(fs.readFileSync(path.join(pkgDir, 'build', 'CMakeCache.txt'), 'utf8')).toMatch(/^CHANNELCONV_CUDA:\w+=OFF$/m);
    // Quiet by default: one line per step, with why CUDA is not built; the full log in build/install.log.
    const ours = r.output.split('\n').filter((l) => l.startsWith('channelconv: '));
    expect(ours.map((l) => l.split(' ')[1]), r.output).toEqual(['prebuilt', 'building', 'configure:', 'configure:', 'compile:', 'built']);
    expect(r.output).toContain('channelconv: configure: CUDA kernels OFF (switched off: CHANNELCONV_CUDA=OFF)');
    expect(r.output).toMatch(/channelconv: configure: CPU kernels for \w+/);
    expect(r.output).not.toMatch(/INFO RUN|CMAKE_JS_VERSION|Building CXX object|cublas|-- Detecting/);
    const log = fs.readFileSync(path.join(pkgDir, 'build', 'install.log'), 'utf8');
    expect(log).toMatch(/CMAKE_JS_VERSION/);
    expect(log).toMatch(/Building CXX object/);
    writeChecks(dir);
    const out = runCheck(dir, 'check.cjs');
    expect(out.y).toEqual(EXPECTED);
    expect(out.binary).toBe(path.join(pkgDir, 'build', 'Release', 'channelconv.node'));
    // CHANNELCONV_VERBOSE=1: the whole log as it runs (an incremental rebuild: quick).
    const v = run(path.join(bin, 'npm'), ['rebuild', '--foreground-scripts', 'channelconv'], dir, { ...env, CHANNELCONV_VERBOSE: '1' });
    expect(v.status, v.output).toBe(0);
    expect(v.output).toMatch(/INFO CMD BUILD/);
    expect(v.output).toContain('full log follows');
  }, PACK_TIMEOUT);
});
