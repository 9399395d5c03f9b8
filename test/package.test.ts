// The package loads by its name through require and import, as one module instance, with types.
import { execFileSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { canSpawnNode } from './helpers';

const root = path.join(__dirname, '..');
const node = (code: string, type: 'commonjs' | 'module') =>
  execFileSync(process.execPath, ['--input-type=' + type, '-e', code], { cwd: root, encoding: 'utf8' }).trim();

describe('package entry points', () => {
  it.skipIf(!canSpawnNode())("require('channelconv') works", () => {
    const out = node(
      "const cc = require('channelconv'); console.log(JSON.stringify(Array.from(cc.corr2dMultiIn(cc.tensor([[[0,1,2],[3,4,5],[6,7,8]],[[1,2,3],[4,5,6],[7,8,9]]]), cc.tensor([[[0,1],[2,3]],[[1,2],[3,4]]])).data)))",
      'commonjs',
    );
    expect(JSON.parse(out)).toEqual([56, 72, 104, 120]);
  });

  it.skipIf(!canSpawnNode())("import from 'channelconv' works and shares the CommonJS instance", () => {
    const out = node(
      "import { conv2dSync, tensor } from 'channelconv'; import cc from 'channelconv'; import { createRequire } from 'module';" +
        "const req = createRequire(import.meta.url)('channelconv');" +
        "const y = conv2dSync(tensor([[[1,2],[3,4]]]), tensor([[[[1]]]]));" +
        'console.log(JSON.stringify({ y: Array.from(y.data), same: req === cc && req.conv2dSync === conv2dSync }))',
      'module',
    );
    expect(JSON.parse(out)).toEqual({ y: [1, 2, 3, 4], same: true });
  });

  it('backendInfo reports the CPU kernels and CUDA status', async () => {
    const { backendInfo } = await import('../lib/index');
    const info = backendInfo();
    expect(info.version).toBe(require('../package.json').version);
    expect(info.cpu.isas).toContain(info.cpu.isa);
    expect(info.cpu.isas).toContain('generic');
    // The kernel sets of the architecture (native/cpu/kernel_table.cpp): neon on arm64.
    const own: Record<string, string[]> = { x64: ['avx512', 'avx2'], arm64: ['neon'] };
    for (const isa of own[process.arch] ?? []) expect(info.cpu.isas).toContain(isa);
    if (process.arch === 'arm64') expect(info.cpu.isa).toBe('neon');
    expect(info.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(typeof info.cuda.compiled).toBe('boolean');
    if (!info.cuda.available) expect(info.cuda.reason).toMatch(/\w/);
  });
});
