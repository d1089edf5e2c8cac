/**
 * `etcd-coord lock` and `etcd-coord elect`, run as real processes against the shared etcd.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../src/index.js';
import { killAllCli, runCli, startCli } from './cli-run.js';
import { connectShared, uniqueNamespace, waitFor } from './harness/index.js';

let dir: string;
let coord: Coordinator;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'etcd-coord-cli-'));
  coord = await connectShared({ namespace: '' });
});
afterEach(() => killAllCli());
afterAll(async () => {
  await coord.close();
  rmSync(dir, { recursive: true, force: true });
});

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);
const keysUnder = (prefix: string) => coord.kv.getAll().prefix(prefix).keys();

/** A shell CMD that logs "start", waits (at most 30 s) for the file `go`, then logs "end". */
function waitingCmd(log: string, go: string): string[] {
  const wait = `i=0; while [ ! -e '${go}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done`;
  return [
    'sh',
    '-c',
    `echo "start $ETCD_COORD_TOKEN $ETCD_COORD_LOCK_KEY" >> '${log}'; ${wait}; echo "end $ETCD_COORD_TOKEN" >> '${log}'`,
  ];
}

describe('etcd-coord lock', () => {
  it('two concurrent runs exclude each other, pass rising fencing tokens, and --try exits 3 while held', async () => {
    const ns = uniqueNamespace('clilock');
    const log = join(dir, 'lock.log');
    const go = join(dir, 'lock.go');
    const args = ['lock', 'jobs/nightly', '--namespace', ns, '--', ...waitingCmd(log, go)];
    const a = startCli(args);
    const b = startCli(args);
    // Both are in etcd's queue, and exactly one of them runs CMD.
    await waitFor(
      async () => (await keysUnder(`${ns}jobs/nightly/`)).length === 2 && lines(log).length === 1,
      'two contenders, one running',
      30_000,
    );
    expect(lines(log)).toHaveLength(1);

    const tried = await runCli([
      'lock',
      'jobs/nightly',
      '--try',
      '--namespace',
      ns,
      '--',
      'sh',
      '-c',
      `echo tried >> '${log}'`,
    ]);
    expect(tried.code).toBe(3);
    expect(tried.stderr).toMatch(/lock jobs\/nightly is held/);
    expect(lines(log)).toHaveLength(1);

    writeFileSync(go, '');
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const entries = lines(log).map((l) => l.split(' '));
    expect(entries.map((e) => e[0])).toEqual(['start', 'end', 'start', 'end']);
    const [t1, t2] = [BigInt(entries[0][1]), BigInt(entries[2][1])];
    expect(entries[1][1]).toBe(entries[0][1]);
    expect(entries[3][1]).toBe(entries[2][1]);
    expect(t2).toBeGreaterThan(t1);
    expect(entries[0][2]).toMatch(new RegExp(`^${ns}jobs/nightly/[0-9a-f]+$`));
    expect(await keysUnder(ns)).toEqual([]);
  }, 60_000);

  it('a lost lock stops CMD with SIGTERM and exits 4; CMD gets the signals of etcd-coord', async () => {
    const ns = uniqueNamespace('clilost');
    const log = join(dir, 'lost.log');
    const loop = 'i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done';
    const cmd = (sig: string) => [
      'sh',
      '-c',
      `trap 'echo ${sig} >> "${log}"; exit 9' ${sig}; echo "start $ETCD_COORD_TOKEN" >> '${log}'; ${loop}`,
    ];

    const lost = startCli(['lock', 'held', '--namespace', ns, '--grace', '5', '--', ...cmd('TERM')]);
    await waitFor(() => lines(log).length === 1, 'CMD started', 30_000);
    const [key] = await keysUnder(`${ns}held/`);
    expect(lines(log)[0]).toBe(`start ${(await coord.kv.get(key).exec()).kvs[0].create_revision}`);
    await coord.kv.delete().key(key).exec(); // an admin deletes the lock
    const r = await lost.done;
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/lock held lost .*stopping CMD with SIGTERM/);
    expect(lines(log)).toEqual([lines(log)[0], 'TERM']);

    const interrupted = startCli(['lock', 'held', '--namespace', ns, '--', ...cmd('INT')]);
    await waitFor(() => lines(log).length === 3, 'second CMD started', 30_000);
    interrupted.proc.kill('SIGINT');
    const ri = await interrupted.done;
    expect(lines(log)[3]).toBe('INT');
    expect(ri.code).toBe(9); // CMD's own exit status
    expect(await keysUnder(ns)).toEqual([]); // released
  }, 60_000);
});

describe('etcd-coord elect', () => {
  it('--once runs CMD on exactly one of two concurrent callers; the other exits 0 at once', async () => {
    const ns = uniqueNamespace('clielect');
    const log = join(dir, 'elect.log');
    const go = join(dir, 'elect.go');
    const run = (value: string) =>
      startCli(['elect', 'cron', '--once', '--value', value, '--namespace', ns, '--', ...waitingCmd(log, go)]);
    const runs = [run('a'), run('b')];
    const first = await Promise.race(runs.map((r, i) => r.done.then((res) => ({ res, i }))));
    expect(first.res.code).toBe(0);
    expect(first.res.stderr).toMatch(/not the leader of cron \(leader: [ab]\); not running CMD/);
    await waitFor(() => lines(log).length === 1, 'the leader runs CMD', 30_000);

    const leader = await runCli(['leader', 'cron', '--namespace', ns]);
    expect(leader.code).toBe(0);
    expect(leader.stdout.trim()).toBe(first.i === 0 ? 'b' : 'a');

    writeFileSync(go, '');
    const other = await runs[1 - first.i].done;
    expect(other.code).toBe(0);
    expect(lines(log).filter((l) => l.startsWith('start'))).toHaveLength(1);
    expect(await keysUnder(ns)).toEqual([]);
    const none = await runCli(['leader', 'cron', '--namespace', ns]);
    expect(none.code).toBe(3);
  }, 60_000);
});
