/**
 * OpenTelemetry spans: an SDK (BasicTracerProvider + SimpleSpanProcessor into an
 * InMemorySpanExporter) registered globally, real etcd. Also: the library without a
 * provider registered, and in a process where `@opentelemetry/api` cannot be found.
 */
import { readFileSync } from 'node:fs';
import { type HrTime, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../src/index.js';
import { isLockTimeoutError } from '../src/index.js';
import { connectShared, sharedEndpoints, spawnChild, uniqueNamespace, waitFor } from './harness/index.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

let coord: Coordinator | undefined;
beforeAll(() => {
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
});
afterEach(async () => {
  await coord?.close();
  coord = undefined;
});
afterAll(async () => {
  trace.disable();
  await provider.shutdown();
});

/** The exported spans called `span` whose `etcd_coord.name` (or `.service`) is `name`. */
function spans(span: string, name: string): ReadableSpan[] {
  return exporter
    .getFinishedSpans()
    .filter(
      (s) =>
        s.name === span && (s.attributes['etcd_coord.name'] === name || s.attributes['etcd_coord.service'] === name),
    );
}

/** Waits until `count` spans called `span` about `name` were exported; returns them in end order. */
function exported(span: string, name: string, count = 1): Promise<ReadableSpan[]> {
  return waitFor(() => {
    const found = spans(span, name);
    return found.length >= count ? found : undefined;
  }, `${count} exported ${span} span(s) of ${name}`);
}

const ns = (t: HrTime) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);

/** The number of keys under `<namespace><prefix>`. */
async function queued(c: Coordinator, prefix: string): Promise<number> {
  return (await c.kv.getAll().prefix(prefix).keys()).length;
}

