/**
 * The README's quick start works as written for someone who installs the package: its
 * JavaScript block (the first ```js block under "## Quick start") runs with plain
 * `node` from a fresh project that installed the packed tarball, against a real etcd.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../src/index.js';
import { sharedEndpoints } from './harness/index.js';
import { installTarball, type Packed, packPackage, run } from './harness/package.js';

/** The first ```js block between "## Quick start" and the next "## " heading. */
function quickStartScript(readme: string): string {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l.trim() === '## Quick start');
  if (start < 0) throw new Error('README.md has no "## Quick start" heading');
  for (let i = start + 1; i < lines.length && !lines[i].startsWith('## '); i++) {
    if (lines[i].trim() !== '```js') continue;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i].trim() !== '```'; i++) body.push(lines[i]);
    return `${body.join('\n')}\n`;
  }
  throw new Error('README.md has no ```js block under "## Quick start"');
}

let packed: Packed | undefined;
afterAll(() => packed?.cleanup());

describe('the README quick start', () => {
  const script = quickStartScript(readFileSync('README.md', 'utf8'));
  let app: string;

  beforeAll(async () => {
    packed = await packPackage();
    app = join(packed.dir, 'app');
    await installTarball(packed.tarball, app);
  }, 120_000);

  it('is plain ESM JavaScript that imports the package by its name', () => {
    expect(script).toMatch(/from 'etcd-coord'/);
    expect(script).not.toMatch(/\bawait using\b/); // Node 20 cannot parse it
  });

  it('runs with node from a fresh install, prints growing fencing tokens, and leaves no key behind', async () => {
    writeFileSync(join(app, 'quickstart.mjs'), script);
    const endpoints = sharedEndpoints();
    // Resolves only when node exits with 0.
    const { stdout, stderr } = await run(
      'node',
      ['quickstart.mjs'],
      app,
      { ETCD_ENDPOINTS: endpoints.join(',') },
      30_000,
    );
    expect(stderr).toBe('');
    const tokens = [...stdout.matchAll(/token (\d+)/g)].map((m) => BigInt(m[1]));
    expect(tokens.length, stdout).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]);

    // close() revoked the session: nothing of the quick start is left in etcd.
    const namespace = /namespace: '([^']*)'/.exec(script)?.[1] ?? '';
    const name = /mutex\('([^']+)'\)/.exec(script)?.[1];
    expect(name, 'the quick start takes a mutex').toBeDefined();
    await using coord = await connect({ endpoints, namespace });
    expect(await coord.kv.getAll().prefix(`${name}/`).keys()).toEqual([]);
  }, 60_000);
});
