import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { sharedEndpoints } from './harness/index.js';

describe('the README demo', () => {
  it('runs the lock, election failover and registry sections and cleans up after itself', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], {
      env: { ...process.env, ETCD_ENDPOINTS: sharedEndpoints().join(',') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const out = res.stdout;
    expect(out).toContain('final counter: 6 (6 increments, none lost)');
    expect(out).not.toContain('refused');
    expect(out).toMatch(/killing (alpha|beta|gamma) with SIGKILL/);
    expect(out).toMatch(/failover took \d+\.\d s/);
    expect(out).toMatch(/api-2 deregistered; picks: (api-[13]:808[13], ){3}api-[13]:808[13]/);
    expect(out).toMatch(/etcd_coord_sessions \d+/);
    expect(out).toContain('done: every key the demo wrote is gone');
  }, 60_000);
});
