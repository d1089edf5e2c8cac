/**
 * Errors survive minification (issue 10): the library bundled with esbuild --minify
 * (etcd3, pino and cockatiel external, class names mangled) still gives every error its
 * literal `name`, its guards still recognise it (also across the bundled and the
 * unbundled copy), and the decisions the library takes on those guards still work: a
 * real lock timeout, a registration that re-registers after its lease is revoked behind
 * its back, and the CLI's exit-code mapping.
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as exitSrc from '../src/cli/exit.js';
import * as src from '../src/index.js';
import { rejectionOf, sharedEndpoints, uniqueNamespace, waitFor } from './harness/index.js';

type Lib = typeof src;
type ExitModule = typeof exitSrc;

const root = resolve(import.meta.dirname, '..');
/** Inside the project, so that the bundle's bare imports (etcd3, pino, ...) resolve; node_modules is gitignored. */
const outdir = join(root, 'node_modules', '.cache', 'etcd-coord-minified', uniqueNamespace('build'));

let lib: Lib;
let exit: ExitModule;
const coords: src.Coordinator[] = [];

/** The error classes src/index.ts exports, by export name. */
const errorClassNames = Object.entries(src)
  .filter(
    ([, v]) => typeof v === 'function' && (v === src.CoordinationError || v.prototype instanceof src.CoordinationError),
  )
  .map(([k]) => k)
  .sort();

type ErrorClass = new (message: string) => Error;
type Guard = (e: unknown) => boolean;
const classOf = (m: object, name: string) => (m as Record<string, ErrorClass>)[name];
const guardOf = (m: object, name: string) => (m as Record<string, Guard>)[`is${name}`];

beforeAll(async () => {
  const result = await build({
    absWorkingDir: root,
    entryPoints: { index: 'src/index.ts', exit: 'src/cli/exit.ts' },
    bundle: true,
    minify: true,
    splitting: true, // exit.js shares the library's chunk: one copy of the errors, as in a bundled CLI
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['etcd3', 'pino', 'cockatiel', 'prom-client', '@opentelemetry/api'],
    outdir,
    logLevel: 'silent',
  });
  expect(result.errors).toEqual([]);
  lib = (await import(pathToFileURL(join(outdir, 'index.js')).href)) as Lib;
  exit = (await import(pathToFileURL(join(outdir, 'exit.js')).href)) as ExitModule;
});

afterAll(async () => {
  await Promise.allSettled(coords.map((c) => c.close()));
  await rm(outdir, { recursive: true, force: true });
});

async function connectBundled(namespace: string): Promise<src.Coordinator> {
  const coord = await lib.connect({ endpoints: sharedEndpoints(), namespace });
  coords.push(coord);
  return coord;
}

