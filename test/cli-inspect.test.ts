/**
 * `etcd-coord locks` and `etcd-coord inspect`, run as real processes against the shared
 * etcd, with holders and waiters set up in this process.
 */
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../src/index.js';
import { killAllCli, runCli } from './cli-run.js';
import { failOnUnhandledRejections, keysUnder } from './fixtures/lock-util.js';
import { connectShared, uniqueNamespace, waitFor } from './harness/index.js';

failOnUnhandledRejections();

const coords: Coordinator[] = [];
async function open(namespace: string, owner: string, ttl = 10): Promise<Coordinator> {
  const c = await connectShared({ namespace, owner, ttl });
  coords.push(c);
  return c;
}
afterEach(async () => {
  killAllCli();
  await Promise.all(coords.splice(0).map((c) => c.close()));
});

describe('etcd-coord locks and inspect', () => {
  it('locks lists one line per queue; inspect shows a whole queue; both with --json', async () => {
    const ns = uniqueNamespace('cliinspect');
    const a = await open(ns, 'alpha', 10);
    const b = await open(ns, 'beta', 8);
    const held = await a.mutex('jobs/nightly').acquire();
    const waiting = b.mutex('jobs/nightly').acquire();
    waiting.catch(() => undefined); // reported by the await below; not as unhandled when a check fails first
    await waitFor(async () => (await keysUnder(a, 'jobs/nightly/')).length === 2, 'beta queued');
    const leader = await a.election('primary').campaign('node-1');
    // A semaphore of 2, both permits held: '+1' more holder, no waiters.
    const permits = [await a.semaphore('pool', 2).acquire(), await b.semaphore('pool', 2).acquire()];
    const lease = await a.client.lease(120, { autoKeepAlive: false }).grant();
    const hex = BigInt(lease).toString(16);
    await a.client.put(`${ns}legacy/${hex}`).value('').lease(lease).exec();
    // Another writer's record whose owner would break the line: shown JSON-quoted.
    await a.client.put(`${ns}foreign/${hex}`).value('{"owner":"two\\nlines"}').lease(lease).exec();
    const [sa, sb] = await Promise.all([a.session(), b.session()]);

    const [table, json, only, queue, queueJson] = await Promise.all([
      runCli(['locks', '--namespace', ns]),
      runCli(['locks', '--json', '--namespace', ns]),
      runCli(['locks', 'jobs/', '--namespace', ns]),
      runCli(['inspect', 'jobs/nightly', '--namespace', ns]),
      runCli(['inspect', 'jobs/nightly', '--json', '--namespace', ns]),
    ]);

    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+OWNER\s+TOKEN\s+HELD FOR\s+WAITERS\s+OLDEST WAIT\s+TTL LEFT$/);
    expect(lines.slice(1), table.stdout).toHaveLength(5);
    expect(lines.splice(1, 1)[0]).toMatch(/^foreign\s+"two\\nlines"\s+\d+\s+-\s+0\s+-\s+\d+s$/);
    expect(lines[1]).toMatch(new RegExp(`^jobs/nightly\\s+alpha\\s+${held.token}\\s+\\d+s\\s+1\\s+\\d+s\\s+\\d+s$`));
    expect(lines[2]).toMatch(/^legacy\s+\(unknown\)\s+\d+\s+-\s+0\s+-\s+\d+s$/);
    expect(lines[3]).toMatch(/^pool\s+alpha \+1\s+\d+\s+\d+s\s+0\s+-\s+\d+s$/);
    expect(lines[4]).toMatch(new RegExp(`^primary\\s+"node-1"\\s+${leader.token}\\s+-\\s+0\\s+-\\s+\\d+s$`));

    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout);
    expect(BigInt(doc.revision)).toBeGreaterThanOrEqual(leader.token);
    expect(Number.isNaN(Date.parse(doc.takenAt))).toBe(false);
    expect(doc.queues.map((q: { name: string }) => q.name)).toEqual([
      'foreign',
      'jobs/nightly',
      'legacy',
      'pool',
      'primary',
    ]);
    expect(doc.queues.shift().head.owner).toBe('two\nlines');
    expect(doc.queues[0]).toMatchObject({
      name: 'jobs/nightly',
      holders: 1,
      waiters: 1,
      head: {
        key: held.key,
        leaseId: sa.leaseId,
        token: String(held.token),
        position: 0,
        owner: 'alpha',
        host: hostname(),
        pid: process.pid,
        grantedTtlS: 10,
      },
    });
    expect(doc.queues[0].heldForS).toBeGreaterThanOrEqual(0);
    expect(doc.queues[0].oldestWaitS).toBeGreaterThanOrEqual(0);
    expect(doc.queues[0].head.ttlRemainingS).toBeLessThanOrEqual(10);
    expect(doc.queues[1]).toMatchObject({ name: 'legacy', waiters: 0, heldForS: null, head: { value: '' } });
    expect(doc.queues[1].head.owner).toBeUndefined();
    expect(doc.queues[2]).toMatchObject({
      name: 'pool',
      holders: 2,
      waiters: 0,
      oldestWaitS: null,
      head: { owner: 'alpha', holds: true, kind: 'semaphore', limit: 2 },
    });

    expect(only.code).toBe(0);
    expect(only.stdout.trimEnd().split('\n').slice(1)).toEqual([expect.stringMatching(/^jobs\/nightly\s+alpha /)]);

    expect(queue.code, queue.stderr).toBe(0);
    const rows = queue.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(
      /^POS\s+HOLDS\s+OWNER\s+HOST\s+PID\s+TOKEN\s+LEASE\s+TTL LEFT\s+GRANTED TTL\s+FOR\s+SINCE$/,
    );
    expect(rows[1]).toMatch(
      new RegExp(
        `^0\\s+yes\\s+alpha\\s+\\S+\\s+${process.pid}\\s+${held.token}\\s+${sa.leaseId}\\s+\\d+s\\s+10s\\s+\\d+s\\s+\\d{4}-`,
      ),
    );
    expect(rows[2]).toMatch(
      new RegExp(`^1\\s+no\\s+beta\\s+\\S+\\s+${process.pid}\\s+\\d+\\s+${sb.leaseId}\\s+\\d+s\\s+8s\\s`),
    );
    expect(rows).toHaveLength(3);

    // Both permits of the semaphore hold.
    const poolRun = await runCli(['inspect', 'pool', '--namespace', ns]);
    expect(poolRun.code, poolRun.stderr).toBe(0);
    const poolRows = poolRun.stdout.trimEnd().split('\n').slice(1);
    expect(poolRows.map((r) => r.split(/\s+/).slice(0, 3))).toEqual([
      ['0', 'yes', 'alpha'],
      ['1', 'yes', 'beta'],
    ]);

    expect(queueJson.code).toBe(0);
    const q = JSON.parse(queueJson.stdout);
    expect(q.name).toBe('jobs/nightly');
    expect(q.contenders.map((c: { owner: string; position: number }) => [c.owner, c.position])).toEqual([
      ['alpha', 0],
      ['beta', 1],
    ]);

    await held.release();
    await (await waiting).release();
    await Promise.all(permits.map((p) => p.release()));
    await leader.resign();
    await a.client.leaseClient.leaseRevoke({ ID: lease });
  }, 60_000);

  it('nobody there: exit 0 with a note on stderr; --json prints an empty list', async () => {
    const ns = uniqueNamespace('cliinspect');
    const [locks, locksJson, queue, queueJson] = await Promise.all([
      runCli(['locks', '--namespace', ns]),
      runCli(['locks', '--json', '--namespace', ns]),
      runCli(['inspect', 'free', '--namespace', ns]),
      runCli(['inspect', 'free', '--json', '--namespace', ns]),
    ]);
    expect([locks.code, locks.stdout, locks.stderr]).toEqual([0, '', 'etcd-coord: no locks or elections\n']);
    expect(JSON.parse(locksJson.stdout).queues).toEqual([]);
    expect([queue.code, queue.stdout, queue.stderr]).toEqual([0, '', 'etcd-coord: nobody holds or waits for free\n']);
    expect(JSON.parse(queueJson.stdout)).toMatchObject({ name: 'free', contenders: [] });
  }, 60_000);

  it('bad input exits 2 before connecting', async () => {
    const noEtcd = ['--endpoints', '127.0.0.1:9'];
    const results = await Promise.all([
      runCli(['inspect', 'a b', ...noEtcd]),
      runCli(['inspect', ...noEtcd]),
      runCli(['locks', 'a', 'b', ...noEtcd]),
      runCli(['inspect', 'x', '--bogus', ...noEtcd]),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2]);
    expect(results[0].stderr).toMatch(/name "a b" is not valid/);
    expect(results[1].stderr).toMatch(/missing NAME[\s\S]*Usage: etcd-coord inspect NAME/);
    expect(results[2].stderr).toMatch(/unexpected argument "b"[\s\S]*Usage: etcd-coord locks \[PREFIX\]/);
    expect(results[3].stderr).toMatch(/Unknown option '--bogus'/);
    // A bad prefix is found by inspect() itself, after connecting: still exit 2, nothing read.
    const prefix = await runCli(['locks', '/x']);
    expect(prefix.code).toBe(2);
    expect(prefix.stderr).toMatch(/inspect prefix "\/x" is not valid/);
  }, 60_000);
});
