#!/usr/bin/env node
// prebuildify's `--node-gyp` program. prebuildify runs it (no shell) in its --cwd as
//   <this> rebuild --target=<node version> --devdir=<cache>/node --arch=<arch> --release|--debug
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
if (arch && arch !== process.arch) {
  console.error(`prebuildify-build: cross-compiling to ${arch} is not supported (this is ${process.arch})`);
  process.exit(1);
}
const config = argv.includes('--debug') ? 'Debug' : 'Release';
const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const args = [cmakeJs, 'rebuild', '--directory', root, '--out', path.resolve('build'), '--config', config,
  '--log-level', 'warn', ...cmakeJsArgs()];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
