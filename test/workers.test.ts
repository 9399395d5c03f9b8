// The addon is context-aware: it loads and computes in worker_threads, several at once.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { describe, expect, it } from 'vitest';

const entry = path.join(__dirname, '..', 'dist', 'index.js');
const script = `
const { parentPort, workerData } = require('worker_threads');
const cc = require(workerData.entry);
const X = cc.tensor([[[0,1,2],[3,4,5],[6,7,8]],[[1,2,3],[4,5,6],[7,8,9]]]);
const K = cc.tensor([[[[0,1],[2,3]],[[1,2],[3,4]]]]);
(async () => {
  const out = [];
  for (let i = 0; i < workerData.rounds; i++) out.push(Array.from((await cc.conv2d(X, K)).data));
  out.push(Array.from(cc.conv2dSync(X, K).data));
  parentPort.postMessage(out);
})();
`;

function runWorker(rounds: number): Promise<number[][]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(script, { eval: true, workerData: { entry, rounds } });
    w.once('message', (m) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
  });
}

describe('worker_threads', () => {
  it('loads and runs in one worker', async () => {
    const out = await runWorker(3);
    for (const y of out) expect(y).toEqual([56, 72, 104, 120]);
  });

  it('several workers at once, and the main thread too', async () => {
    const results = await Promise.all([runWorker(5), runWorker(5), runWorker(5), runWorker(5)]);
    for (const out of results) for (const y of out) expect(y).toEqual([56, 72, 104, 120]);
  });
});
