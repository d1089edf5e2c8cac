// node bench/lib/cpuprofile-top.mjs FILE.cpuprofile [top=15]: the top self-time functions of a V8 CPU profile
// (markdown rows: self %, self ms, function, file:line), idle and GC shown as their own rows.
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 15);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const node = byId.get(prof.samples[i]);
  const dt = prof.timeDeltas[i] ?? 0;
  const cf = node.callFrame;
  const url = (cf.url || '')
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, '')
    .replace(/^.*\/work\/main\//, '');
  const key = `${cf.functionName || '(anonymous)'}\t${url ? `${url}:${cf.lineNumber + 1}` : ''}`;
  self.set(key, (self.get(key) ?? 0) + dt);
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
const busy = total - idle;
console.log(`total ${(total / 1000).toFixed(0)} ms, busy (not idle) ${(busy / 1000).toFixed(0)} ms`);
console.log('| self % of busy | self ms | function | where |');
console.log('|---:|---:|---|---|');
for (const [k, v] of [...self]
  .filter(([k]) => !k.startsWith('(idle)'))
  .sort((a, b) => b[1] - a[1])
  .slice(0, top)) {
  const [fn, where] = k.split('\t');
  console.log(`| ${((100 * v) / busy).toFixed(1)} | ${(v / 1000).toFixed(0)} | \`${fn}\` | ${where} |`);
}
// Self time per package (node_modules/<pkg>), our src/, node internals, and V8's own rows.
const byPkg = new Map();
for (const [k, v] of self) {
  if (k.startsWith('(idle)')) continue;
  const where = k.split('\t')[1] ?? '';
  let pkg = 'native / V8';
  if (where.startsWith('node:')) pkg = 'node internals';
  else if (/^(\/tmp\/before\/)?src\//.test(where)) pkg = 'etcd-coord src/';
  else if (where.startsWith('bench/') || where.startsWith('test/')) pkg = 'bench harness';
  else if (where) pkg = where.startsWith('@') ? where.split('/').slice(0, 2).join('/') : where.split('/')[0];
  byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + v);
}
console.log('\n| self % of busy | self ms | where |');
console.log('|---:|---:|---|');
for (const [pkg, v] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
  console.log(`| ${((100 * v) / busy).toFixed(1)} | ${(v / 1000).toFixed(0)} | ${pkg} |`);
}
// Inclusive time of etcd-coord's own functions (src/), counted once per sample even when recursive.
const parentOf = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
const incl = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  const seen = new Set();
  for (let id = prof.samples[i]; id !== undefined; id = parentOf.get(id)) {
    const cf = byId.get(id).callFrame;
    const url = (cf.url || '').replace(/^file:\/\//, '').replace(/^.*\/(work\/main|tmp\/\w+)\//, '');
    if (!url.startsWith('src/')) continue;
    const key = `${cf.functionName || '(anonymous)'} (${url})`;
    if (seen.has(key)) continue;
    seen.add(key);
    incl.set(key, (incl.get(key) ?? 0) + dt);
  }
}
console.log('\n| inclusive % of busy | inclusive ms | etcd-coord function |');
console.log('|---:|---:|---|');
for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`| ${((100 * v) / busy).toFixed(1)} | ${(v / 1000).toFixed(0)} | \`${k}\` |`);
}
