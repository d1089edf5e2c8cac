import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { failOnUnhandledRejections } from './fixtures/lock-util.js';
import { sharedEndpoints } from './harness/index.js';

failOnUnhandledRejections();

const run = promisify(execFile);

async function example(file: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', file], {
    env: { ...process.env, ETCD_ENDPOINTS: sharedEndpoints().join(',') },
    timeout: 60_000,
  });
  return stdout;
}

describe('lock examples run to completion', () => {
  it('examples/fencing-etcd.ts: the stale holder cannot write', async () => {
    const out = await example('examples/fencing-etcd.ts');
    expect(out).toContain('A (stale) writes through lock.txn(): rejected');
    expect(out).toContain('settings/value is now: written by B');
  });

  it('examples/fencing-external-store.ts: the store refuses the stale token', async () => {
    const out = await example('examples/fencing-external-store.ts');
    expect(out).toMatch(/A \(stale\) writes with token \d+; store answers 409/);
    expect(out).toContain('the store holds: B v1');
  });

  it('examples/lock-worker.ts: every job claimed exactly once', async () => {
    const out = await example('examples/lock-worker.ts');
    expect(out).toContain('jobs done: 9 of 9');
    const claims = out.split('\n').filter((l) => l.includes('claimed job'));
    expect(claims).toHaveLength(9);
    expect(new Set(claims.map((l) => l.match(/job (\d+)/)?.[1])).size).toBe(9);
  });
});
