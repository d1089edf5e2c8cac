import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sharedEndpoints, uniqueNamespace } from './harness/index.js';

const run = promisify(execFile);

describe('examples/barrier.ts', () => {
  it('runs to completion: workers pass the setup barrier after it, then two rounds in lockstep, no key left', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/barrier.ts'], {
      env: { ...process.env, ETCD_ENDPOINTS: sharedEndpoints().join(','), EXAMPLE_NAMESPACE: uniqueNamespace('ex') },
      timeout: 60_000,
    });
    const lines = stdout.split('\n');
    expect(lines.filter((l) => l.endsWith('passed the setup barrier (config ready: yes)'))).toHaveLength(3);
    expect(lines.indexOf('setup done; releasing the barrier')).toBeLessThan(
      lines.findIndex((l) => l.includes('passed the setup barrier')),
    );
    for (const round of [1, 2]) {
      expect(lines.filter((l) => l.endsWith(`entered round ${round}`))).toHaveLength(3);
      expect(lines.filter((l) => l.endsWith(`left round ${round}`))).toHaveLength(3);
    }
    expect(stdout).toContain('rounds in lockstep: yes; keys left: 0');
  }, 70_000);
});
