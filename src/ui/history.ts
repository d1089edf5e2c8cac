/**
 * What one snapshot cannot tell and the dashboard remembers between snapshots: since
 * when each contender has held or waited, and which service instances went away lately.
 * @module
 */
import type { ServiceInstance } from '../index.js';
import type { Contender, Snapshot } from './snapshot.js';

/** How long an instance that went away stays on the page, marked down. */
export const DOWN_MEMORY_MS = 60_000;

/** An instance that went away. */
export interface DownInstance {
  /** Its last known state. */
  readonly instance: ServiceInstance;
  /** When the dashboard saw it gone. */
  readonly downSince: Date;
}

/** Since when a contender holds (the head of its queue) or waits (the others). */
export interface HeldOrWaited {
  /** The start of the hold or the wait. */
  readonly from: Date;
  /**
   * True when the start is only a lower bound of the time: the key was there before the
   * dashboard's first snapshot, and its value does not say when it joined (elections,
   * keys of Go and etcdctl).
   */
  readonly atLeast?: true;
}

/** Remembered facts for one snapshot. */
export interface History {
  /** By contender key. */
  readonly times: Readonly<Record<string, HeldOrWaited>>;
  /** Instances that went away within {@link DOWN_MEMORY_MS}, newest first. */
  readonly down: readonly DownInstance[];
}

/**
 * Tracks contenders and instances across the snapshots it is given, in order.
 *
 * - A waiter has waited since its owner record's `since`, else since the dashboard first
 *   saw its key.
 * - A holder (the head, or any of a semaphore's first `limit`, or a reader: see
 *   `Contender.holds`) holds since the snapshot in which the dashboard first saw it
 *   hold. A holder already there in the first snapshot holds since its `since` (when it
 *   joined: it may have waited part of that), else since the dashboard started, as a
 *   lower bound.
 */
export class HistoryTracker {
  private seen = new Map<string, HeldOrWaited>();
  private heads = new Map<string, HeldOrWaited>();
  private instances = new Map<string, ServiceInstance>();
  private readonly gone = new Map<string, DownInstance>();
  private first = true;

  /** Notes `snapshot` (taken at `snapshot.takenAt`) and returns what is remembered now. */
  note(snapshot: Snapshot): History {
    const now = snapshot.takenAt;
    const seen = new Map<string, HeldOrWaited>();
    const heads = new Map<string, HeldOrWaited>();
    const times: Record<string, HeldOrWaited> = {};
    for (const q of snapshot.queues) {
      q.contenders.forEach((c, i) => {
        const firstSeen = this.seen.get(c.key) ?? (this.first ? { from: now, atLeast: true } : { from: now });
        seen.set(c.key, firstSeen);
        if (c.holds ?? i === 0) {
          const held = this.heads.get(c.key) ?? (this.first ? joined(c, firstSeen) : { from: now });
          heads.set(c.key, held);
          times[c.key] = held;
        } else {
          times[c.key] = joined(c, firstSeen);
        }
      });
    }
    const instances = new Map<string, ServiceInstance>();
    for (const s of snapshot.services) for (const i of s.instances) instances.set(i.key, i);
    for (const [key, instance] of this.instances) {
      if (!instances.has(key)) this.gone.set(key, { instance, downSince: now });
    }
    for (const [key, d] of this.gone) {
      if (instances.has(key) || now.getTime() - d.downSince.getTime() > DOWN_MEMORY_MS) this.gone.delete(key);
    }
    this.seen = seen;
    this.heads = heads;
    this.instances = instances;
    this.first = false;
    return {
      times,
      down: [...this.gone.values()].sort((a, b) => b.downSince.getTime() - a.downSince.getTime()),
    };
  }
}

/** When a contender joined its queue: its owner record says, else when it was first seen. */
function joined(c: Contender, firstSeen: HeldOrWaited): HeldOrWaited {
  return c.since ? { from: c.since } : firstSeen;
}
