#!/usr/bin/env node
// prebuildify's `--node-gyp` program. prebuildify runs it (no shell) in its --cwd as
//   <this> rebuild --target=<node version> --devdir=<cache>/node --arch=<arch> --release|--debug
// (with CHANNELCONV_TOOLCHAIN_FILE set by scripts/prebuildify.js when <arch> is not this machine's)
// and then takes the first *.node in <cwd>/build/Release (or Debug), strips it and moves it into
// prebuilds/<platform>-<arch>/. We build with cmake-js instead of node-gyp; N-API 8 headers come from
// node-api-headers (package.json "binary"), so --target and --devdir are not needed.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');
const { cmakeJsArgs } = require('./cmake-js-args');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const opt = (name) => (argv.find((a) => a.startsWith(`--${name}=`)) || '').slice(name.length + 3);

if (argv[0] !== 'rebuild') {
  console.error(`prebuildify-build: expected "rebuild", got ${JSON.stringify(argv.join(' '))}`);
  process.exit(1);
}
const arch = opt('arch');
// A cross build comes with its CMake toolchain file (scripts/prebuildify.js sets it).
const toolchain = process.env.CHANNELCONV_TOOLCHAIN_FILE;
if (arch && arch !== process.arch && !toolchain) {
  console.error(`prebuildify-build: cross-compiling to ${arch} needs CHANNELCONV_TOOLCHAIN_FILE (this is ${process.arch}); run scripts/prebuildify.js --arch ${arch}`);
  process.exit(1);
}
const config = argv.includes('--debug') ? 'Debug' : 'Release';
const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const args = [cmakeJs, 'rebuild', '--directory', root, '--out', path.resolve('build'), '--config', config,
  '--log-level', 'warn', ...cmakeJsArgs(), ...(toolchain ? [`--CDCMAKE_TOOLCHAIN_FILE=${toolchain}`] : [])];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
