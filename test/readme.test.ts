/**
 * Every TypeScript snippet in README.md compiles against the current public API, so the
 * docs cannot drift from the code. (The runnable programs in examples/ are run by their
 * own tests; the demo by demo.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** What a snippet may use without declaring it (left out where the snippet declares it). */
const CONTEXT: Record<string, string> = {
  coord: 'declare const coord: Coordinator;',
  signal: 'declare const signal: AbortSignal;',
  storeUrl: 'declare const storeUrl: string;',
  value: 'declare const value: unknown;',
  doWork: 'declare function doWork(options: { signal: AbortSignal }): Promise<void>;',
  compute: 'declare function compute(signal: AbortSignal): Promise<unknown>;',
};

function snippets(): { line: number; code: string }[] {
  const lines = readFileSync('README.md', 'utf8').split('\n');
  const out: { line: number; code: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    const start = i + 1;
    const body: string[] = [];
    for (i = start; i < lines.length && lines[i].trim() !== '```'; i++) body.push(lines[i]);
    out.push({ line: start, code: body.join('\n') });
  }
  return out;
}

function asModule(code: string): string {
  const lines = code.replaceAll("from 'etcd-coord'", "from '../../src/index.js'").split('\n');
  const imports = lines.filter((l) => l.startsWith('import '));
  const rest = lines.filter((l) => !l.startsWith('import '));
  const declares = (name: string) => new RegExp(`\\b(const|let|var|using|function) ${name}\\b`).test(code);
  const context = Object.entries(CONTEXT)
    .filter(([name]) => !declares(name))
    .map(([, decl]) => decl);
  const support = ["import { type Coordinator, connect } from '../../src/index.js';", 'void connect;', ...context];
  const own = imports.filter((l) => !/from '\.\.\/\.\.\/src\/index\.js'/.test(l) || !/\bconnect\b/.test(l));
  return [...own, ...support, ...rest, 'export {};', ''].join('\n');
}

describe('README snippets', () => {
  it('every ```ts block typechecks against the public API', () => {
    const blocks = snippets();
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    const dir = join('test', '.readme-snippets');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    try {
      const files = blocks.map((b) => {
        const file = join(dir, `readme-line-${b.line}.ts`);
        writeFileSync(file, asModule(b.code));
        return file;
      });
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          extends: '../../tsconfig.json',
          compilerOptions: { noEmit: true },
          include: files.map((f) => f.slice(dir.length + 1)),
        }),
      );
      const res = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', join(dir, 'tsconfig.json')], {
        encoding: 'utf8',
      });
      expect(res.stdout + res.stderr).toBe('');
      expect(res.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
