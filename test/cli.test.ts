/**
 * `etcd-coord` services, register, status, snapshot and usage errors, run as real
 * processes against the shared etcd.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli as runCliInProcess } from '../src/cli/cli.js';
import { COMMANDS } from '../src/cli/commands/index.js';
import type { Io } from '../src/cli/io.js';
import { killAllCli, runCli, startCli } from './cli-run.js';
import { findEtcdctl, freePort, sharedEndpoints, uniqueNamespace, waitFor } from './harness/index.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'etcd-coord-cli-'));
});
afterEach(() => killAllCli());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('etcd-coord services and register', () => {
  it('register stays registered while running, services list shows it, SIGTERM deregisters', async () => {
    const ns = uniqueNamespace('clisvc');
    const reg = startCli([
      'register',
      'api',
      '--address',
      '10.1.2.3',
      '--port',
      '8080',
      '--id',
      'web-1',
      '--metadata',
      'zone=a',
      '--namespace',
      ns,
    ]);
    await waitFor(() => reg.out.stdout.includes('\n'), 'register prints its key', 30_000);
    expect(reg.out.stdout.trim()).toBe(`${ns}services/api/web-1`);

    const [table, json] = await Promise.all([
      runCli(['services', 'list', 'api', '--namespace', ns]),
      runCli(['services', 'list', 'api', '--json', '--namespace', ns]),
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^ID\s+ADDRESS\s+PORT\s+STATUS\s+WEIGHT\s+METADATA\nweb-1\s+10\.1\.2\.3\s+8080\s+serving\s+1\s+zone=a\n$/,
    );
    expect(json.code).toBe(0);
    const instances = JSON.parse(json.stdout);
    expect(instances).toHaveLength(1);
    expect(instances[0]).toMatchObject({
      service: 'api',
      id: 'web-1',
      address: '10.1.2.3',
      port: 8080,
      metadata: { zone: 'a' },
    });

    reg.proc.kill('SIGTERM');
    expect((await reg.done).code).toBe(0);
    const after = await runCli(['services', 'list', 'api', '--json', '--namespace', ns]);
    expect(JSON.parse(after.stdout)).toEqual([]);
  }, 60_000);
});

describe('etcd-coord status', () => {
  it('--json parses and describes the shared etcd', async () => {
    const r = await runCli(['status', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.healthy).toBe(true);
    expect(s.alarms).toEqual([]);
    expect(s.endpoints).toHaveLength(sharedEndpoints().length);
    expect(s.endpoints[0]).toMatchObject({ reachable: true, alarms: [] });
    expect(Number(s.endpoints[0].revision)).toBeGreaterThan(0);
    expect(s.members.length).toBeGreaterThanOrEqual(1);
    expect(s.members.map((m: { id: string }) => m.id)).toContain(s.leader.id);
  }, 30_000);

  it('exits 6 with a one-line message when no endpoint answers', async () => {
    const port = await freePort();
    const r = await runCli(['status', '--endpoints', `127.0.0.1:${port}`, '--dial-timeout', '0.5']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^etcd-coord: connect: no etcd endpoint answered within 500 ms/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 30_000);
});

describe('etcd-coord snapshot', () => {
  it('save writes a snapshot etcdctl accepts, with its sha256; status checks it; a truncated copy fails', async () => {
    const file = join(dir, 'backup.db');
    const r = await runCli(['snapshot', 'save', file]);
    expect(r.code).toBe(0);
    expect(existsSync(`${file}.part`)).toBe(false);
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(r.stdout).toBe(`${sha}  ${file}\n`);

    const etcdctl = findEtcdctl();
    expect(etcdctl, 'etcdctl is installed with etcd').toBeTruthy();
    const st = spawnSync(etcdctl as string, ['snapshot', 'status', file, '-w', 'json'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      encoding: 'utf8',
    });
    expect(st.status, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout).revision).toBeGreaterThan(0);

    const status = await runCli(['snapshot', 'status', file, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      sha256: sha,
      intact: true,
      revision: JSON.parse(st.stdout).revision,
    });

    const truncated = join(dir, 'truncated.db');
    writeFileSync(truncated, readFileSync(file).subarray(0, 8192));
    const bad = await runCli(['snapshot', 'status', truncated]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/MISMATCH/);
  }, 60_000);
});

/** An Io that keeps what a command prints (for in-process runs of runCli). */
function memoryIo(): Io & { stdout: string; stderr: string } {
  const io = {
    tty: false,
    stdoutClosed: new AbortController().signal,
    stdout: '',
    stderr: '',
    out: (line: string) => {
      io.stdout += `${line}\n`;
    },
    warn: (message: string) => {
      io.stderr += `etcd-coord: ${message}\n`;
    },
    err: (text: string) => {
      io.stderr += `${text}\n`;
    },
    status: () => {},
    clearStatus: () => {},
    flush: async () => {},
  };
  return io;
}

