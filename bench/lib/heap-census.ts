/**
 * What is on the heap, by kind: a V8 heap snapshot written to a file and counted by
 * constructor (objects), function name (closures) or node type (strings, code, arrays).
 * Two censuses taken apart show which kinds of object a growing heap is made of.
 */
import { readFileSync, rmSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';

/** Count and self size (bytes) per kind. */
export type Census = Map<string, { count: number; size: number }>;

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const LUMPED = new Set(['string', 'concatenated string', 'sliced string', 'number', 'code', 'bigint', 'symbol']);

/** Writes a heap snapshot (V8 runs a full GC first) to `file`, counts it, and deletes the file. */
export function takeCensus(file: string): Census {
  const path = writeHeapSnapshot(file);
  try {
    return count(JSON.parse(readFileSync(path, 'utf8')) as Snapshot);
  } finally {
    rmSync(path, { force: true });
  }
}

function count(s: Snapshot): Census {
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out: Census = new Map();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]];
    if (type === 'synthetic') continue;
    const name = s.strings[s.nodes[i + iName]];
    const kind = LUMPED.has(type) ? `(${type})` : type === 'object' ? name : `${type} ${name.slice(0, 60)}`;
    const e = out.get(kind) ?? { count: 0, size: 0 };
    e.count++;
    e.size += s.nodes[i + iSize];
    out.set(kind, e);
  }
  return out;
}

/** The kinds that grew most from `a` to `b`, by self size. */
export function growth(a: Census, b: Census, top = 12): Array<{ kind: string; count: number; size: number }> {
  const kinds = new Set([...a.keys(), ...b.keys()]);
  return [...kinds]
    .map((kind) => ({
      kind,
      count: (b.get(kind)?.count ?? 0) - (a.get(kind)?.count ?? 0),
      size: (b.get(kind)?.size ?? 0) - (a.get(kind)?.size ?? 0),
    }))
    .sort((x, y) => y.size - x.size)
    .slice(0, top);
}

/** Total self size of a census. */
export const censusBytes = (c: Census): number => [...c.values()].reduce((s, e) => s + e.size, 0);
