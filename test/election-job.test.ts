import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type Coordinator, isNotLeaderError, type LeaderJobState } from '../src/index.js';
import { prefixEnd } from '../src/keys.js';
import { checkGuardedWrites, electionSuite } from './fixtures/election-util.js';
import { keysUnder } from './fixtures/lock-util.js';
import { type ChildHandle, runExample, sharedEndpoints, spawnChild, waitFor } from './harness/index.js';

const { open } = electionSuite('elj');
const TTL = 2;

/**
 * Reads the job log (`log/<token>-<n>-start|end`, in revision order) and checks that runs
 * never overlap: tokens never go down, and within a token every start is followed by its
 * own end (a run cut by a lost leadership has no end, and its token never appears again).
 * Returns the completed runs per token.
 */
async function checkRuns(coord: Coordinator): Promise<Map<bigint, number>> {
  const from = `${coord.namespace}log/`;
  const res = await coord.client.kv.range({ key: Buffer.from(from), range_end: prefixEnd(from) });
  const entries = res.kvs
    .map((kv) => {
      const [token, n, phase] = kv.key.toString().slice(from.length).split('-');
      return { token: BigInt(token), n: Number(n), phase, revision: BigInt(kv.create_revision) };
    })
    .sort((a, b) => (a.revision < b.revision ? -1 : 1));
  const completed = new Map<bigint, number>();
  let token = 0n;
  let open: number | undefined;
  for (const e of entries) {
    if (e.token < token) throw new Error(`run ${e.token}-${e.n} ${e.phase} landed after token ${token} started`);
    if (e.token > token) [token, open] = [e.token, undefined];
    if (e.phase === 'start') {
      if (open !== undefined) throw new Error(`run ${e.token}-${e.n} started while run ${open} was open`);
      open = e.n;
    } else {
      if (open !== e.n) throw new Error(`run ${e.token}-${e.n} ended but ${open} was open`);
      open = undefined;
      completed.set(e.token, (completed.get(e.token) ?? 0) + 1);
    }
  }
  return completed;
}

/** A token (other than `except`) with at least `min` completed runs. */
const tokenWithRuns = (coord: Coordinator, min: number, except: bigint[] = []) =>
  waitFor(
    async () => [...(await checkRuns(coord))].find(([t, n]) => n >= min && !except.includes(t))?.[0],
    `a leader with ${min} runs`,
    (TTL + 8) * 1000,
  );

const runnerOf = (children: ChildHandle[], token: bigint) =>
  children.find((c) => c.messages.some((m) => m.type === 'state' && m.token === token.toString())) as ChildHandle;

