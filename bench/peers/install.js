// Installs the peer libraries of bench/peers/package.json on first use (npm run bench:peers and its
// --train comparison share them).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const here = __dirname;

// Installs this folder's package.json (exact versions) unless what is installed already matches it.
// ONNXRUNTIME_NODE_INSTALL=skip: the CPU binaries ship inside the npm package; nothing is downloaded.
function ensurePeers() {
  const want = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8')).dependencies;
  const installed = (name) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(here, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      return null;
    }
  };
  const missing = Object.keys(want).filter((n) => installed(n) !== want[n]);
  if (missing.length === 0) return;
  const lock = fs.existsSync(path.join(here, 'package-lock.json'));
  console.error(`bench:peers: installing ${missing.join(', ')} into bench/peers/node_modules (npm ${lock ? 'ci' : 'install'})`);
  const r = spawnSync('npm', [lock ? 'ci' : 'install', '--no-audit', '--no-fund'], {
    cwd: here,
    stdio: ['ignore', 2, 2],
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  if (r.status !== 0) throw new Error('installing the peers failed (see above)');
}

module.exports = { ensurePeers };
