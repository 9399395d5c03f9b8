// Allocation failure is an Error with code ERR_CHANNELCONV_OUT_OF_MEMORY, never an abort. Child
// processes run under `ulimit -v` (a hard address-space limit), so real allocations fail: the
// workspace of a sync call, the output array the TS layer allocates, the input copies and the output
// of an async call. After each failure the same process still computes correctly.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

const entry = path.join(__dirname, '..', 'dist', 'index.js');
// The children use one malloc arena (MALLOC_ARENA_MAX=1): glibc otherwise gives threads arenas of
// their own, each reserving 64-128 MB of address space at moments that vary from run to run (one run
// measured VmPeak 416 KB below the limit: V8 then aborts the child when its heap needs a page). With
// one arena node + the addon take ~0.65 GB of address space at start, and peak within 2 MB of that
// plus what a case allocates; each case leaves ~0.4 GB between what must fit and what must not.
const LIMIT_KB = 1_500_000;

const child = (body: string) => `
const cc = require(${JSON.stringify(entry)});
const small = () => {
  const x = cc.tensor([[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]]);
  const k = cc.tensor([[[[0, 1], [2, 3]], [[1, 2], [3, 4]]]]);
  return JSON.stringify(cc.toNested(cc.conv2dSync(x, k, { threads: 2 })));
};
const settle = (f) => Promise.resolve().then(f).then((ok) => ({ ok }), (e) => ({ error: e.constructor.name, code: e.code, message: e.message }));
const alloc = (n, v) => { try { return new Float32Array(n).fill(v); } catch { console.log(JSON.stringify({ skipped: 'the test could not allocate its own input' })); process.exit(0); } };
(async () => {
  // Start the OpenMP pool and libuv's thread pool while memory is plentiful: both abort the process
  // when they cannot create their threads (not ours to catch; see docs/RELIABILITY.md).
  const report = { warm: small() };
  await cc.conv2d(cc.tensor([[[1]]]), cc.tensor([[[[1]]]]));
  ${body}
  report.after = small();
  console.log(JSON.stringify(report));
})().catch((e) => { console.error('unexpected', e); process.exit(3); });
`;

function runChild(body: string): Record<string, any> {
  const res = spawnSync('bash', ['-c', `ulimit -v ${LIMIT_KB} && exec "$0" -e "$1"`, process.execPath, child(body)], {
    encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_WAIT_POLICY: 'passive', MALLOC_ARENA_MAX: '1' },
  });
  expect(res.signal, res.stderr).toBeNull();
  expect(res.status, res.stderr).toBe(0);
  const report = JSON.parse(res.stdout.trim().split('\n').pop()!);
  console.log(JSON.stringify(report));
  if (!report.skipped) {
    const lecture = JSON.stringify([[[56, 72], [104, 120]]]);
    expect(report.warm).toBe(lecture);
    expect(report.after).toBe(lecture); // the process still works after the failure
  }
  return report;
}

const isOom = (o: { code?: string; error?: string }) => o.code === 'ERR_CHANNELCONV_OUT_OF_MEMORY' && o.error === 'Error';
const okOrOom = (o: Record<string, any>, value: number) => {
  if ('ok' in o) expect(o.ok).toBe(value);
  else expect(isOom(o), JSON.stringify(o)).toBe(true);
};

