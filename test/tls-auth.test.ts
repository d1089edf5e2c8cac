/**
 * TLS (CA, server and client certificates made with openssl, etcd with
 * --client-cert-auth) and etcd auth (root + a user whose role is limited to a prefix).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Coordinator,
  connect,
  isAuthenticationError,
  isEtcdUnavailableError,
  isPermissionDeniedError,
} from '../src/index.js';
import {
  contextOf,
  type EtcdMember,
  enableAuth,
  makeTestCerts,
  rejectionOf,
  startEtcd,
  type TestCerts,
} from './harness/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The library's own call path (resilience + error mapping), as the primitives use it. */
function throughLibrary(coord: Coordinator, what: string, fn: () => Promise<unknown>): Promise<unknown> {
  return contextOf(coord).resilience.run(what, fn, { idempotent: false });
}

describe('TLS', () => {
  let certs: TestCerts;
  let etcd: EtcdMember;

  beforeAll(async () => {
    certs = makeTestCerts();
    etcd = await startEtcd({
      scheme: 'https',
      extraArgs: certs.etcdArgs,
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
    });
  });
  afterAll(async () => {
    await etcd?.destroy();
    certs?.remove();
  });

  it('works with a client certificate: a session outlives its TTL, its key is readable, close() revokes it', async () => {
    const coord = await connect({
      endpoints: [etcd.url],
      namespace: 'tls/',
      ttl: 2,
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
    });
    try {
      const session = await coord.session();
      await coord.kv.put('attached').value('v').lease(session.leaseIdDecimal).exec();
      await sleep(2_600); // longer than the TTL: only keepalives over TLS keep the key
      expect(session.state).toBe('held');
      expect(await coord.kv.get('attached').string()).toBe('v');
      await session.close();
      expect(await coord.kv.get('attached').string()).toBeNull();
    } finally {
      await coord.close();
    }
  });

  it('reports a missing or untrusted client certificate as AuthenticationError, at once', async () => {
    const slow = { endpoints: [etcd.url], dialTimeoutMs: 60_000 }; // a hang would hit the test timeout
    const noCert = await rejectionOf(connect({ ...slow, tls: { ca: certs.ca } }));
    expect(isAuthenticationError(noCert), String(noCert)).toBe(true);
    expect(noCert.message).toMatch(/client certificate/);

    const stranger = await rejectionOf(
      connect({ ...slow, tls: { ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey } }),
    );
    expect(isAuthenticationError(stranger), String(stranger)).toBe(true);
    expect(stranger.message).toMatch(/client certificate/);

    const noCa = await rejectionOf(connect({ ...slow, tls: { cert: certs.clientCert, key: certs.clientKey } }));
    expect(isAuthenticationError(noCa), String(noCa)).toBe(true);
    expect(noCa.message).toMatch(/server certificate is not trusted.*tls\.ca/);
  }, 15_000);
});

describe('auth', () => {
  let etcd: EtcdMember;

  beforeAll(async () => {
    etcd = await startEtcd();
    enableAuth(etcd.endpoint, { user: 'alice:alicepw', role: 'app1', prefix: 'app1/' });
  });
  afterAll(async () => {
    await etcd?.destroy();
  });

  it('a user limited to a prefix holds a session and a lock under it; outside it gets PermissionDeniedError', async () => {
    const alice = { username: 'alice', password: 'alicepw' };
    const coord = await connect({ endpoints: [etcd.endpoint], namespace: 'app1/', ttl: 2, auth: alice });
    const outside = await connect({ endpoints: [etcd.endpoint], namespace: 'app2/', ttl: 2, auth: alice });
    const root = await connect({ endpoints: [etcd.endpoint], auth: { username: 'root', password: 'rootpw' } });
    try {
      const session = await coord.session();
      const lock = await coord.mutex('job').acquire();
      expect(lock.key).toBe(`app1/job/${session.leaseId}`);
      await throughLibrary(coord, 'put mine', () =>
        coord.kv.put('mine').value('v').lease(session.leaseIdDecimal).exec(),
      );
      await sleep(2_600); // longer than the TTL: keepalives work for the limited user
      expect(session.state).toBe('held');
      expect(lock.signal.aborted).toBe(false);
      expect(await root.client.get(lock.key).exists()).toBe(true);
      expect(await root.client.get('app1/mine').string()).toBe('v');

      const denied = await rejectionOf(outside.mutex('job').acquire({ timeoutMs: 5000 }));
      expect(isPermissionDeniedError(denied), String(denied)).toBe(true);
      expect(denied.message).toMatch(/permission denied/);
      const put = await rejectionOf(
        throughLibrary(coord, 'put outside', () => coord.client.put('app2/theirs').value('x').exec()),
      );
      expect(isPermissionDeniedError(put), String(put)).toBe(true);
      expect(put.message).toMatch(/put outside: permission denied/);
      expect(await root.client.getAll().prefix('app2/').keys()).toEqual([]);

      await session.close(); // revoking needs write access to the attached keys: alice has it
      expect(lock.signal.aborted).toBe(true);
      expect(await root.client.getAll().prefix('app1/').keys()).toEqual([]);
    } finally {
      await Promise.all([coord.close(), outside.close(), root.close()]);
    }
  });

  it('a wrong password is an AuthenticationError, not EtcdUnavailableError, and not a hang', async () => {
    const err = await rejectionOf(
      connect({ endpoints: [etcd.endpoint], dialTimeoutMs: 60_000, auth: { username: 'alice', password: 'nope' } }),
    );
    expect(isAuthenticationError(err), String(err)).toBe(true);
    expect(isEtcdUnavailableError(err)).toBe(false);
    expect(err.message).toMatch(/rejected the credentials.*invalid user ID or password/);
  }, 10_000);

  it('no credentials against an etcd with auth: the first request says auth is required', async () => {
    const coord = await connect({ endpoints: [etcd.endpoint], namespace: 'app1/' });
    try {
      const err = await rejectionOf(throughLibrary(coord, 'read', () => coord.kv.get('x').string()));
      expect(isAuthenticationError(err), String(err)).toBe(true);
      expect(err.message).toMatch(/requires authentication/);
    } finally {
      await coord.close();
    }
  });
});
