/**
 * The WatchHub (one shared watch stream per coordinator): resuming after the stream
 * breaks with no gap and no duplicate, and compaction (at create, and while the stream
 * was down) reported through onCompacted, never as an unhandled rejection.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../src/index.js';
import { connect } from '../src/index.js';
import type { WatchEvent } from '../src/watch.js';
import { connectShared, contextOf, FaultProxy, sharedPort, uniqueNamespace, waitFor } from './harness/index.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.allSettled(cleanup.splice(0).map((f) => f()));
  expect(unhandled).toEqual([]);
});

const hubOf = (coord: Coordinator) => contextOf(coord).watch;

/** A coordinator behind a fresh fault proxy, and a direct one on the same namespace. */
async function setup(): Promise<{ proxy: FaultProxy; coord: Coordinator; writer: Coordinator; ns: string }> {
  const proxy = await FaultProxy.start(sharedPort());
  const ns = uniqueNamespace('w');
  const coord = await connect({ endpoints: [proxy.endpoint], namespace: ns });
  const writer = await connectShared({ namespace: ns });
  cleanup.push(
    () => coord.close(),
    () => writer.close(),
    () => proxy.close(),
  );
  return { proxy, coord, writer, ns };
}

async function revision(c: Coordinator): Promise<bigint> {
  return BigInt((await c.client.maintenance.status()).header.revision);
}

describe('WatchHub', () => {
  it('resumes after the stream is cut, with no gap and no duplicate', async () => {
    const { proxy, coord, writer, ns } = await setup();
    const events: WatchEvent[] = [];
    let disconnects = 0;
    let connects = 0;
    hubOf(coord).watch(
      { key: `${ns}seq/`, prefix: true, startRevision: (await revision(writer)) + 1n },
      {
        onEvents: (evs) => events.push(...evs),
        onDisconnected: () => disconnects++,
        onConnected: () => connects++,
      },
    );
    await waitFor(() => connects > 0, 'the watcher to be created');

    const total = 150;
    for (let i = 0; i < total; i++) {
      await writer.kv
        .put(`seq/${String(i).padStart(4, '0')}`)
        .value(String(i))
        .exec();
      if (i % 30 === 15) {
        const before = disconnects;
        await waitFor(() => connects > before, 'the watcher to be re-created'); // cut a live stream
        proxy.cut();
        await waitFor(() => disconnects > before, 'the watch stream to notice the cut'); // writes go on meanwhile
      }
    }
    await waitFor(() => events.length >= total, `${total} events`, 20_000);
    await writer.kv.put('seq/zz-last').value('end').exec(); // anything queued behind would show up before it
    await waitFor(() => events.some((e) => e.key.endsWith('zz-last')), 'the closing event');

    expect(disconnects).toBe(5);
    expect(connects).toBeGreaterThanOrEqual(disconnects + 1);
    const keys = events.map((e) => e.key.slice(ns.length));
    const expected = Array.from({ length: total }, (_, i) => `seq/${String(i).padStart(4, '0')}`);
    expect(keys).toEqual([...expected, 'seq/zz-last']);
    const revs = events.map((e) => e.modRevision);
    for (let i = 1; i < revs.length; i++) expect(revs[i]).toBeGreaterThan(revs[i - 1]);
  }, 40_000);

  it('a watcher whose start revision was compacted gets onCompacted and ends; the hub keeps working', async () => {
    const { coord, writer, ns } = await setup();
    for (let i = 0; i < 5; i++) await writer.kv.put('c').value(String(i)).exec();
    const compactAt = await revision(writer);
    await writer.client.kv.compact({ revision: compactAt.toString(), physical: true });

    const compacted: bigint[] = [];
    const stale: WatchEvent[] = [];
    const handle = hubOf(coord).watch(
      { key: `${ns}c`, startRevision: compactAt - 3n },
      { onEvents: (evs) => stale.push(...evs), onCompacted: (rev) => compacted.push(rev) },
    );
    await waitFor(() => compacted.length > 0, 'onCompacted');
    expect(compacted).toEqual([compactAt]);

    const fresh: WatchEvent[] = [];
    hubOf(coord).watch({ key: `${ns}c`, startRevision: compactAt + 1n }, { onEvents: (evs) => fresh.push(...evs) });
    await writer.kv.put('c').value('after').exec();
    await waitFor(() => fresh.length === 1, 'the fresh watcher to see the put');
    expect(fresh[0].value.toString()).toBe('after');
    expect(stale).toEqual([]); // the compacted watcher ended
    handle.cancel(); // cancelling a watcher etcd already ended is harmless
    handle.cancel();
    expect(compacted).toHaveLength(1);
  }, 20_000);

  it('a watcher whose next revision was compacted while the stream was down gets onCompacted', async () => {
    const { proxy, coord, writer, ns } = await setup();
    const seen: WatchEvent[] = [];
    const compacted: bigint[] = [];
    let disconnects = 0;
    let connects = 0;
    hubOf(coord).watch(
      { key: `${ns}d`, startRevision: (await revision(writer)) + 1n },
      {
        onEvents: (evs) => seen.push(...evs),
        onCompacted: (rev) => compacted.push(rev),
        onDisconnected: () => disconnects++,
        onConnected: () => connects++,
      },
    );
    await waitFor(() => connects > 0, 'the watcher to be created');
    await writer.kv.put('d').value('0').exec();
    await waitFor(() => seen.length === 1, 'the first event');

    proxy.blackhole();
    proxy.cut();
    await waitFor(() => disconnects > 0, 'the stream to break');
    for (let i = 1; i < 4; i++) await writer.kv.put('d').value(String(i)).exec();
    const compactAt = await revision(writer);
    await writer.client.kv.compact({ revision: compactAt.toString(), physical: true });
    proxy.pass();

    await waitFor(() => compacted.length > 0, 'onCompacted after the reconnect', 20_000);
    expect(compacted).toEqual([compactAt]);
    expect(seen.map((e) => e.value.toString())).toEqual(['0']);
  }, 30_000);
});