describe('spans through the global tracer provider', () => {
  it('an acquire that waits: its span covers the wait and has the position and the token', async () => {
    coord = await connectShared();
    const first = await coord.mutex('jobs').acquire();
    const other = await coord.newSession({ ttl: 10 });
    const waiting = coord.mutex('jobs', { session: other }).acquire();
    await waitFor(async () => (await queued(coord as Coordinator, 'jobs/')) === 2, 'the second key in the queue');
    await first.release();
    const second = await waiting;
    await second.release();

    const [firstHold] = await exported('lock.hold', 'jobs');
    const acquires = await exported('lock.acquire', 'jobs', 2);
    const waited = acquires.find((s) => s.attributes['etcd_coord.token'] === `${second.token}`);
    expect(waited).toBeDefined();
    const span = waited as ReadableSpan;
    expect(span.instrumentationScope).toMatchObject({ name: 'etcd-coord', version });
    expect(span.attributes).toMatchObject({
      'etcd_coord.name': 'jobs',
      'etcd_coord.kind': 'mutex',
      'etcd_coord.wait': true,
      'etcd_coord.acquired': true,
      'etcd_coord.position': 1,
      'etcd_coord.key': second.key,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    // It started before the first holder let go and ended after.
    expect(ns(span.startTime)).toBeLessThan(ns(firstHold.endTime));
    expect(ns(span.endTime)).toBeGreaterThanOrEqual(ns(firstHold.endTime));
    const immediate = acquires.find((s) => s !== span);
    expect(immediate?.attributes).toMatchObject({ 'etcd_coord.position': 0, 'etcd_coord.token': `${first.token}` });
  });

  it('a hold span starts when held and ends at release', async () => {
    coord = await connectShared();
    const lock = await coord.rwlock('table').write();
    expect(spans('lock.hold', 'table')).toEqual([]); // still open while held
    await lock.release();
    const [hold] = await exported('lock.hold', 'table');
    const [acquire] = await exported('lock.acquire', 'table');
    expect(hold.attributes).toMatchObject({
      'etcd_coord.kind': 'write',
      'etcd_coord.token': `${lock.token}`,
      'etcd_coord.key': lock.key,
    });
    expect(hold.status.code).toBe(SpanStatusCode.UNSET);
    expect(hold.events).toEqual([]);
    // The SDK stamps a span's start with Date.now() (whole milliseconds) and its end from
    // performance.now() (sub-millisecond): a hold that starts in the same millisecond as
    // the acquire ended can read up to 1 ms earlier.
    expect(ns(hold.startTime)).toBeGreaterThanOrEqual(ns(acquire.endTime) - 1_000_000n);
  });

  it('a lost hold ends with error status and a lost event', async () => {
    coord = await connectShared();
    const session = await coord.newSession({ ttl: 10 });
    const permit = await coord.semaphore('pool', 2, { session }).acquire();
    await coord.client.leaseClient.leaseRevoke({ ID: session.leaseIdDecimal });
    await waitFor(() => permit.signal.aborted, 'the permit to be lost');
    const [hold] = await exported('lock.hold', 'pool');
    expect(hold.attributes['etcd_coord.kind']).toBe('semaphore');
    expect(hold.status.code).toBe(SpanStatusCode.ERROR);
    const lost = hold.events.find((e) => e.name === 'lost');
    expect(lost?.attributes?.['etcd_coord.reason']).toEqual(expect.any(String));
    expect(hold.status.message).toBe(lost?.attributes?.['etcd_coord.reason']);
  });

  it('an acquire that times out or is aborted ends with error status; a tryAcquire that finds it taken does not', async () => {
    coord = await connectShared();
    const held = await coord.mutex('busy').acquire();
    const other = await coord.newSession({ ttl: 10 });
    const err = await coord
      .mutex('busy', { session: other })
      .acquire({ timeoutMs: 100 })
      .catch((e) => e);
    expect(isLockTimeoutError(err)).toBe(true);
    const abort = new AbortController();
    const aborted = coord.mutex('busy', { session: other }).acquire({ signal: abort.signal });
    await waitFor(async () => (await queued(coord as Coordinator, 'busy/')) === 2, 'the waiter in the queue');
    abort.abort(new Error('stop waiting'));
    await expect(aborted).rejects.toThrow('stop waiting');
    expect(await coord.mutex('busy', { session: other }).tryAcquire()).toBeUndefined();
    await held.release();

    const acquires = await exported('lock.acquire', 'busy', 4);
    const failed = acquires.filter((s) => s.status.code === SpanStatusCode.ERROR);
    expect(failed.map((s) => s.status.message)).toEqual([err.message, 'stop waiting']);
    for (const s of failed) expect(s.events.map((e) => e.name)).toContain('exception');
    const tried = acquires.find((s) => s.attributes['etcd_coord.wait'] === false);
    expect(tried?.attributes['etcd_coord.acquired']).toBe(false);
    expect(tried?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('a campaign span covers the wait; the leadership span ends at resignation', async () => {
    coord = await connectShared();
    const first = await coord.election('leader').campaign('a');
    const other = await coord.newSession({ ttl: 10 });
    const waiting = coord.election('leader', { session: other }).campaign('b');
    await waitFor(async () => (await queued(coord as Coordinator, 'leader/')) === 2, 'the second candidate');
    await first.resign();
    const second = await waiting;
    await second.resign();

    const campaigns = await exported('election.campaign', 'leader', 2);
    const waited = campaigns.find((s) => s.attributes['etcd_coord.token'] === `${second.token}`);
    expect(waited?.attributes).toMatchObject({
      'etcd_coord.kind': 'election',
      'etcd_coord.position': 1,
      'etcd_coord.acquired': true,
      'etcd_coord.key': second.key,
    });
    const leads = await exported('election.lead', 'leader', 2);
    const firstLead = leads.find((s) => s.attributes['etcd_coord.token'] === `${first.token}`) as ReadableSpan;
    expect(firstLead.status.code).toBe(SpanStatusCode.UNSET);
    expect(ns((waited as ReadableSpan).startTime)).toBeLessThan(ns(firstLead.endTime));
    expect(ns((waited as ReadableSpan).endTime)).toBeGreaterThanOrEqual(ns(firstLead.endTime));
  });

  it('a lost leadership ends its span with error status and a lost event', async () => {
    coord = await connectShared();
    const session = await coord.newSession({ ttl: 10 });
    const leadership = await coord.election('boss', { session }).campaign('x');
    await coord.client.leaseClient.leaseRevoke({ ID: session.leaseIdDecimal });
    await waitFor(() => leadership.signal.aborted, 'the leadership to be lost');
    const [lead] = await exported('election.lead', 'boss');
    expect(lead.status.code).toBe(SpanStatusCode.ERROR);
    expect(lead.events.map((e) => e.name)).toEqual(['lost']);
  });

  it('a register span', async () => {
    coord = await connectShared();
    const reg = await coord.registry.register({ service: 'api', id: 'one', address: '127.0.0.1', port: 8080 });
    const [span] = await exported('registry.register', 'api');
    expect(span.attributes).toMatchObject({
      'etcd_coord.service': 'api',
      'etcd_coord.instance_id': 'one',
      'etcd_coord.key': reg.key,
      'etcd_coord.lease': reg.instance.leaseId,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    await reg.deregister();
  });
});

describe('without a tracer provider', () => {
  it('works and exports nothing', async () => {
    trace.disable();
    try {
      exporter.reset();
      coord = await connectShared();
      const lock = await coord.mutex('quiet').acquire();
      await lock.release();
      const leadership = await coord.election('quiet-election').campaign('v');
      await leadership.resign();
      const reg = await coord.registry.register({ service: 'quiet', address: '127.0.0.1', port: 1 });
      await reg.deregister();
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      expect(trace.setGlobalTracerProvider(provider)).toBe(true);
    }
  });

  it('works in a process where @opentelemetry/api cannot be found', async () => {
    const child = spawnChild('test/fixtures/no-otel.ts', {
      ETCD_ENDPOINTS: sharedEndpoints().join(','),
      NAMESPACE: uniqueNamespace('no-otel'),
    });
    const result = await child.next('result', () => true, 60_000);
    expect(result).toMatchObject({ apiHidden: true, locked: true, led: true, registered: true });
    await child.exited;
  });
});
