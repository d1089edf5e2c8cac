/**
 * `etcd-coord ui`: the live dashboard, run as a real process against the shared etcd and
 * looked at in a real browser (Debian's chromium through playwright-core).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Coordinator, connect, type Session } from '../src/index.js';
import { DEFAULT_LISTEN, parseListen } from '../src/ui/listen.js';
import { startDashboard } from '../src/ui/server.js';
import { type CliRun, killAllCli, startCli } from './cli-run.js';
import { FaultProxy, sharedEndpoints, sharedPort, uniqueNamespace, waitFor } from './harness/index.js';

const ARTIFACTS = resolve('test-artifacts');

/** The chromium binary: $CHROMIUM_PATH, else the first of the usual names on PATH. */
function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    try {
      const found = execFileSync('which', [name], { encoding: 'utf8' }).trim();
      if (found) return found;
    } catch {
      // not this one
    }
  }
  throw new Error('no chromium found: apt-get install chromium (scripts/ensure-test-tools.sh), or set CHROMIUM_PATH');
}

let browser: Browser;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  killAllCli();
});
afterAll(async () => {
  await browser?.close();
});

/** Starts `etcd-coord ui --listen 127.0.0.1:0 ARGS` and waits for the URL it prints. */
async function startUi(args: readonly string[]): Promise<{ run: CliRun; url: string }> {
  const run = startCli(['ui', '--listen', '127.0.0.1:0', ...args]);
  cleanups.push(() => run.proc.kill('SIGKILL'));
  await waitFor(
    () => run.out.stdout.includes('\n') || run.proc.exitCode !== null,
    'etcd-coord ui prints its URL',
    30_000,
  );
  const url = run.out.stdout.trim();
  expect(url, run.out.stderr).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  return { run, url };
}

async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  cleanups.push(() => page.close());
  await page.goto(url);
  return page;
}

async function connectTo(namespace: string, endpoints = sharedEndpoints()): Promise<Coordinator> {
  const coord = await connect({ endpoints, namespace });
  cleanups.push(() => coord.close());
  return coord;
}

/** The number of elements matching `selector` reaches `n` (the page updates by itself). */
function count(page: Page, selector: string, n: number): Promise<unknown> {
  return page.waitForFunction(`document.querySelectorAll(${JSON.stringify(selector)}).length === ${n}`);
}

