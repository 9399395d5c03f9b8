#!/usr/bin/env node
// npm run prebuildify: builds prebuilds/<platform>-<arch>/channelconv.<libc>.node from a clean tree.
// prebuildify *moves* the first .node it finds in <its cwd>/build/Release into prebuilds/, so it runs
// in a staging directory (build-prebuildify/) and the development build in build/ is left alone.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const stage = path.join(root, 'build-prebuildify');
fs.mkdirSync(stage, { recursive: true });
const args = [
  require.resolve('prebuildify/bin.js', { paths: [root] }),
  '--napi', '--strip', '--tag-libc',
  '--name', require(path.join(root, 'package.json')).name,
  '--cwd', stage,
  '--out', root,
  // node-gyp's header cache dir; unused by cmake-js, but kept out of the shared /tmp/prebuildify.
  '--cache', path.join(stage, 'cache'),
  '--node-gyp', path.join(__dirname, 'prebuildify-build.js'),
];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
