/**
 * Packaging: `npm pack` (which builds), publint on the tarball, then an install of the
 * tarball into a scratch project (offline, from the npm cache) that imports it as ESM,
 * typechecks a small TypeScript file against its types, and runs its `etcd-coord` bin.
 * Built in a copy of the package, so the working tree's dist/ is not touched.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedEndpoints, uniqueNamespace } from './harness/index.js';
import { installTarball, type Packed, packPackage, repoRoot as repo, run } from './harness/package.js';

const bin = (name: string) => join(repo, 'node_modules', '.bin', name);

let packed: Packed;
let dir: string;
let tarball: string;
let packedFiles: string[];
beforeAll(async () => {
  packed = await packPackage();
  ({ dir, tarball, files: packedFiles } = packed);
}, 180_000);
afterAll(() => packed?.cleanup());

describe('the npm package', () => {
  it('packs dist (library, types, the etcd-coord bin) and docs only, and publint finds nothing', async () => {
    expect(packedFiles).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js']),
    );
    expect(
      packedFiles.filter(
        (f) => !f.startsWith('dist/') && !/^(package\.json|README\.md|CHANGELOG\.md|LICENSE)$/.test(f),
      ),
    ).toEqual([]);
    const { stdout } = await run(bin('publint'), ['run', tarball, '--strict'], dir);
    expect(stdout).toMatch(/All good!/);
  }, 60_000);

  it('installs offline into a fresh project, imports as ESM, typechecks, and its bin runs', async () => {
    const app = join(dir, 'app');
    await installTarball(tarball, app);

    // Runtime: ESM import, a real connection, a lock with a fencing token.
    writeFileSync(
      join(app, 'use.mjs'),
      `import { connect, InvalidArgumentError, isInvalidArgumentError } from 'etcd-coord';
const coord = await connect({ namespace: process.env.NS });
const token = await coord.withLock('pack-check', (lock) => lock.token);
let bad;
try { coord.mutex(''); } catch (err) { bad = err; }
await coord.close();
console.log(JSON.stringify({ token: String(token), guard: isInvalidArgumentError(bad), cls: bad instanceof InvalidArgumentError }));
`,
    );
    const env = { ETCD_ENDPOINTS: sharedEndpoints().join(','), NS: uniqueNamespace('pack') };
    const used = JSON.parse((await run('node', ['use.mjs'], app, env)).stdout);
    expect(BigInt(used.token)).toBeGreaterThan(0n);
    expect(used).toMatchObject({ guard: true, cls: true });

    // Types: a consumer's file typechecks against dist/*.d.ts; a wrong call is rejected.
    writeFileSync(
      join(app, 'use.ts'),
      `import { connect, type Coordinator, type Lock, type ServiceInstance, isLockTimeoutError } from 'etcd-coord';
export async function token(coord: Coordinator): Promise<bigint> {
  const lock: Lock = await coord.mutex('jobs/a').acquire({ timeoutMs: 100 });
  await lock.release();
  return lock.token;
}
export async function leader(coord: Coordinator): Promise<string | undefined> {
  return (await coord.election('e').leader())?.value;
}
export async function list(coord: Coordinator): Promise<ServiceInstance[]> {
  return coord.registry.list('api');
}
export const guard: (e: unknown) => boolean = isLockTimeoutError;
export const open = (): Promise<Coordinator> => connect({ endpoints: ['127.0.0.1:2379'], namespace: 'x/', ttl: 5 });
// @ts-expect-error ttl is a number
export const wrong = () => connect({ ttl: 'ten' });
`,
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2023', 'ESNext.Disposable'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          typeRoots: [join(repo, 'node_modules', '@types')],
          types: ['node'],
        },
        files: ['use.ts'],
      }),
    );
    await run(bin('tsc'), ['-p', 'tsconfig.json'], app);

    // The bin: linked by npm, runs with its shebang.
    const status = await run(join(app, 'node_modules', '.bin', 'etcd-coord'), ['status', '--json'], app, env);
    expect(JSON.parse(status.stdout).healthy).toBe(true);
  }, 180_000);
});
