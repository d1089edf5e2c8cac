// Lists import cycles among src/ files (type-only imports and re-exports included), with
// the TypeScript compiler's import scanner, and imports between folders that must not
// know each other (e.g. election/ -> lock/). Exits 1 when there is one.
// Usage: node scripts/import-cycles.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../src', import.meta.url));
const files = [];
(function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'assets') walk(p);
    } else if (p.endsWith('.ts')) files.push(p);
  }
})(root);
const graph = new Map();
for (const f of files) {
  const info = ts.preProcessFile(fs.readFileSync(f, 'utf8'), true, true);
  const deps = [];
  for (const imp of info.importedFiles) {
    if (!imp.fileName.startsWith('.')) continue;
    const t = path.resolve(path.dirname(f), imp.fileName.replace(/\.js$/, '.ts'));
    if (fs.existsSync(t)) deps.push(t);
  }
  graph.set(f, deps);
}
// Tarjan's strongly connected components: every group of more than one file is a cycle.
let idx = 0;
const st = [];
const on = new Set();
const ix = new Map();
const low = new Map();
const sccs = [];
function sc(v) {
  ix.set(v, idx);
  low.set(v, idx);
  idx++;
  st.push(v);
  on.add(v);
  for (const w of graph.get(v)) {
    if (!ix.has(w)) {
      sc(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), ix.get(w)));
  }
  if (low.get(v) === ix.get(v)) {
    const c = [];
    let w;
    do {
      w = st.pop();
      on.delete(w);
      c.push(w);
    } while (w !== v);
    if (c.length > 1 || graph.get(v).includes(v)) sccs.push(c);
  }
}
for (const v of graph.keys()) if (!ix.has(v)) sc(v);
console.log(`${files.length} files, ${sccs.length} cycles (strongly connected groups)`);
for (const c of sccs) console.log(' -', c.map((f) => path.relative(root, f)).join(', '));

/** [from, to]: no file under src/<from>/ imports a file under src/<to>/. */
const FORBIDDEN = [
  ['queue', 'lock'],
  ['queue', 'election'],
  ['queue', 'registry'],
  ['lock', 'election'],
  ['lock', 'registry'],
  ['election', 'lock'],
  ['election', 'registry'],
  ['registry', 'lock'],
  ['registry', 'election'],
  ['registry', 'queue'],
];
const folder = (f) => path.relative(root, f).split(path.sep)[0];
const crossings = [];
for (const [f, deps] of graph) {
  for (const d of deps) {
    if (FORBIDDEN.some(([a, b]) => folder(f) === a && folder(d) === b)) {
      crossings.push(`${path.relative(root, f)} -> ${path.relative(root, d)}`);
    }
  }
}
console.log(`${crossings.length} forbidden imports between folders`);
for (const c of crossings) console.log(' -', c);
if (sccs.length > 0 || crossings.length > 0) process.exitCode = 1;