describe('minified bundle', () => {
  it('really is minified: the bundled classes lost their names', () => {
    expect(errorClassNames).toHaveLength(12);
    expect(lib.LockTimeoutError.name).not.toBe('LockTimeoutError');
    expect(lib.Mutex.name).not.toBe('Mutex');
  });

  it('every exported error class keeps its name, and its guards (both copies) recognise it', () => {
    for (const name of errorClassNames) {
      const bundled = new (classOf(lib, name))('m');
      const unbundled = new (classOf(src, name))('m');
      expect(bundled.name, name).toBe(name);
      expect(String(bundled.stack).split('\n')[0], name).toBe(`${name}: m`);
      expect(bundled).toBeInstanceOf(lib.CoordinationError);
      for (const isX of [guardOf(lib, name), guardOf(src, name), lib.isCoordinationError, src.isCoordinationError]) {
        expect(isX(bundled), `${isX.name}(bundled ${name})`).toBe(true);
        expect(isX(unbundled), `${isX.name}(unbundled ${name})`).toBe(true);
      }
      for (const other of errorClassNames.filter((o) => o !== name && o !== 'CoordinationError')) {
        expect(guardOf(lib, other)(bundled), `is${other}(bundled ${name})`).toBe(false);
        expect(guardOf(src, other)(bundled), `is${other}(bundled ${name}), unbundled guard`).toBe(false);
      }
    }
  });

  it("a subclass of a bundled error keeps its parent's kinds", () => {
    class JobTimeout extends lib.LockTimeoutError {}
    const err = new JobTimeout('m');
    expect(err.name).toBe('JobTimeout');
    expect([lib.isLockTimeoutError(err), src.isLockTimeoutError(err), lib.isCoordinationError(err)]).toEqual([
      true,
      true,
      true,
    ]);
    expect(lib.isSessionLostError(err)).toBe(false);
  });

  it('a real lock timeout from the bundle is a LockTimeoutError, and the CLI maps it to exit code 5', async () => {
    const coord = await connectBundled(uniqueNamespace('min-lock'));
    const holderSession = await coord.newSession({ ttl: 10 });
    const held = await coord.mutex('jobs/nightly', { session: holderSession }).acquire();

    const err = await rejectionOf(coord.mutex('jobs/nightly').acquire({ timeoutMs: 200 }));
    expect(err.name).toBe('LockTimeoutError');
    expect(lib.isLockTimeoutError(err)).toBe(true);
    expect(src.isLockTimeoutError(err)).toBe(true);
    expect(exit.exitCodeOf(err)).toBe(exit.EXIT.timeout);
    expect(exitSrc.exitCodeOf(err)).toBe(exitSrc.EXIT.timeout);
    // The timed-out waiter left no key: the holder's is the only one.
    expect(await coord.kv.getAll().prefix('jobs/nightly/').keys()).toEqual([held.key.slice(coord.namespace.length)]);
    await held.release();
  });

  it('the bundled CLI maps each error kind to its exit code', () => {
    const cases: [string, number][] = [
      ['InvalidArgumentError', exit.EXIT.usage],
      ['LockTimeoutError', exit.EXIT.timeout],
      ['LockLostError', exit.EXIT.lost],
      ['SessionLostError', exit.EXIT.lost],
      ['NotLeaderError', exit.EXIT.lost],
      ['EtcdUnavailableError', exit.EXIT.unavailable],
      ['AuthenticationError', exit.EXIT.auth],
      ['PermissionDeniedError', exit.EXIT.auth],
      ['ClosedError', exit.EXIT.failure],
    ];
    for (const [name, code] of cases) {
      expect(exit.exitCodeOf(new (classOf(lib, name))('m')), name).toBe(code);
      expect(exitSrc.exitCodeOf(new (classOf(lib, name))('m')), `${name}, unbundled CLI`).toBe(code);
    }
  });

  it('a registration from the bundle whose lease is revoked behind its back registers itself again', async () => {
    const coord = await connectBundled(uniqueNamespace('min-reg'));
    // A long TTL: the keepalive (every ttl/3) cannot be what notices the revoke first.
    const reg = await coord.registry.register(
      { service: 'api', id: 'a-1', address: '127.0.0.1', port: 8080 },
      { ttl: 30 },
    );
    const statuses: src.RegistrationStatus[] = [];
    const stop = new AbortController();
    const collecting = (async () => {
      for await (const s of reg.status({ signal: stop.signal })) statuses.push(s);
    })().catch(() => undefined);
    const key = Buffer.from(reg.key);
    const before = (await coord.client.kv.range({ key })).kvs[0];
    expect(BigInt(before.lease).toString(16)).toBe(reg.instance.leaseId);

    await coord.client.leaseClient.leaseRevoke({ ID: before.lease });

    const after = await waitFor(async () => {
      const kv = (await coord.client.kv.range({ key })).kvs[0];
      return kv && kv.lease !== before.lease && reg.state === 'registered' ? kv : undefined;
    }, 'the registration to put its key back on a fresh lease');
    expect(BigInt(after.lease).toString(16)).toBe(reg.instance.leaseId);
    expect(JSON.parse(after.value.toString())).toMatchObject({ service: 'api', id: 'a-1', port: 8080 });
    const back = await waitFor(() => statuses.find((s) => s.type === 're-registered'), "the 're-registered' status");
    // The claim with the revoked lease fails with SessionLostError; recognising it (a guard)
    // closes that session, so the next attempt takes a fresh lease instead of retrying the
    // dead one until the keepalive notices.
    expect(back).toMatchObject({ leaseId: reg.instance.leaseId });
    expect((back as { attempts: number }).attempts).toBeLessThanOrEqual(2);
    stop.abort();
    await collecting;
    await reg.deregister();
  });
});
