import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type Coordinator, connect, isInvalidArgumentError } from '../src/index.js';
import { sharedEndpoints, uniqueNamespace, waitFor } from './harness/index.js';

let coord: Coordinator | undefined;
afterEach(async () => {
  await coord?.close();
  coord = undefined;
});

function metricValue(text: string, line: RegExp): number {
  const m = text.split('\n').find((l) => line.test(l));
  if (!m) throw new Error(`no metric line matching ${line}\n${text}`);
  return Number(m.split(' ').pop());
}

describe('metrics and events', () => {
  it('counts lock waits and holds, leadership changes, sessions and keepalives in a prom-client registry', async () => {
    const registry = new Registry();
    coord = await connect({ endpoints: sharedEndpoints(), namespace: uniqueNamespace(), metrics: registry, ttl: 2 });
    const lock = await coord.mutex('jobs').acquire();
    const other = await coord.newSession({ ttl: 5 });
    await expect(coord.mutex('jobs', { session: other }).acquire({ timeoutMs: 50 })).rejects.toThrow(/not acquired/);
    await lock.release();
    const leadership = await coord.election('leader').campaign('me');
    await leadership.resign();
    // A keepalive of the TTL-2 session is answered within one keepalive interval (~667 ms).
    const session = await coord.session();
    await new Promise<void>((resolve) => {
      const t = setInterval(async () => {
        const text = await registry.metrics();
        if (/etcd_coord_keepalive_rtt_seconds_count [1-9]/.test(text)) {
          clearInterval(t);
          resolve();
        }
      }, 100);
    });
    const reg = await coord.registry.register({ service: 'api', address: '127.0.0.1', port: 8080 }, { ttl: 5 });
    const cache = await coord.registry.discover('api');
    const text = await registry.metrics();
    expect(metricValue(text, /^etcd_coord_registrations /)).toBe(1);
    expect(metricValue(text, /^etcd_coord_cache_instances\{service="api"\}/)).toBe(1);
    cache.close();
    await reg.deregister();
    expect(metricValue(await registry.metrics(), /^etcd_coord_registrations /)).toBe(0);
    expect(metricValue(text, /^etcd_coord_lock_wait_seconds_count\{kind="mutex",name="jobs"\}/)).toBe(1);
    expect(metricValue(text, /^etcd_coord_lock_hold_seconds_count\{kind="mutex",name="jobs"\}/)).toBe(1);
    expect(metricValue(text, /^etcd_coord_lock_timeouts_total\{kind="mutex",name="jobs"\}/)).toBe(1);
    expect(metricValue(text, /^etcd_coord_leadership_changes_total\{name="leader",event="acquired"\}/)).toBe(1);
    expect(metricValue(text, /^etcd_coord_leadership_changes_total\{name="leader",event="resigned"\}/)).toBe(1);
    expect(metricValue(text, /^etcd_coord_sessions /)).toBe(3); // default, other, and the registration's
    expect(metricValue(text, /^etcd_coord_breaker_open /)).toBe(0);
    expect(metricValue(text, /^etcd_coord_sessions_at_risk /)).toBe(0);
    expect(session.state).toBe('held');
  });

  it('counts registrations lost and restored', async () => {
    const registry = new Registry();
    coord = await connect({ endpoints: sharedEndpoints(), namespace: uniqueNamespace(), metrics: registry });
    const reg = await coord.registry.register({ service: 'web', address: '127.0.0.1', port: 80 }, { ttl: 5 });
    const lease = reg.instance.leaseId;
    await coord.client.leaseClient.leaseRevoke({ ID: BigInt(`0x${lease}`).toString() });
    await waitFor(() => reg.state === 'registered' && reg.instance.leaseId !== lease, 'the re-registration');
    const text = await registry.metrics();
    expect(metricValue(text, /^etcd_coord_registry_lost_total\{service="web"\}/)).toBe(1);
    expect(metricValue(text, /^etcd_coord_registry_reregistrations_total\{service="web"\}/)).toBe(1);
    await reg.deregister();
  });

  it('logs the same moments as structured pino events', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        cb();
      },
    });
    coord = await connect({
      endpoints: sharedEndpoints(),
      namespace: uniqueNamespace(),
      logger: pino({ level: 'debug' }, sink),
    });
    const lock = await coord.mutex('m').acquire();
    await lock.release();
    const s = await coord.newSession({ ttl: 3 });
    await s.close();
    const events = lines.filter((l) => typeof l.event === 'string');
    expect(events.map((e) => e.event)).toEqual(
      expect.arrayContaining(['session.granted', 'lock.acquired', 'lock.released', 'session.closed']),
    );
    const acquired = events.find((e) => e.event === 'lock.acquired');
    expect(acquired).toMatchObject({ component: 'events', kind: 'mutex', name: 'm', lib: 'etcd-coord' });
    expect(typeof acquired?.token).toBe('string');
  });

  it('rejects a metrics option that is not a prom-client registry', async () => {
    const err = await connect({ endpoints: sharedEndpoints(), metrics: {} as never }).catch((e) => e);
    expect(isInvalidArgumentError(err)).toBe(true);
  });
});
