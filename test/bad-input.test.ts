/**
 * Bad input to connect(), sessions and the name-taking factories: a typed
 * InvalidArgumentError saying what was expected, and nothing written to etcd (the
 * revision and the lease list of a dedicated etcd stay as they were).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectOptions, type Coordinator, connect, isInvalidArgumentError } from '../src/index.js';
import { type EtcdMember, startEtcd } from './harness/index.js';

let etcd: EtcdMember;
let coord: Coordinator;
let observer: Coordinator;

beforeAll(async () => {
  etcd = await startEtcd();
  coord = await connect({ endpoints: [etcd.endpoint], namespace: 'app/' });
  observer = await connect({ endpoints: [etcd.endpoint] });
});
afterAll(async () => {
  await Promise.allSettled([coord?.close(), observer?.close()]);
  await etcd?.destroy();
});

/** The keyspace revision and the lease ids, to prove nothing was written. */
async function snapshot(): Promise<{ revision: string; leases: string[] }> {
  const status = await observer.client.maintenance.status();
  const { leases } = await observer.client.leaseClient.leaseLeases({});
  return { revision: String(status.header.revision), leases: leases.map((l) => String(l.ID)).sort() };
}

async function expectInvalid(p: Promise<unknown>, expected: RegExp): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (err) {
    error = err;
  }
  expect(isInvalidArgumentError(error), `${String(error)} should be an InvalidArgumentError`).toBe(true);
  expect((error as Error).message).toMatch(expected);
}

function expectInvalidSync(fn: () => unknown, expected: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(isInvalidArgumentError(error), `${String(error)} should be an InvalidArgumentError`).toBe(true);
  expect((error as Error).message).toMatch(expected);
}

const ttlMessage = /ttl must be a whole number of seconds from 2 \(etcd's minimum lease TTL\)/;
const endpointMessage = /endpoint .*'host:port' or 'http\(s\):\/\/host:port'/;
const namespaceMessage = /namespace .*(end with '\/'|expected segments of letters, digits)/;
const nameMessage = /expected segments of letters, digits and \. _ : @ = \+ - joined by single '\/'/;

describe('bad input', () => {
  it('TTL 0, 1 (below etcd minimum), non-integer or not a number: connect() and newSession() reject', async () => {
    const before = await snapshot();
    const ok: ConnectOptions = { endpoints: [etcd.endpoint] };
    for (const ttl of [0, 1, 2.5, -3, Number.NaN, '5' as unknown as number]) {
      await expectInvalid(connect({ ...ok, ttl }), ttlMessage);
      await expectInvalid(coord.newSession({ ttl }), ttlMessage);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('malformed endpoints reject before any traffic', async () => {
    const before = await snapshot();
    for (const endpoint of ['localhost', 'http://h:99999', '', '   ', 'ftp://h:2379', 'h:0', 'h:2379/path']) {
      await expectInvalid(connect({ endpoints: [endpoint] }), endpointMessage);
    }
    await expectInvalid(connect({ endpoints: [] }), /endpoints must be a non-empty array/);
    await expectInvalid(
      connect({ endpoints: ['http://127.0.0.1:1', 'https://127.0.0.1:2'] }),
      /all http or all https, not a mix/,
    );
    expect(await snapshot()).toEqual(before);
  });

  it('a namespace without trailing "/" or with characters that break the key layout rejects', async () => {
    const before = await snapshot();
    for (const namespace of ['myapp', '/myapp/', 'my app/', 'a//b/', 'ns\u0000x/', 'é/', '*/']) {
      await expectInvalid(connect({ endpoints: [etcd.endpoint], namespace }), namespaceMessage);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('names that break the key layout throw synchronously from mutex(), semaphore(), rwlock(), election()', async () => {
    const before = await snapshot();
    for (const name of ['', 'a b', '/lead', 'trail/', 'a//b', 'x\ny', 'ünïcode', '*']) {
      const expected = name === '' ? /must be a non-empty string/ : nameMessage;
      expectInvalidSync(() => coord.mutex(name), expected);
      expectInvalidSync(() => coord.semaphore(name, 2), expected);
      expectInvalidSync(() => coord.rwlock(name), expected);
      expectInvalidSync(() => coord.election(name), expected);
    }
    await expectInvalid(
      coord.withLock('bad name', async () => 1),
      nameMessage,
    );
    expect(await snapshot()).toEqual(before);
  });

  it('bad policies, TLS and auth options reject before any traffic', async () => {
    const before = await snapshot();
    const ok: ConnectOptions = { endpoints: [etcd.endpoint] };
    await expectInvalid(
      connect({ ...ok, policies: { callTimeoutMs: 0 } }),
      /policies\.callTimeoutMs must be a number >= 1/,
    );
    await expectInvalid(
      connect({ ...ok, policies: { breaker: { threshold: -1 } } }),
      /policies\.breaker\.threshold must be a number >= 1/,
    );
    await expectInvalid(connect({ ...ok, dialTimeoutMs: -5 }), /dialTimeoutMs must be a finite number/);
    await expectInvalid(connect({ ...ok, tls: { ca: '/nonexistent/ca.pem' } }), /tls\.ca: cannot read \/nonexistent/);
    await expectInvalid(connect({ ...ok, tls: { cert: Buffer.from('x') } }), /tls\.cert and tls\.key go together/);
    await expectInvalid(
      connect({ ...ok, auth: { username: '', password: 'x' } }),
      /auth must be \{ username: non-empty string/,
    );
    expect(await snapshot()).toEqual(before);
  });
});
