#!/usr/bin/env node
// npm install hook: use a binary that loads (a prebuild or an earlier build); otherwise build from
// source with cmake-js. node-gyp-build's own fallback would run node-gyp, which this package does not use.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const forceSource = /^(1|true)$/i.test(process.env.npm_config_build_from_source || '');

function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

if (!forceSource && loads()) process.exit(0);

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  console.error(
    'channelconv: no prebuilt binary for this platform and cmake-js is not installed, so it cannot be built\n' +
      'from source. Install cmake (>= 3.18), a C++17 compiler and cmake-js, then run `npm rebuild channelconv`.',
  );
  process.exit(1);
}
const r = spawnSync(process.execPath, [cmakeJs, 'build'], { cwd: root, stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
