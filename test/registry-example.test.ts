import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { failOnUnhandledRejections } from './fixtures/lock-util.js';
import { sharedEndpoints, uniqueNamespace } from './harness/index.js';

failOnUnhandledRejections();

const run = promisify(execFile);

describe('examples/service-discovery.ts', () => {
  it('runs to completion: round-robin over two HTTP instances, one killed, every call answered', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/service-discovery.ts'], {
      env: { ...process.env, ETCD_ENDPOINTS: sharedEndpoints().join(','), EXAMPLE_NAMESPACE: uniqueNamespace('ex') },
      timeout: 60_000,
    });
    const calls = stdout.split('\n').filter((l) => /^call \d+: /.test(l));
    expect(calls).toHaveLength(8);
    expect(new Set(calls.slice(0, 4).map((l) => l.split(': ')[1]))).toEqual(
      new Set(['hello from greeter-a', 'hello from greeter-b']),
    );
    expect(calls.slice(4).every((l) => l.endsWith('hello from greeter-b'))).toBe(true);
    expect(stdout).toMatch(/greeter-a left the registry \d+ ms after the kill/);
    expect(stdout).toContain('greeter-b deregistered: no instance left');
  }, 70_000);
});
