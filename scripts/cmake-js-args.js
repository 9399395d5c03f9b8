// Options every cmake-js build of the addon gets, shared by the install script and the prebuild
// script so that both builds come from the same CMakeLists.txt with the same switches.
'use strict';

/** Environment switches passed through to CMake as -D<NAME>=<value> (e.g. CHANNELCONV_CUDA=OFF). */
const passThrough = ['CHANNELCONV_CUDA'];

function cmakeJsArgs(env = process.env) {
  // Only the addon target: the native test and benchmark executables are not shipped.
  const args = ['--target', 'channelconv'];
  for (const name of passThrough) {
    const value = env[name];
    if (value !== undefined && value !== '') args.push(`--CD${name}=${value}`);
  }
  return args;
}

module.exports = { cmakeJsArgs, passThrough };
