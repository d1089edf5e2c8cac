/** Test harness: real etcd, a fault proxy, child processes, and small helpers. */
import { inject } from 'vitest';
import type { CoordContext } from '../../src/context.js';
import { type ConnectOptions, type Coordinator, connect } from '../../src/index.js';

export * from './auth.js';
export * from './child.js';
export * from './etcd.js';
export * from './example.js';
export * from './netns.js';
export * from './proxy.js';
export * from './tls.js';

/** Endpoints of the shared etcd started by globalSetup. */
export function sharedEndpoints(): string[] {
  return inject('etcdEndpoints');
}

/** The client port of the shared etcd (for a FaultProxy in front of it). */
export function sharedPort(): number {
  return Number(sharedEndpoints()[0].split(':').pop());
}

/** What the coordinator hands its primitives (resilience, watch hub, ...), for tests of the foundation. */
export function contextOf(coord: Coordinator): CoordContext {
  return (coord as unknown as { ctx: CoordContext }).ctx;
}

/** The error `p` rejects with; throws if it resolves. */
export async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, but it resolved');
}

/** A namespace no other test uses, e.g. 'test-ab12cd/'. */
export function uniqueNamespace(prefix = 't'): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}/`;
}

/** connect() to the shared etcd with a fresh namespace unless one is given. */
export function connectShared(opts: ConnectOptions = {}): Promise<Coordinator> {
  return connect({ endpoints: sharedEndpoints(), namespace: uniqueNamespace(), ...opts });
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  what: string,
  timeoutMs = 10000,
  everyMs = 20,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
