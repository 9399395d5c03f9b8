#!/usr/bin/env node
// npm run prebuildify [-- --arch <arch>] [-- --release]: builds prebuilds/<platform>-<arch>/channelconv.<libc>.node
// from a clean tree, for this machine's architecture or (--arch) for another one through a CMake
// toolchain file (cross-compiling: `crossTargets` below). --release builds every prebuild the package
// ships (`shipped`); npm pack runs it (prepack).
// prebuildify *moves* the first .node it finds in <its cwd>/build/Release into prebuilds/, so it runs
// in a staging directory per architecture (build-prebuildify/<arch>/) and the development build in
// build/ is left alone.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');

// The prebuilds in the published package: linux with glibc, x64 and arm64.
const shipped = ['x64', 'arm64'];

// Cross builds this script knows, by `${host}->${target}` on linux: the CMake toolchain file, the
// cross compiler it names, its strip, and the Debian/Ubuntu package that brings them.
const crossTargets = {
  'x64->arm64': {
    toolchain: path.join(root, 'cmake', 'aarch64-linux-gnu.cmake'),
    compiler: 'aarch64-linux-gnu-g++',
    strip: 'aarch64-linux-gnu-strip',
    apt: 'g++-aarch64-linux-gnu',
  },
};

function onPath(name) {
  return (process.env.PATH || '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir || '.', name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** prebuildify's arguments and environment for one architecture; exits with a message when it cannot. */
function prebuild(arch) {
  const stage = path.join(root, 'build-prebuildify', arch);
  fs.mkdirSync(stage, { recursive: true });
  const env = { ...process.env };
  const args = [
    require.resolve('prebuildify/bin.js', { paths: [root] }),
    '--napi', '--strip', '--tag-libc',
    '--name', require(path.join(root, 'package.json')).name,
    '--arch', arch,
    '--cwd', stage,
    '--out', root,
    // node-gyp's header cache dir; unused by cmake-js, but kept out of the shared /tmp/prebuildify.
    '--cache', path.join(stage, 'cache'),
    '--node-gyp', path.join(__dirname, 'prebuildify-build.js'),
  ];
  if (arch !== process.arch) {
    const cross = process.platform === 'linux' && crossTargets[`${process.arch}->${arch}`];
    if (!cross) {
      console.error(`prebuildify: no cross build from ${process.platform}-${process.arch} to ${arch} (known: ${Object.keys(crossTargets).join(', ')} on linux)`);
      process.exit(1);
    }
    if (!onPath(cross.compiler)) {
      console.error(`prebuildify: the linux-${arch} prebuild needs the cross compiler ${cross.compiler} on PATH` +
        ` (Debian/Ubuntu: apt-get install ${cross.apt})`);
      process.exit(1);
    }
    args.push('--strip-bin', cross.strip);
    // Read by prebuildify-build.js, which passes it to CMake.
    env.CHANNELCONV_TOOLCHAIN_FILE = cross.toolchain;
  }
  console.error(`prebuildify: linux-${arch}${arch === process.arch ? '' : ` (cross-compiled with ${crossTargets[`${process.arch}->${arch}`].compiler})`}`);
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
}

const argv = process.argv.slice(2);
const archArg = argv.indexOf('--arch');
const arches = argv.includes('--release') ? shipped : [archArg >= 0 ? argv[archArg + 1] : process.arch];
if (arches.some((a) => !a)) {
  console.error('usage: node scripts/prebuildify.js [--arch <x64|arm64>] [--release]');
  process.exit(1);
}
for (const arch of arches) prebuild(arch);
