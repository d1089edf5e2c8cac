/**
 * Text and JSON shapes of queues for `etcd-coord locks` and `etcd-coord inspect`: who a
 * contender is, how long it has held or waited, how much lease TTL it has left.
 * @module
 */
import type { Contender, QueueView } from '../index.js';

/** 42 -> '42s', 184 -> '3m04s', 7500 -> '2h05m', 183600 -> '2d03h'. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor((s % 86400) / 3600))}h`;
}

/** Seconds from `since` to `at` (the snapshot's time), or undefined when the owner record has no time. */
export function ageS(c: Contender | undefined, at: Date): number | undefined {
  return c?.since ? Math.max(0, (at.getTime() - c.since.getTime()) / 1000) : undefined;
}

/**
 * Who a contender is: the owner record's owner; else its value, quoted (an election
 * candidate's value); else '(unknown)' (an empty value, from Go or etcdctl).
 */
export function ownerLabel(c: Contender): string {
  if (c.owner !== undefined) return oneLine(c.owner);
  if (c.value === '') return '(unknown)';
  const shown = JSON.stringify(c.value);
  return shown.length > 42 ? `${shown.slice(0, 40)}…"` : shown;
}

/** `s` as is, or JSON-quoted when it has control characters (other writers' records): one line per contender. */
export function oneLine(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return JSON.stringify(s);
  }
  return s;
}

/** '8s' (lease TTL left), or '-' when the lease was gone by the time it was asked. */
export function ttlLabel(c: Contender | undefined): string {
  return c?.ttlRemainingS === undefined ? '-' : `${c.ttlRemainingS}s`;
}

/** A duration in seconds as text, '-' when unknown. */
export const durationLabel = (s: number | undefined): string => (s === undefined ? '-' : formatDuration(s));

/** One queue in one line's worth of facts (also the `locks --json` entry). */
export interface QueueSummary {
  /** The queue's name. */
  readonly name: string;
  /** The head of the queue: the holder of a mutex, the leader of an election (null when empty). */
  readonly head: Contender | null;
  /** How many hold: 1 for a held mutex or a led election, up to the limit for a semaphore, every reader for a read side. */
  readonly holders: number;
  /** How many wait. */
  readonly waiters: number;
  /** Seconds since the head joined the queue (its owner record's `since`); null when unknown. */
  readonly heldForS: number | null;
  /** Seconds the longest waiter has waited; null when none or unknown. */
  readonly oldestWaitS: number | null;
}

/** Whether a contender holds; when the snapshot cannot tell (`holds` undefined), the head of its queue does. */
export function holds(c: Contender): boolean {
  return c.holds ?? c.position === 0;
}

/** The summary of a queue at the snapshot time `at`. */
export function summarize(q: QueueView, at: Date): QueueSummary {
  const head = q.contenders[0];
  const waiting = q.contenders.filter((c) => !holds(c));
  const waits = waiting.map((c) => ageS(c, at)).filter((s): s is number => s !== undefined);
  return {
    name: q.name,
    head: head ?? null,
    holders: q.contenders.length - waiting.length,
    waiters: waiting.length,
    heldForS: ageS(head, at) ?? null,
    oldestWaitS: waits.length ? Math.max(...waits) : null,
  };
}
