import { afterEach, describe, expect, it } from 'vitest';
import { type Coordinator, isSessionLostError, type SessionStatus } from '../src/index.js';
import { connectShared } from './harness/index.js';

let coord: Coordinator | undefined;
afterEach(async () => {
  await coord?.close();
  coord = undefined;
});

describe('Session', () => {
  it('keeps a TTL-2 lease alive for 10 s, and close() removes it at once', async () => {
    coord = await connectShared();
    const s = await coord.newSession({ ttl: 2 });
    expect(s.leaseId).toMatch(/^[0-9a-f]+$/);
    expect(s.ttl).toBe(2);
    await coord.kv.put('attached').value('x').lease(s.leaseIdDecimal).exec();
    const states: SessionStatus[] = [];
    const watching = (async () => {
      for await (const st of s.status()) states.push(st);
    })();
    const started = Date.now();
    while (Date.now() - started < 10_000) {
      await new Promise((r) => setTimeout(r, 500));
      expect(s.state).toBe('held');
      expect(await coord.kv.get('attached').string()).toBe('x');
    }
    const ttl = await coord.client.leaseClient.leaseTimeToLive({ ID: s.leaseIdDecimal });
    expect(Number(ttl.TTL)).toBeGreaterThan(0);

    await s.close();
    expect(s.state).toBe('closed');
    expect(s.signal.aborted).toBe(true);
    expect(isSessionLostError(s.signal.reason)).toBe(true);
    expect(await coord.kv.get('attached').string()).toBeNull();
    const after = await coord.client.leaseClient.leaseTimeToLive({ ID: s.leaseIdDecimal });
    expect(Number(after.TTL)).toBe(-1);
    await s.close(); // twice is fine
    await watching;
    expect(states).toEqual([{ type: 'closed' }]);
  }, 20_000);

  it('coord.session() shares one session until it is gone, then hands out a fresh one', async () => {
    coord = await connectShared({ ttl: 3 });
    const [a, b] = await Promise.all([coord.session(), coord.session()]);
    expect(a).toBe(b);
    expect(a.ttl).toBe(3);
    await a.close();
    const c = await coord.session();
    expect(c).not.toBe(a);
    expect(c.state).toBe('held');
  });

  it('close() of the coordinator revokes every session it made; twice is fine', async () => {
    coord = await connectShared();
    const s1 = await coord.newSession({ ttl: 5 });
    const s2 = await coord.session();
    await coord.kv.put('k1').value('1').lease(s1.leaseIdDecimal).exec();
    await coord.kv.put('k2').value('2').lease(s2.leaseIdDecimal).exec();
    const other = await connectShared({ namespace: coord.namespace });
    try {
      await coord.close();
      await coord.close();
      expect(s1.state).toBe('closed');
      expect(s2.state).toBe('closed');
      expect(await other.kv.get('k1').string()).toBeNull();
      expect(await other.kv.get('k2').string()).toBeNull();
      await expect(coord.session()).rejects.toThrow(/closed/);
    } finally {
      await other.close();
    }
  });
});
