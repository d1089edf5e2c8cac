/**
 * Test TLS material made with openssl in a temp dir: a CA, a server certificate for
 * 127.0.0.1 / localhost, and a client certificate (for etcd's `--client-cert-auth`),
 * all signed by the CA. A second, unrelated CA lets tests present a certificate etcd
 * does not trust.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Paths of the generated PEM files. */
export interface TestCerts {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate signed by a CA etcd does not trust. */
  readonly strangerCert: string;
  readonly strangerKey: string;
  /** etcd flags that serve TLS with these files and require client certificates. */
  readonly etcdArgs: string[];
  /** Removes the temp dir. */
  remove(): void;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function signed(dir: string, ca: string, name: string, cn: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    dir,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  );
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}.crt`,
    '-extfile',
    `${name}.ext`,
  );
}

/** Generates a CA, a server and a client certificate (takes a few hundred ms). */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-coord-tls-'));
  for (const ca of ['ca', 'stranger-ca']) {
    openssl(
      dir,
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=etcd-coord test ${ca}`,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.crt`,
    );
  }
  signed(
    dir,
    'ca',
    'server',
    'etcd-coord test server',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  signed(dir, 'ca', 'client', 'etcd-coord test client', 'extendedKeyUsage=clientAuth\n');
  signed(dir, 'stranger-ca', 'stranger', 'etcd-coord stranger', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string) => join(dir, f);
  return {
    dir,
    ca: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    strangerCert: p('stranger.crt'),
    strangerKey: p('stranger.key'),
    etcdArgs: [
      '--cert-file',
      p('server.crt'),
      '--key-file',
      p('server.key'),
      '--trusted-ca-file',
      p('ca.crt'),
      '--client-cert-auth',
    ],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
