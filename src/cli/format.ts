/**
 * Text formatting of the command's output: aligned tables, byte sizes, JSON with bigints,
 * leaders and service instances.
 * @module
 */
import type { LeaderInfo, ServiceInstance } from '../index.js';

/** Rows under headers, columns padded to the widest cell, separated by two spaces. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** 1536 -> '1.5 KiB'. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** JSON.stringify that writes bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** A leader state as a line: its value, or `{"leader": ...}` JSON. */
export function formatLeader(leader: LeaderInfo | undefined, json: boolean): string {
  if (!json) return leader ? leader.value : '(no leader)';
  return toJson({ leader: leader ?? null });
}

/** An instance's metadata as `k=v,k2=v2` ('-' when empty). */
export function formatMetadata(i: ServiceInstance): string {
  return (
    Object.entries(i.metadata)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-'
  );
}

/** An instance as `ID ADDRESS:PORT STATUS WEIGHT METADATA`. */
export function formatInstance(i: ServiceInstance): string {
  return `${i.id} ${i.address}:${i.port} ${i.status} ${i.weight} ${formatMetadata(i)}`;
}