describe('LeaderJob', () => {
  it('3 processes: runs never overlap, the job survives a SIGKILL of the leader, stop() resigns at once', async () => {
    const coord = await open();
    const env = { ETCD_ENDPOINTS: sharedEndpoints().join(','), EL_NS: coord.namespace, TTL: String(TTL) };
    const children = ['j0', 'j1', 'j2'].map((id) => spawnChild('test/fixtures/election-job.ts', { ...env, ID: id }));
    await Promise.all(children.map((c) => c.next('state'))); // started (tsx start-up is slow on a loaded machine)

    const t1 = await tokenWithRuns(coord, 3);
    const first = runnerOf(children, t1);
    await first.kill('SIGKILL');
    const t2 = await tokenWithRuns(coord, 3, [t1]);
    expect(t2).toBeGreaterThan(t1);

    const second = runnerOf(children, t2);
    second.send({ type: 'stop' });
    expect(await second.next('stopped')).toMatchObject({ keyExists: false });
    const t3 = await tokenWithRuns(coord, 2, [t1, t2]);
    expect(t3).toBeGreaterThan(t2);
    expect(runnerOf(children, t3)).not.toBe(second);

    const runs = await checkRuns(coord);
    expect([...runs.keys()]).toEqual([t1, t2, t3]);
    await checkGuardedWrites(coord, 'log/', 'job');
  }, 60_000);

  it('a task that returns is restarted after a backoff; one that throws is reported failed; stop() resigns', async () => {
    const coord = await open();
    const e = coord.election('cron');
    let calls = 0;
    const job = e.run(
      async () => {
        calls++;
        if (calls === 2) throw new Error('job failed');
      },
      { value: 'me', backoff: { initialDelayMs: 10, maxDelayMs: 50 } },
    );
    const states: LeaderJobState[] = [];
    const watching = (async () => {
      for await (const s of job.status()) states.push(s);
    })();
    await waitFor(() => calls >= 3, 'three runs');
    await job.stop();
    await job.stop(); // twice is fine
    await watching;
    expect(await e.leader()).toBeUndefined();
    expect(await keysUnder(coord, 'cron/')).toEqual([]);
    const types = states.map((s) => (s.type === 'backoff' ? `backoff:${s.reason}` : s.type));
    expect(types.slice(0, 8)).toEqual([
      'campaigning',
      'leading',
      'backoff:finished',
      'campaigning',
      'leading',
      'backoff:failed',
      'campaigning',
      'leading',
    ]);
    expect(types.at(-1)).toBe('stopped');
    const failed = states.find((s) => s.type === 'backoff' && s.reason === 'failed');
    expect(failed?.type === 'backoff' && String(failed.error)).toBe('Error: job failed');
  });

  it('on a lost leadership the task signal aborts, the job waits for the task to settle, then campaigns again', async () => {
    const coord = await open();
    const e = coord.election('worker');
    const tokens: bigint[] = [];
    let stateWhenSettled: string | undefined;
    let firstReason: unknown;
    const job = e.run(
      async (l) => {
        tokens.push(l.token);
        await new Promise((r) => l.signal.addEventListener('abort', r, { once: true }));
        if (tokens.length === 1) {
          firstReason = l.signal.reason;
          await sleep(200); // winding down after the abort
          stateWhenSettled = job.state.type;
        }
      },
      { value: 'w', backoff: { initialDelayMs: 10, maxDelayMs: 50 } },
    );
    await waitFor(() => tokens.length === 1, 'first leadership');
    const key = (await e.leader())?.key as string;
    await coord.client.delete().key(key).exec();
    await waitFor(() => tokens.length === 2, 'leading again');
    expect(isNotLeaderError(firstReason)).toBe(true);
    expect(stateWhenSettled).toBe('leading');
    expect(tokens[1]).toBeGreaterThan(tokens[0]);
    await job.stop();
    expect(job.state).toEqual({ type: 'stopped' });
    expect(await keysUnder(coord, 'worker/')).toEqual([]);
  });

  it('stop() or options.signal while waiting behind another leader leaves no key', async () => {
    const coord = await open();
    const other = await coord.election('cron', { session: await coord.newSession() }).campaign('other');
    const e = coord.election('cron');
    const job = e.run(async () => {}, { value: 'me' });
    await waitFor(async () => (await keysUnder(coord, 'cron/')).length === 2, 'job queued');
    await job.stop();
    expect(job.state).toEqual({ type: 'stopped' });
    expect(await keysUnder(coord, 'cron/')).toEqual([other.key.slice(coord.namespace.length)]);

    const ac = new AbortController();
    const job2 = e.run(async () => {}, { value: 'me', signal: ac.signal });
    await waitFor(async () => (await keysUnder(coord, 'cron/')).length === 2, 'job 2 queued');
    ac.abort();
    await job2.done;
    expect(job2.state).toEqual({ type: 'stopped' });
    expect(await keysUnder(coord, 'cron/')).toHaveLength(1);
    await other.resign();
  });

  it('examples/leader-cron.ts runs to completion with a handover', async () => {
    const { code, out } = await runExample('leader-cron.ts', 'cron');
    expect(code, out).toBe(0);
    expect(out).toMatch(/shutting down/);
    const summary = out.match(/runs: (\d+), by replica: (.*)/);
    expect(Number(summary?.[1])).toBeGreaterThanOrEqual(8);
    expect(summary?.[2].split(' ')).toHaveLength(2); // the leader before and after the handover
  }, 30_000);
});
