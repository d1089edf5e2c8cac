/**
 * What the dashboard shows: the {@link Snapshot} of `coord.inspect(prefix)`, and its JSON
 * form for the page (bigints as decimal strings, dates as ISO-8601).
 * @module
 */
import type { InspectOptions, Snapshot } from '../index.js';

export type { Contender, QueueView, ServiceView, Snapshot } from '../index.js';

/** Where snapshots come from: the coordinator (`coord.inspect()`). */
export interface SnapshotSource {
  /** One consistent read of everything under `prefix` (relative to the namespace); `signal` abandons it. */
  inspect(prefix?: string, options?: InspectOptions): Promise<Snapshot>;
}

/** `JSON.stringify` with bigints as decimal strings (dates become ISO-8601 by their `toJSON`). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
}
