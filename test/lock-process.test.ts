import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type Coordinator, isLockTimeoutError, isSessionLostError } from '../src/index.js';
import { failOnUnhandledRejections, keysUnder } from './fixtures/lock-util.js';
import {
  type ChildHandle,
  connectShared,
  FaultProxy,
  findEtcdctl,
  killAllChildren,
  sharedEndpoints,
  spawnChild,
  uniqueNamespace,
  waitFor,
} from './harness/index.js';

failOnUnhandledRejections();

const coords: Coordinator[] = [];
const etcdctls: ChildProcess[] = [];
afterEach(async () => {
  for (const p of etcdctls.splice(0)) p.kill('SIGKILL');
  await killAllChildren();
  await Promise.all(coords.splice(0).map((c) => c.close()));
});

async function open(namespace: string, ttl = 5): Promise<Coordinator> {
  const c = await connectShared({ namespace, ttl });
  coords.push(c);
  return c;
}

function env(ns: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ETCD_ENDPOINTS: sharedEndpoints().join(','), LOCK_NS: ns, ...extra };
}

async function holder(ns: string, name: string, ttl: number): Promise<{ child: ChildHandle; token: bigint }> {
  const child = spawnChild('test/fixtures/lock-holder.ts', env(ns, { LOCK_NAME: name, TTL: String(ttl) }));
  const held = await child.next('held');
  return { child, token: BigInt(held.token as string) };
}

describe('Mutex across processes', () => {
  it('4 processes x 25 read-modify-writes through lock.txn(): exact count, no overlap, rising tokens', async () => {
    const ns = uniqueNamespace('lockmx');
    const workers = Array.from({ length: 4 }, () =>
      spawnChild('test/fixtures/lock-worker.ts', env(ns, { ROUNDS: '25', LOCK_NAME: 'counter-lock' })),
    );
    await Promise.all(workers.map((w) => w.next('ready')));
    for (const w of workers) w.send({ type: 'go' });
    await Promise.all(workers.map((w) => w.next('done', () => true, 90_000)));
    const sections = workers
      .flatMap((w) => w.messages.filter((m) => m.type === 'cs'))
      .map((m) => ({ enter: m.enter as number, exit: m.exit as number, token: BigInt(m.token as string), ok: m.ok }));
    expect(sections).toHaveLength(100);
    expect(sections.every((s) => s.ok)).toBe(true);
    sections.sort((a, b) => (a.token < b.token ? -1 : 1));
    for (let i = 1; i < sections.length; i++) {
      expect(sections[i].token).toBeGreaterThan(sections[i - 1].token);
      expect(sections[i].enter).toBeGreaterThanOrEqual(sections[i - 1].exit);
    }
    const coord = await open(ns);
    expect(await coord.kv.get('counter').string()).toBe('100');
    expect(await keysUnder(coord, 'counter-lock/')).toEqual([]);
  }, 120_000);

  it('a SIGKILLed holder: the next waiter gets the lock once its TTL ends', async () => {
    const ns = uniqueNamespace('lockkill');
    const ttl = 2;
    const { child, token } = await holder(ns, 'k', ttl);
    const coord = await open(ns);
    expect(await coord.mutex('k').tryAcquire()).toBeUndefined();
    await child.kill('SIGKILL');
    const lock = await coord.mutex('k').acquire({ timeoutMs: ttl * 1000 + 3000 });
    expect(lock.token).toBeGreaterThan(token);
    expect(await keysUnder(coord, 'k/')).toEqual([lock.key.slice(ns.length)]);
    await lock.release();
  });

  it('a holder SIGSTOPped past its TTL loses the lock: its signal aborts and its guarded write does not land', async () => {
    const ns = uniqueNamespace('lockstop');
    const ttl = 2;
    const { child, token } = await holder(ns, 'p', ttl);
    const coord = await open(ns);
    const waiting = coord.mutex('p').acquire({ timeoutMs: ttl * 1000 + 5000 });
    await waitFor(async () => (await keysUnder(coord, 'p/')).length === 2, 'the waiter queued');
    child.pause();
    const lock = await waiting;
    expect(lock.token).toBeGreaterThan(token);
    const mine = await lock.txn().then(coord.kv.put('fenced').value('new holder')).commit();
    expect(mine.succeeded).toBe(true);
    // Queued while stopped: the old holder handles it as soon as it runs again.
    child.send({ type: 'write', value: 'stale holder' });
    child.resume();
    const wrote = await child.next('wrote');
    expect(wrote.succeeded).toBe(false);
    const lost = await child.next('lost');
    expect(['SessionLostError', 'LockLostError']).toContain(lost.reason);
    expect(await coord.kv.get('fenced').string()).toBe('new holder');
    expect(await lock.isHeld()).toBe(true);
    await lock.release();
  });
});

