// The message of ERR_CHANNELCONV_LOAD_FAILED for dlopen errors that cannot be produced on this machine
// (old glibc, missing runtime libraries); install.test.ts covers the no-binary case end to end.
import { describe, expect, it } from 'vitest';
import { loadFailure } from '../lib/native';

describe('the load-failure message names the likely fix for each dlopen error', () => {
  const file = '/x/node_modules/channelconv/prebuilds/linux-x64/channelconv.glibc.node';
  const existing = __filename; // any file that exists
  const fixFor = (msg: string, code?: string) => {
    const f = msg.startsWith(existing) ? existing : file;
    return loadFailure([`${f}: ${msg}`], true, f, Object.assign(new Error(msg), { code })).split('Possible fixes:')[1];
  };
  it.each([
    [`/lib/x86_64-linux-gnu/libc.so.6: version \`GLIBC_2.34' not found (required by ${file})`, undefined, /C library is older[\s\S]*npm_config_build_from_source=true npm rebuild channelconv/],
    ['libgomp.so.1: cannot open shared object file: No such file or directory', undefined, /apt-get install libgomp1/],
    ['libgcc_s.so.1: cannot open shared object file: No such file or directory', undefined, /apt-get install libgcc-s1/],
    [`${file}: invalid ELF header`, undefined, /damaged or built for another platform/],
    // What glibc says for an existing .node of another architecture (an x64 binary on arm64, seen under qemu).
    [`${existing}: cannot open shared object file: No such file or directory`, undefined, /damaged or built for another platform/],
    ['Cannot load native addon because loading addons is disabled.', 'ERR_DLOPEN_DISABLED', /without --no-addons/],
  ])('%s', (msg, code, fix) => {
    const text = fixFor(msg, code);
    expect(text).toMatch(fix);
    expect(text).toMatch(/README of channelconv, section "Install"/);
  });
});
