#!/usr/bin/env node
// npm install hook: use a binary that loads (the prebuild shipped in prebuilds/, or an earlier source
// build); otherwise build from source with cmake-js. node-gyp-build's own fallback would run node-gyp,
// which this package does not use. `npm_config_build_from_source=true` (or `--build-from-source`)
// skips the prebuild. Environment switches such as CHANNELCONV_CUDA=OFF reach CMake (cmake-js-args.js).
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { cmakeJsArgs } = require('./cmake-js-args');

const root = path.join(__dirname, '..');
const target = `${process.platform}-${process.arch}`;
const forceSource = /^(1|true)$/i.test(process.env.npm_config_build_from_source || '');

/** Why the shipped or already-built binary cannot be used; null when it loads. */
function loadProblem() {
  try {
    require('node-gyp-build')(root);
    return null;
  } catch (err) {
    return String(err.message || err).trim().split('\n')[0];
  }
}

/** The first of `names` that is an executable file on PATH, or null. */
function onPath(names) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    for (const name of names) {
      const file = path.join(dir || '.', name);
      try {
        fs.accessSync(file, fs.constants.X_OK);
        if (fs.statSync(file).isFile()) return file;
      } catch {
        // not here
      }
    }
  }
  return null;
}

function fail(tried, missing) {
  const lines = [
    '',
    `channelconv: cannot install its native addon for ${target} (Node ${process.versions.node}).`,
    ...tried.map((t) => `  tried: ${t}`),
  ];
  if (missing.length) lines.push(`  missing for a build from source: ${missing.join('; ')}`);
  lines.push(
    'How to fix:',
    '  - Prebuilt binaries exist for linux-x64 and linux-arm64 with glibc (minimum version: README,',
    '    "Install"). On such a machine, install without --build-from-source / npm_config_build_from_source.',
    '  - Or build from source: install CMake >= 3.18 and a C++17 compiler (OpenMP is used when it has it)',
    '    (Debian/Ubuntu: apt-get install cmake g++; Fedora/RHEL: dnf install cmake gcc-c++;',
    '    Alpine: apk add cmake g++ make), make sure they are on PATH, then run `npm rebuild channelconv`.',
    '    The build tools cmake-js, node-addon-api and node-api-headers are optional dependencies of',
    '    channelconv; if they were omitted (--omit=optional), add them: npm install cmake-js node-addon-api node-api-headers',
    '',
  );
  console.error(lines.join('\n'));
  process.exit(1);
}

const tried = [];
if (forceSource) {
  tried.push('prebuilt binary: skipped (npm_config_build_from_source is set)');
} else {
  const problem = loadProblem();
  if (problem === null) process.exit(0);
  tried.push(`prebuilt binary: ${problem}`);
}

const missing = [];
const resolveTool = (request) => {
  try {
    return require.resolve(request, { paths: [root] });
  } catch {
    missing.push(`the npm package ${request.split('/')[0]}`);
    return null;
  }
};
const cmakeJs = resolveTool('cmake-js/bin/cmake-js');
resolveTool('node-addon-api');
resolveTool('node-api-headers');
// cmake-js looks cmake up on PATH (or takes npm_config_cmake_path); CMake finds the compiler from CXX or PATH.
if (!process.env.npm_config_cmake_path && !onPath(['cmake'])) missing.push('cmake (>= 3.18) on PATH');
if (!process.env.CXX && !onPath(['c++', 'g++', 'clang++'])) missing.push('a C++17 compiler (c++, g++ or clang++) on PATH');
if (missing.length) fail(tried, missing);

// One line per step on the console; the whole cmake-js/CMake/compiler log goes to build/install.log and
// is printed in full when the build fails. CHANNELCONV_VERBOSE=1 (or npm --loglevel verbose) streams it.
const verbose = /^(1|true|yes|on)$/i.test(process.env.CHANNELCONV_VERBOSE || '') ||
  /^(verbose|silly)$/i.test(process.env.npm_config_loglevel || '');
const say = (msg) => console.error(`channelconv: ${msg}`);
const logFile = path.join(root, 'build', 'install.log');

/** Runs cmake-js; resolves to its exit status (or signal) and its whole output. */
function build() {
  const args = [cmakeJs, 'build', '--directory', root, '--out', path.join(root, 'build'), ...cmakeJsArgs()];
  if (verbose) {
    const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
    return Promise.resolve({ status: r.status === null ? r.signal : r.status, log: null });
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = [];
    let compiling = false;
    // CMake's own summary lines ("-- channelconv: ...": the CPU kernels, and whether CUDA is built and
    // why) and the compile step's size (ninja/make progress "[1/29]", "[  3%]") are the steps shown.
    const onLine = (line) => {
      log.push(line);
      const summary = /^-- channelconv: (.*)$/.exec(line);
      if (summary) say(`configure: ${summary[1]}`);
      const ninja = /^\[\d+\/(\d+)\] /.exec(line);
      if (!compiling && (ninja || /^\[\s*\d+%\] /.test(line))) {
        compiling = true;
        say(`compile: ${ninja ? `${ninja[1]} steps` : 'started'} (several minutes when CUDA kernels are built)`);
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (rest + chunk).split(/\r?\n/);
        rest = lines.pop();
        lines.forEach(onLine);
      });
      stream.on('end', () => { if (rest) onLine(rest); });
    }
    child.on('error', (err) => resolve({ status: String(err.message || err), log: log.join('\n') }));
    child.on('close', (code, signal) => resolve({ status: code === null ? signal : code, log: log.join('\n') }));
  });
}

(async () => {
  say(tried[0]);
  say(`building the native addon from source for ${target} with cmake-js (` +
    (verbose ? 'full log follows)' : 'full log: CHANNELCONV_VERBOSE=1 npm rebuild channelconv, or build/install.log)'));
  const t0 = Date.now();
  const r = await build();
  if (r.log !== null) {
    try {
      fs.mkdirSync(path.dirname(logFile), { recursive: true });
      fs.writeFileSync(logFile, r.log + '\n');
    } catch {
      // the log is a convenience; the console has what matters
    }
  }
  if (r.status !== 0) {
    if (r.log !== null) console.error(r.log);
    tried.push(`build from source: cmake-js build exited with ${r.status} (its output is above)`);
    fail(tried, []);
  }
  const problem = loadProblem();
  if (problem !== null) {
    tried.push(`build from source: built, but the result does not load: ${problem}`);
    fail(tried, []);
  }
  say(`built ${path.relative(root, require('node-gyp-build').resolve(root))} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
})();