describe('Mutex under a partition', () => {
  it('a holder cut off from etcd aborts lock.signal before anyone else can hold the lock', async () => {
    const ns = uniqueNamespace('lockcut');
    const ttl = 2;
    const proxy = await FaultProxy.start(Number(sharedEndpoints()[0].split(':').pop()));
    try {
      const cutOff = await connectShared({ namespace: ns, ttl, endpoints: [proxy.endpoint] });
      coords.push(cutOff);
      const other = await open(ns);
      const lock = await cutOff.mutex('part').acquire();
      let lostAt = 0;
      lock.signal.addEventListener('abort', () => {
        lostAt = performance.now();
      });
      const waiting = other.mutex('part').acquire({ timeoutMs: ttl * 1000 + 5000 });
      await waitFor(async () => (await keysUnder(other, 'part/')).length === 2, 'the waiter queued');
      proxy.blackhole();
      const next = await waiting;
      const acquiredAt = performance.now();
      expect(lostAt).toBeGreaterThan(0);
      expect(lostAt).toBeLessThan(acquiredAt);
      expect(isSessionLostError(lock.signal.reason)).toBe(true);
      expect(await lock.isHeld()).toBe(false);
      await lock.release(); // does not wait for the unreachable etcd
      expect(await next.isHeld()).toBe(true);
      await next.release();
    } finally {
      proxy.pass();
      await proxy.close();
    }
  });
});

describe('interop with etcdctl lock', () => {
  const etcdctl = findEtcdctl();

  function runEtcdctl(args: string[]): { proc: ChildProcess; out: () => string; exited: Promise<number | null> } {
    let out = '';
    const proc = spawn(etcdctl as string, [`--endpoints=${sharedEndpoints().join(',')}`, 'lock', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    etcdctls.push(proc);
    proc.stdout?.on('data', (d) => {
      out += d;
    });
    proc.stderr?.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    return { proc, out: () => out, exited };
  }

  it('etcdctl lock holds: our Mutex waits; released on SIGINT, ours gets it', async () => {
    expect(etcdctl, 'etcdctl is on PATH').toBeTruthy();
    const ns = uniqueNamespace('lockctl');
    const coord = await open(ns);
    const ctl = runEtcdctl(['--ttl=5', `${ns}shared`]);
    const printed = await waitFor(() => ctl.out().trim(), 'etcdctl printed the key it holds');
    expect(printed).toMatch(new RegExp(`^${ns}shared/[0-9a-f]+$`));
    expect((await coord.mutex('shared').holder())?.key).toBe(printed);
    expect(await coord.mutex('shared').tryAcquire()).toBeUndefined();
    const err = await coord
      .mutex('shared')
      .acquire({ timeoutMs: 300 })
      .catch((e) => e);
    expect(isLockTimeoutError(err)).toBe(true);
    const waiting = coord.mutex('shared').acquire({ timeoutMs: 10_000 });
    await waitFor(async () => (await keysUnder(coord, 'shared/')).length === 2, 'our waiter queued');
    ctl.proc.kill('SIGINT');
    const lock = await waiting;
    expect(await lock.isHeld()).toBe(true);
    await lock.release();
  });

  it('our Mutex holds: etcdctl lock waits, and runs its command once we release', async () => {
    expect(etcdctl, 'etcdctl is on PATH').toBeTruthy();
    const ns = uniqueNamespace('lockctl');
    const coord = await open(ns);
    const lock = await coord.mutex('shared').acquire();
    const ctl = runEtcdctl([`${ns}shared`, 'echo', 'etcdctl-got-it']);
    await waitFor(async () => (await keysUnder(coord, 'shared/')).length === 2, 'etcdctl queued');
    const keys = await keysUnder(coord, 'shared/');
    expect(`${ns}${keys[0]}`).toBe(lock.key);
    expect(ctl.out()).not.toContain('etcdctl-got-it');
    expect(await lock.isHeld()).toBe(true);
    await lock.release();
    expect(await ctl.exited).toBe(0);
    expect(ctl.out()).toContain('etcdctl-got-it');
    await waitFor(async () => (await keysUnder(coord, 'shared/')).length === 0, 'etcdctl released');
  });
});
