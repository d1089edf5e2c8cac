import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { failOnUnhandledRejections } from './fixtures/lock-util.js';
import { sharedEndpoints } from './harness/index.js';

failOnUnhandledRejections();

const run = promisify(execFile);

describe('examples/multi-lock.ts', () => {
  it('transfers in opposite orders complete (no deadlock), every write fenced, the total kept, no key left', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/multi-lock.ts'], {
      env: { ...process.env, ETCD_ENDPOINTS: sharedEndpoints().join(',') },
      timeout: 60_000,
    });
    const moves = stdout.split('\n').filter((l) => / moved \d+ from /.test(l));
    expect(moves).toHaveLength(12);
    expect(moves.filter((l) => l.startsWith('teller-1'))).toHaveLength(6);
    expect(moves.filter((l) => l.startsWith('teller-2'))).toHaveLength(6);
    // Whatever order the names were given in, the locks were taken in one order.
    for (const l of moves)
      expect(l).toMatch(/holding accounts\/(alice \+ accounts\/bob|alice \+ accounts\/carol|bob \+ accounts\/carol)\)/);
    expect(stdout).toContain('total 300');
    expect(stdout).toContain('lock keys left: 0');
  });
});
