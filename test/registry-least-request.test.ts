/**
 * Least-request picking (issue 13): `cache.call()` counts calls in flight and notes their
 * outcome; `pick('least-request')` is power of two choices over those counts. Real etcd.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Coordinator,
  isClosedError,
  isInvalidArgumentError,
  isNoInstanceError,
  PICK_STRATEGIES,
  type PickStrategy,
  type Registration,
  type ServiceCache,
  type ServiceInstance,
} from '../src/index.js';
import { failOnUnhandledRejections } from './fixtures/lock-util.js';
import { connectShared, rejectionOf, waitFor } from './harness/index.js';

failOnUnhandledRejections();

const open: Coordinator[] = [];
async function coordinator(): Promise<Coordinator> {
  const c = await connectShared({ ttl: 5 });
  open.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

async function register(coord: Coordinator, service: string, ids: string[]): Promise<Registration[]> {
  return Promise.all(
    ids.map((id, i) => coord.registry.register({ service, id, address: '127.0.0.1', port: 1000 + i })),
  );
}

/** A promise with its resolve and reject outside. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Runs `total` calls through `cache.call()`, `concurrency` at a time; returns the calls per instance id. */
async function load(
  cache: ServiceCache,
  total: number,
  concurrency: number,
  work: (instance: ServiceInstance) => Promise<void>,
  strategy?: PickStrategy,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let left = total;
  const worker = async () => {
    while (left > 0) {
      left--;
      await cache.call(
        async (instance) => {
          counts.set(instance.id, (counts.get(instance.id) ?? 0) + 1);
          expect(cache.inFlight(instance)).toBeGreaterThanOrEqual(1);
          await work(instance);
        },
        strategy ? { strategy } : undefined,
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

describe('least-request', () => {
  it('under concurrency a slow instance gets clearly fewer calls; in flight returns to 0', async () => {
    const coord = await coordinator();
    await register(coord, 'lr', ['fast-1', 'fast-2', 'slow']);
    const cache = await coord.registry.discover('lr');
    expect(PICK_STRATEGIES).toContain('least-request');
    const work = (i: ServiceInstance) => delay(i.id === 'slow' ? 100 : 2);
    const total = 200;
    const fair = total / 3;

    const lr = await load(cache, total, 16, work); // call()'s default strategy: least-request
    const random = await load(cache, total, 16, work, 'random');
    const show = (m: Map<string, number>) => ['fast-1', 'fast-2', 'slow'].map((id) => `${id} ${m.get(id) ?? 0}`);
    console.log(
      `least-request, ${total} calls at concurrency 16 (slow: 100 ms, fast: 2 ms):\n` +
        `  least-request: ${show(lr).join(', ')}\n  random:        ${show(random).join(', ')}`,
    );

    for (const m of [lr, random]) expect([...m.values()].reduce((a, b) => a + b, 0)).toBe(total);
    const slow = lr.get('slow') ?? 0;
    expect(slow / fair).toBeLessThan(0.5); // fewer than half its fair share
    expect(slow * 2).toBeLessThan(Math.min(lr.get('fast-1') ?? 0, lr.get('fast-2') ?? 0));
    expect(slow).toBeLessThan(random.get('slow') ?? 0); // and fewer than random gives it
    expect(cache.inFlight()).toBe(0);
    for (const i of cache.instances()) expect([i.id, cache.inFlight(i)]).toEqual([i.id, 0]);
    expect(cache.instances().some((i) => cache.isDown(i))).toBe(false);
    cache.close();
  });

  it('pick("least-request") takes the instance with fewer calls in flight; random when none is', async () => {
    const coord = await coordinator();
    await register(coord, 'p2c', ['a', 'b']);
    const cache = await coord.registry.discover('p2c');
    const seen = new Set(Array.from({ length: 200 }, () => cache.pick('least-request')?.id));
    expect(seen).toEqual(new Set(['a', 'b']));

    const release = deferred();
    let busy = '';
    const running = cache.call(async (instance) => {
      busy = instance.id;
      await release.promise;
      return instance.id;
    });
    expect(cache.inFlight(busy)).toBe(1); // counted at once, before fn's first await
    const other = busy === 'a' ? 'b' : 'a';
    for (let i = 0; i < 50; i++) expect(cache.pick('least-request')?.id).toBe(other);
    release.resolve();
    expect(await running).toBe(busy);
    expect([cache.inFlight('a'), cache.inFlight('b'), cache.inFlight()]).toEqual([0, 0, 0]);
    cache.close();
  });

  it('an error from fn marks the instance down and is rethrown; a success clears its errors; none left: NoInstanceError', async () => {
    const coord = await coordinator();
    await register(coord, 'flaky', ['a', 'b']);
    const cache = await coord.registry.discover('flaky', {
      downPolicy: { errorThreshold: 2, halfOpenAfterMs: 60_000 },
    });
    const boom = new Error('boom');
    const fail = (seen: string[]) => async (instance: ServiceInstance) => {
      seen.push(instance.id);
      throw boom;
    };

    // Below the threshold a success in between clears the count.
    const first: string[] = [];
    expect(await rejectionOf(cache.call(fail(first), { strategy: 'sticky' }))).toBe(boom);
    const x = first[0];
    expect(await cache.call(async (i) => i.id, { strategy: 'sticky' })).toBe(x);
    expect(await rejectionOf(cache.call(fail(first), { strategy: 'sticky' }))).toBe(boom);
    expect(cache.isDown(x)).toBe(false);

    // Two errors in a row: down, and no strategy picks it while it is down.
    expect(await rejectionOf(cache.call(fail(first), { strategy: 'sticky' }))).toBe(boom);
    expect(first).toEqual([x, x, x]);
    expect(cache.isDown(x)).toBe(true);
    const y = x === 'a' ? 'b' : 'a';
    for (const strategy of PICK_STRATEGIES) {
      for (let i = 0; i < 20; i++) expect(await cache.call(async (inst) => inst.id, { strategy })).toBe(y);
    }

    // The other one goes down too: call() rejects with NoInstanceError and calls nothing.
    const second: string[] = [];
    for (let i = 0; i < 2; i++) expect(await rejectionOf(cache.call(fail(second)))).toBe(boom);
    expect(second).toEqual([y, y]);
    let called = false;
    const err = await rejectionOf(
      cache.call(async () => {
        called = true;
      }),
    );
    expect(isNoInstanceError(err)).toBe(true);
    expect(err.name).toBe('NoInstanceError');
    expect(err.message).toMatch(/flaky.*2 marked down/);
    expect(called).toBe(false);
    expect(cache.pick('least-request')).toBeUndefined();
    expect(cache.inFlight()).toBe(0);
    cache.close();
  });

  it('no instance (none registered, or all draining): NoInstanceError, fn not called', async () => {
    const coord = await coordinator();
    const empty = await coord.registry.discover('nobody');
    let calls = 0;
    const fn = async () => {
      calls++;
    };
    const none = await rejectionOf(empty.call(fn));
    expect(isNoInstanceError(none)).toBe(true);
    expect(none.message).toMatch(/no instance of service nobody is registered/);

    const [reg] = await register(coord, 'drain', ['only']);
    const cache = await coord.registry.discover('drain');
    await cache.call(fn);
    await reg.update({ status: 'draining' });
    await waitFor(() => cache.instances()[0]?.status === 'draining', 'the draining update');
    const draining = await rejectionOf(cache.call(fn));
    expect(isNoInstanceError(draining)).toBe(true);
    expect(draining.message).toMatch(/1 draining/);
    expect(calls).toBe(1);
    empty.close();
    cache.close();
  });

  it('a signal aborted before the call rejects with its reason and calls nothing; aborted during it, fn sees it and the instance is not marked down', async () => {
    const coord = await coordinator();
    await register(coord, 'abort', ['only']);
    const cache = await coord.registry.discover('abort');
    const before = new AbortController();
    const reason = new Error('not any more');
    before.abort(reason);
    let called = false;
    const early = await rejectionOf(
      cache.call(
        async () => {
          called = true;
        },
        { signal: before.signal },
      ),
    );
    expect(early).toBe(reason);
    expect(called).toBe(false);

    const during = new AbortController();
    const started = deferred();
    const running = cache.call(
      async (_instance, signal) => {
        started.resolve();
        await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
      { signal: during.signal },
    );
    await started.promise;
    expect(cache.inFlight('only')).toBe(1);
    const midway = new Error('cancelled midway');
    during.abort(midway);
    expect(await rejectionOf(running)).toBe(midway);
    expect(cache.isDown('only')).toBe(false); // our own abort is not the instance's fault
    expect(cache.inFlight()).toBe(0);
    cache.close();
  });

  it('close() aborts the signal of calls in flight with a ClosedError; call() after close rejects with ClosedError', async () => {
    const coord = await coordinator();
    await register(coord, 'closing', ['only']);
    const cache = await coord.registry.discover('closing');
    const started = deferred();
    let seen: unknown;
    const running = cache.call(async (_instance, signal) => {
      started.resolve();
      await new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => {
          seen = signal.reason;
          resolve();
        }),
      );
      return 'finished after the abort';
    });
    await started.promise;
    cache.close();
    expect(await running).toBe('finished after the abort');
    expect(isClosedError(seen)).toBe(true);
    expect(cache.inFlight()).toBe(0);
    let called = false;
    const after = await rejectionOf(
      cache.call(async () => {
        called = true;
      }),
    );
    expect(isClosedError(after)).toBe(true);
    expect(called).toBe(false);
  });

  it('in-flight counts survive updates of an instance and are forgotten when it leaves', async () => {
    const coord = await coordinator();
    const [reg] = await register(coord, 'moving', ['m']);
    const cache = await coord.registry.discover('moving');
    const release = deferred();
    const running = cache.call(() => release.promise);
    expect(cache.inFlight('m')).toBe(1);

    await reg.update({ metadata: { version: '2' } });
    await waitFor(() => cache.instances()[0]?.metadata.version === '2', 'the update');
    expect(cache.inFlight('m')).toBe(1);

    await reg.deregister();
    await waitFor(() => cache.instances().length === 0, 'the instance to leave');
    expect(cache.inFlight('m')).toBe(0); // forgotten
    expect(cache.inFlight()).toBe(1); // the call itself is still running

    await register(coord, 'moving', ['m']);
    await waitFor(() => cache.instances().length === 1, 'the instance to come back');
    expect(cache.inFlight('m')).toBe(0);
    const again = deferred();
    const second = cache.call(() => again.promise);
    expect(cache.inFlight('m')).toBe(1);
    release.resolve(); // the first call ends: it must not touch the new instance's count
    await running;
    expect(cache.inFlight('m')).toBe(1);
    again.resolve();
    await second;
    expect([cache.inFlight('m'), cache.inFlight()]).toEqual([0, 0]);
    cache.close();
  });

  it('bad input: InvalidArgumentError as a rejection, before anything is picked or called', async () => {
    const coord = await coordinator();
    await register(coord, 'bad', ['x']);
    const cache = await coord.registry.discover('bad');
    let called = false;
    const fn = async () => {
      called = true;
    };
    const cases: [unknown, unknown][] = [
      [42, undefined],
      [undefined, undefined],
      [fn, { strategy: 'fastest' }],
      [fn, { signal: 'soon' }],
      [fn, 'least-request'],
      [fn, null],
    ];
    for (const [f, options] of cases) {
      const p = cache.call(f as never, options as never);
      expect(p).toBeInstanceOf(Promise);
      const err = await rejectionOf(p);
      expect(isInvalidArgumentError(err), String(err)).toBe(true);
    }
    expect((await rejectionOf(cache.call(fn, { strategy: 'fastest' as never }))).message).toMatch(/least-request/);
    expect(called).toBe(false);
    expect(cache.inFlight()).toBe(0);
    expect(() => cache.pick('fastest' as never)).toThrow(/least-request/);
    cache.close();
  });
});