describe(`out of memory (ulimit -v ${LIMIT_KB} KB in a child process)`, () => {
  it('a huge workspace: sync and async give OUT_OF_MEMORY (or fit and are right)', () => {
    // A legal problem whose im2col may need 4 GB (a 2048x2048 kernel); bounded workspaces fit.
    const report = runChild(`
      const S = 2048;
      const x = { data: alloc(S * S, 0.5), shape: [1, S, S] };
      const w = { data: alloc(S * S, 0.25), shape: [1, 1, S, S] };
      report.workspaceBytes = cc.convCost(x.shape, w.shape, { threads: 1 }).workspaceBytes;
      report.sync = await settle(() => cc.conv2dSync(x, w, { threads: 1 }).data[0]);
      report.async = await settle(async () => (await cc.conv2d(x, w, { threads: 1 })).data[0]);
    `);
    if (report.skipped) return;
    okOrOom(report.sync, 524288); // 0.5 * 0.25 * 2048^2, exact in float32
    okOrOom(report.async, 524288);
    if (report.workspaceBytes > LIMIT_KB * 1024) expect(isOom(report.sync)).toBe(true);
  });

  it('an output that does not fit: sync (TS allocation) and async (input copy) give OUT_OF_MEMORY', () => {
    // A 1x1 conv of a 480 MB input: the output is as big again, the async input copy too.
    const report = runChild(`
      const B = 120_000_000;
      const big = { data: alloc(B, 1), shape: [1, 1, B] };
      const one = { data: new Float32Array([2]), shape: [1, 1, 1, 1] };
      report.sync = await settle(() => cc.conv2dSync(big, one).data.length);
      report.async = await settle(async () => (await cc.conv2d(big, one)).data.length);
    `);
    if (report.skipped) return;
    expect(isOom(report.sync), JSON.stringify(report.sync)).toBe(true);
    expect(isOom(report.async), JSON.stringify(report.async)).toBe(true);
  });

  it('a tiny input with a huge padded output: the async output allocation gives OUT_OF_MEMORY', () => {
    // [1, 1, 1] padded by 9000 on each side: an 18001 x 18001 output, 1.3 GB.
    const report = runChild(`
      const x = { data: new Float32Array([1]), shape: [1, 1, 1] };
      const one = { data: new Float32Array([2]), shape: [1, 1, 1, 1] };
      report.sync = await settle(() => cc.conv2dSync(x, one, { padding: 9000 }).data.length);
      report.async = await settle(async () => (await cc.conv2d(x, one, { padding: 9000 })).data.length);
    `);
    expect(isOom(report.sync), JSON.stringify(report.sync)).toBe(true);
    expect(isOom(report.async), JSON.stringify(report.async)).toBe(true);
    expect(report.async.message).toContain('output');
  });

  it('the same huge output through the one-call CPU path (device cpu) and a prepared layer gives OUT_OF_MEMORY', () => {
    // The tiny input must not lead the fast paths to leave the output to the native side, whose
    // allocation of a JS array would abort the process instead of throwing.
    const report = runChild(`
      const x = { data: new Float32Array([1]), shape: [1, 1, 1] };
      const one = { data: new Float32Array([2]), shape: [1, 1, 1, 1] };
      report.cpu = await settle(() => cc.conv2dSync(x, one, { padding: 9000, device: 'cpu' }).data.length);
      const layer = cc.createConv2d(one, { padding: 9000 });
      report.layerSync = await settle(() => layer.runSync(x).data.length);
      report.layerAsync = await settle(async () => (await layer.run(x)).data.length);
    `);
    for (const k of ['cpu', 'layerSync', 'layerAsync']) expect(isOom(report[k]), `${k}: ${JSON.stringify(report[k])}`).toBe(true);
  });

  it("a caller's out that fits once but not twice: sync works, async (native output buffer) gives OUT_OF_MEMORY", () => {
    // 10601 x 10601 output, 450 MB; the async call computes into its own buffer of that size.
    const report = runChild(`
      const x = { data: new Float32Array([1]), shape: [1, 1, 1] };
      const one = { data: new Float32Array([2]), shape: [1, 1, 1, 1] };
      const S = 10601;
      const out = alloc(S * S, NaN);
      const mid = (S * S - 1) / 2;
      report.sync = await settle(() => { const y = cc.conv2dSync(x, one, { padding: 5300, out, threads: 1 }).data; return y[0] + y[mid]; });
      report.async = await settle(async () => (await cc.conv2d(x, one, { padding: 5300, out })).data[mid]);
    `);
    if (report.skipped) return;
    okOrOom(report.sync, 2);
    expect(isOom(report.async), JSON.stringify(report.async)).toBe(true);
    expect(report.async.message).toContain('output');
  });
});