describe('etcd-coord ui', () => {
  it('shows a holder and its waiters, elections, services and health, and follows a release without a reload', async () => {
    const ns = uniqueNamespace('ui');
    const coord = await connectTo(ns);
    const sessions: Session[] = await Promise.all([1, 2, 3, 4, 5].map(() => coord.newSession({ ttl: 15 })));
    const [s1, s2, s3, s4, s5] = sessions;
    const lock = (session: Session, owner: string) => coord.mutex('jobs/nightly', { session, owner });

    // A holder and two waiters, joined in this order.
    const held = await lock(s1, 'alice').acquire();
    const bobWaits = lock(s2, 'bob').acquire();
    await waitFor(async () => (await coord.inspect('jobs/')).queues[0]?.contenders.length === 2, 'bob queued');
    const carolWaits = lock(s3, 'carol').acquire();
    await waitFor(async () => (await coord.inspect('jobs/')).queues[0]?.contenders.length === 3, 'carol queued');
    // A semaphore of 2: two permits held, one waiter.
    const permit = (session: Session, owner: string) => coord.semaphore('pool', 2, { session, owner }).acquire();
    const permits = [await permit(s1, 'dana'), await permit(s2, 'erin')];
    const frankWaits = permit(s3, 'frank');
    cleanups.push(() => frankWaits.then((p) => p.release()));
    cleanups.push(() => Promise.all(permits.map((p) => p.release())));
    await waitFor(async () => (await coord.inspect('pool/')).queues[0]?.contenders.length === 3, 'frank queued');
    // A partition group of 4 with one member, which takes all four.
    const group = coord.partition('work', { partitions: 4, member: 'worker-1', session: s4 });
    cleanups.push(() => group.leave());
    // An election with a leader and a candidate; a service with a serving and a draining instance.
    const leading = await coord.election('web-leader', { session: s4 }).campaign('node-a');
    const candidate = coord.election('web-leader', { session: s5 }).campaign('node-b');
    cleanups.push(() => candidate.then((l) => l.resign()));
    const web1 = await coord.registry.register({ service: 'api', id: 'web-1', address: '10.0.0.1', port: 8080 });
    const web2 = await coord.registry.register({
      service: 'api',
      id: 'web-2',
      address: '10.0.0.2',
      port: 8080,
      metadata: { zone: 'b' },
      status: 'draining',
    });
    cleanups.push(() => web2.deregister());

    const { run, url } = await startUi(['--namespace', ns]);
    await waitFor(
      () => run.out.stderr.includes(`serving ${url} (this machine only`),
      'it says it serves loopback only',
    );
    const page = await openPage(url);
    const queue = page.locator('[data-queue="jobs/nightly"]');

    await page.locator('#status[data-live="true"]').waitFor();
    await queue.locator('[data-role="holder"]', { hasText: 'alice' }).waitFor();
    await count(page, '[data-queue="jobs/nightly"] [data-role="waiter"]', 2);
    expect(await queue.locator('[data-role="holder"]').getAttribute('data-lease')).toBe(s1.leaseId);
    expect(await queue.locator('[data-role="waiter"] .name').allTextContents()).toEqual(['bob', 'carol']);
    expect(await queue.locator('.meta').textContent()).toBe('2 waiters');
    // Held and wait times and the lease TTL count on the page.
    await queue.locator('[data-role="holder"] .bar.held .label', { hasText: /^held \d/ }).waitFor();
    await queue
      .locator('[data-role="waiter"] .bar.wait .label', { hasText: /^waiting \d/ })
      .first()
      .waitFor();
    await queue.locator('[data-role="holder"] .ttl-label', { hasText: /^TTL \d+s$/ }).waitFor();

    const pool = page.locator('[data-queue="pool"]');
    await count(page, '[data-queue="pool"] [data-role="holder"]', 2);
    expect(await pool.locator('[data-role="holder"] .name').allTextContents()).toEqual(['dana', 'erin']);
    expect(await pool.locator('[data-role="waiter"] .name').allTextContents()).toEqual(['frank']);
    expect(await pool.locator('.meta').textContent()).toBe('1 waiter');
    expect(await pool.locator('header .kind').textContent()).toBe('semaphore of 2');
    expect(await queue.locator('header .kind').textContent()).toBe('lock');
    await pool
      .locator('[data-role="holder"] .bar.held .label', { hasText: /^held \d/ })
      .nth(1)
      .waitFor();

    const work = page.locator('#partitions [data-group="work"]');
    await work.locator('[data-member="worker-1"][data-owns="4"] .partitions', { hasText: /^0-3$/ }).waitFor();
    expect(await work.locator('.meta').textContent()).toBe('1 member · 4/4 owned');

    const election = page.locator('[data-queue="web-leader"][data-kind="election"]');
    await election.locator('[data-role="leader"]', { hasText: 'node-a' }).waitFor();
    await election.locator('[data-role="candidate"]', { hasText: 'node-b' }).waitFor();
    const api = page.locator('[data-service="api"]');
    await api.locator('[data-instance="web-1"][data-state="serving"]').waitFor();
    await api.locator('[data-instance="web-2"][data-state="draining"]').waitFor();
    const endpoint = page.locator('#cluster [data-endpoint]').first();
    await endpoint.locator('.pill.ok').waitFor();
    await endpoint.locator('.pill.leader').waitFor();
    await page.locator('#cluster .summary', { hasText: 'alarms none' }).waitFor();

    await page.screenshot({ path: join(ARTIFACTS, 'ui-dashboard.png'), fullPage: true });

    // Changes arrive without a reload: this marker would be gone after one.
    await page.evaluate('window.marker = 42');
    await held.release();
    const bobHolds = await bobWaits;
    await queue.locator('[data-role="holder"]', { hasText: 'bob' }).waitFor();
    await count(page, '[data-queue="jobs/nightly"] [data-role="waiter"]', 1);
    expect(await queue.locator('[data-role="holder"]').getAttribute('data-lease')).toBe(s2.leaseId);
    expect(await queue.locator('[data-role="waiter"] .name').allTextContents()).toEqual(['carol']);
    expect(await queue.locator('.meta').textContent()).toBe('1 waiter');

    await leading.resign();
    await election.locator('[data-role="leader"]', { hasText: 'node-b' }).waitFor();
    await web1.deregister();
    await api.locator('[data-instance="web-1"][data-state="down"]').waitFor();

    await page.screenshot({ path: join(ARTIFACTS, 'ui-dashboard-after.png'), fullPage: true });
    expect(await page.evaluate('window.marker')).toBe(42);

    await bobHolds.release();
    await (await carolWaits).release();
    run.proc.kill('SIGTERM');
    expect((await run.done).code).toBe(0);
  }, 90_000);

  it('shows stale when it loses etcd or its server, and live again when etcd is back', async () => {
    const proxy = await FaultProxy.start(sharedPort());
    cleanups.push(() => proxy.close());
    const ns = uniqueNamespace('uistale');
    const coord = await connectTo(ns);
    const held = await coord.mutex('batch').acquire();
    cleanups.push(() => held.release());

    const { run, url } = await startUi(['--namespace', ns, '--endpoints', proxy.endpoint]);
    const page = await openPage(url);
    await page.locator('#status[data-live="true"]').waitFor();
    await page.locator('[data-queue="batch"] [data-role="holder"]').waitFor();
    await page.locator('#stale').waitFor({ state: 'hidden' });

    // etcd goes silent: the open connections die, new ones hang.
    proxy.blackhole();
    proxy.cut();
    await page.locator('#status[data-live="false"]').waitFor();
    await page.locator('#stale', { hasText: /^Stale: .*Showing etcd as of .* ago \(revision \d+\)\.$/ }).waitFor();
    expect(await page.locator('body').getAttribute('class')).toContain('is-stale');
    await page.screenshot({ path: join(ARTIFACTS, 'ui-dashboard-stale.png'), fullPage: true });

    // etcd is back (the hung connections go, so the client need not wait for its keepalive).
    proxy.pass();
    proxy.cut();
    await page.locator('#status[data-live="true"]').waitFor({ timeout: 30_000 });
    await page.locator('#stale').waitFor({ state: 'hidden' });

    // The dashboard server goes away: the page says so.
    run.proc.kill('SIGTERM');
    expect((await run.done).code).toBe(0);
    await page.locator('#status[data-live="false"]').waitFor();
    await page.locator('#stale', { hasText: 'dashboard server' }).waitFor();
  }, 90_000);

  it('--listen defaults to loopback, answers loopback names only, and is read only', async () => {
    expect(DEFAULT_LISTEN).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(parseListen(undefined)).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(parseListen('8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen(':8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen('0.0.0.0:7070')).toEqual({ host: '0.0.0.0', port: 7070 });
    expect(parseListen('[::1]:7070')).toEqual({ host: '::1', port: 7070 });
    for (const bad of ['', 'host', 'a:b', '1.2.3.4:70000', '::1:80', ':'])
      expect(() => parseListen(bad), bad).toThrow(/--listen must be/);

    // A port only: loopback, and not reachable on this machine's other addresses.
    const run = startCli(['ui', '--listen', '0', '--namespace', uniqueNamespace('uiloop')]);
    cleanups.push(() => run.proc.kill('SIGKILL'));
    await waitFor(() => run.out.stdout.includes('\n'), 'etcd-coord ui prints its URL', 30_000);
    const url = new URL(run.out.stdout.trim());
    expect(url.hostname).toBe('127.0.0.1');
    const port = Number(url.port);
    const outside = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i && !i.internal && i.family === 'IPv4')
      .map((i) => i?.address as string);
    for (const address of outside) expect(await canConnect(address, port), address).toBe(false);

    expect(await get(port, '/', 'localhost')).toMatchObject({ status: 200 });
    expect(await get(port, '/dashboard.js', `127.0.0.1:${port}`)).toMatchObject({ status: 200 });
    expect(await get(port, '/', 'evil.example')).toMatchObject({ status: 403 }); // DNS rebinding
    expect(await get(port, '/', 'localhost', 'POST')).toMatchObject({ status: 405 });
    const snapshot = await waitFor(async () => {
      const r = await get(port, '/api/snapshot', 'localhost');
      return r.status === 200 ? JSON.parse(r.body) : undefined;
    }, 'the first snapshot');
    expect(typeof snapshot.snapshot.revision).toBe('string');

    const bad = startCli(['ui', '--listen', 'nowhere']);
    expect((await bad.done).code).toBe(2);
    expect(bad.out.stderr).toContain('--listen must be');
    const badPrefix = startCli(['ui', '--listen', '0', '--prefix', '/jobs']);
    expect((await badPrefix.done).code).toBe(2);
    expect(badPrefix.out.stderr).toContain('prefix');
    run.proc.kill('SIGINT');
    expect((await run.done).code).toBe(0);
  }, 60_000);

  it('close() ends every page stream and cancels its watch; a page that leaves is forgotten', async () => {
    const coord = await connectTo(uniqueNamespace('uiclose'));
    // The watchers open on the coordinator's shared watch stream.
    const watchers = () => coord.diagnostics().watch.watchers;
    const before = watchers();
    const dashboard = await startDashboard(coord, { port: 0 });
    cleanups.push(() => dashboard.close());
    expect(dashboard).toMatchObject({ host: '127.0.0.1', loopback: true, url: `http://127.0.0.1:${dashboard.port}/` });
    const [a, b] = [openStream(dashboard.port), openStream(dashboard.port)];
    await waitFor(
      () => a.text.includes('event: snapshot') && b.text.includes('event: snapshot'),
      'both get a snapshot',
    );
    expect(a.text).toMatch(/^retry: \d+\n\nevent: status\n/);
    await waitFor(() => watchers() === before + 1, 'the dashboard watches the namespace');
    expect(dashboard.pages).toBe(2);

    b.close();
    await waitFor(() => dashboard.pages === 1, 'the page that left is forgotten');
    await dashboard.close();
    await waitFor(() => a.ended, "the other page's stream ends");
    expect(watchers()).toBe(before);
    expect(await canConnect('127.0.0.1', dashboard.port)).toBe(false);
    await dashboard.close(); // safe twice
  });
});

/** An event stream of the dashboard on `port`, read as text. */
function openStream(port: number): { text: string; ended: boolean; close(): void } {
  const stream = { text: '', ended: false, close: () => req.destroy() };
  const req = request({ host: '127.0.0.1', port, path: '/events', headers: { host: 'localhost' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d) => {
      stream.text += d;
    });
    res.on('end', () => {
      stream.ended = true;
    });
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end();
  return stream;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = tcpConnect({ host, port });
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

function get(port: number, path: string, host: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