describe('etcd-coord usage errors', () => {
  // A closed port: any attempt to connect would exit 6, so exit 2 also shows nothing was contacted.
  const noEtcd = ['--endpoints', '127.0.0.1:9'];
  const cases: [string[], RegExp, RegExp][] = [
    [['lock'], /missing NAME/, /Usage: etcd-coord lock NAME/],
    [['lock', 'x', '--bogus', ...noEtcd], /Unknown option '--bogus'/, /Usage: etcd-coord lock NAME/],
    [['lock', 'x', '--timeout', 'soon', ...noEtcd], /--timeout must be a number of seconds/, /Usage: etcd-coord lock/],
    [['lock', 'x', '--try', '--timeout', '1', ...noEtcd], /--try and --timeout/, /Usage: etcd-coord lock/],
    [['lock', 'a b', ...noEtcd, '--', 'true'], /lock name "a b" is not valid/, /^etcd-coord: /],
    [['lock', 'x', ...noEtcd, '--'], /missing CMD after '--'/, /Usage: etcd-coord lock/],
    [
      ['elect', 'x', 'extra', ...noEtcd],
      /unexpected argument "extra" \(put the command after '--'\)/,
      /Usage: etcd-coord elect/,
    ],
    [['status', 'extra', ...noEtcd], /unexpected argument "extra"/, /Usage: etcd-coord status/],
    [['status', ...noEtcd, '--', 'ls'], /status does not run a command/, /Usage: etcd-coord status/],
    [['register', 'api', '--port', '80', ...noEtcd], /missing --address/, /Usage: etcd-coord register/],
    [['register', 'api', '--address', 'h', '--port', '0', ...noEtcd], /port must be an integer/, /^etcd-coord: /],
    [
      ['register', 'api', '--address', 'h', '--port', '1', '--metadata', 'novalue', ...noEtcd],
      /--metadata must be KEY=VALUE/,
      /Usage/,
    ],
    [['status', '--user', 'root', ...noEtcd], /needs a password/, /Usage: etcd-coord status/],
    [['status', '--cert', 'c.pem', ...noEtcd], /--cert and --key go together/, /Usage: etcd-coord status/],
    [['services', 'bogus', 'x'], /unknown command "services bogus"/, /Commands: lock, elect/],
    [['frobnicate'], /unknown command "frobnicate"/, /Commands: lock, elect/],
    [[], /missing command/, /Usage: etcd-coord <command>/],
  ];

  it('the real command prints the message and the usage to stderr and exits 2, without a stack', async () => {
    const results = await Promise.all(cases.slice(0, 3).map(([args]) => runCli(args)));
    for (const [i, r] of results.entries()) {
      const [, message, usage] = cases[i];
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(usage);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  }, 30_000);

  it.each(cases)('%j exits 2 with a message and usage on stderr', async (args, message, usage) => {
    const io = memoryIo();
    expect(await runCliInProcess(args, io)).toBe(2);
    expect(io.stdout).toBe('');
    expect(io.stderr).toMatch(message);
    expect(io.stderr).toMatch(usage);
  });

  it('--help works on every subcommand and lists the exit codes', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    const section = top.stdout.slice(top.stdout.indexOf('Commands:\n'), top.stdout.indexOf('\n\nRun '));
    const commands = [...section.matchAll(/^ {2}([a-z]+(?: [a-z]+)?)(?= )/gm)].map((m) => m[1]);
    expect(commands).toEqual(COMMANDS.map((c) => c.name));
    expect(top.stdout).toMatch(/Exit codes:\n {2}0 /);
    for (const c of commands) {
      const io = memoryIo();
      expect(await runCliInProcess([...c.split(' '), '--help'], io), c).toBe(0);
      expect(io.stdout).toMatch(new RegExp(`^Usage: etcd-coord ${c} `));
      expect(io.stdout).toMatch(/Options:|Common options:/);
      expect(io.stdout).toMatch(/Exit codes:/);
    }
  }, 30_000);
});
