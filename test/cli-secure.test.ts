/**
 * The TLS and auth flags of `etcd-coord` against an etcd with client-certificate TLS and
 * auth enabled.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-run.js';
import { type EtcdMember, makeTestCerts, startEtcd, type TestCerts } from './harness/index.js';

let certs: TestCerts;
let etcd: EtcdMember;
let dir: string;
let tls: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'etcd-coord-cli-'));
  certs = makeTestCerts();
  etcd = await startEtcd({
    scheme: 'https',
    extraArgs: certs.etcdArgs,
    tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
  });
  tls = ['--endpoints', etcd.url, '--cacert', certs.ca, '--cert', certs.clientCert, '--key', certs.clientKey];
  const ctl = (...args: string[]) =>
    execFileSync('etcdctl', [...tls, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  ctl('user', 'add', 'root:rootpw');
  ctl('user', 'grant-role', 'root', 'root');
  ctl('auth', 'enable');
}, 60_000);
afterAll(async () => {
  await etcd?.destroy();
  certs?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('etcd-coord with TLS and auth', () => {
  it('status, lock and snapshot save work with --cacert/--cert/--key and --user; bad credentials exit 7', async () => {
    const file = join(dir, 'secure.db');
    const [status, lock, snapshot, wrong, noCert] = await Promise.all([
      runCli(['status', '--json', ...tls, '--user', 'root:rootpw']),
      runCli([
        'lock',
        'x',
        ...tls,
        '--user',
        'root',
        '--password',
        'rootpw',
        '--',
        'sh',
        '-c',
        'echo $ETCD_COORD_TOKEN',
      ]),
      // etcd3's own snapshot() loses the auth token; etcd then says "user name is empty".
      runCli(['snapshot', 'save', file, ...tls, '--user', 'root:rootpw']),
      runCli(['lock', 'x', ...tls, '--user', 'root:nope', '--', 'true']),
      runCli([
        'status',
        '--endpoints',
        etcd.url,
        '--cacert',
        certs.ca,
        '--user',
        'root:rootpw',
        '--dial-timeout',
        '20',
      ]),
    ]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).healthy).toBe(true);
    expect(lock.code, lock.stderr).toBe(0);
    expect(BigInt(lock.stdout.trim())).toBeGreaterThan(0n);
    expect(snapshot.code, snapshot.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
    expect(wrong.code).toBe(7);
    expect(wrong.stderr).toMatch(/^etcd-coord: connect: etcd rejected the credentials/);
    expect(noCert.code).toBe(7);
    expect(noCert.stderr).toMatch(/client certificate/);
  }, 60_000);
});
