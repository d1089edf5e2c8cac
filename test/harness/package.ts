/**
 * The package as npm would publish it: `npm pack` in a copy of the repository (so the
 * working tree's dist/ is not touched; `prepack` builds), and a scratch project that
 * installs the tarball from the npm cache. Shared by packaging.test.ts and quickstart.test.ts.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root (tests run from it). */
export const repoRoot = resolve('.');

/** Runs a program; resolves its output, rejects with it when it exits non-zero (or after `timeoutMs`). */
export function run(
  file: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  timeoutMs = 0,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    execFile(
      file,
      args,
      { cwd, env: { ...process.env, ...env }, maxBuffer: 16 << 20, timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err) fail(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
        else done({ stdout, stderr });
      },
    );
  });
}

/** A packed tarball in a temp dir. */
export interface Packed {
  /** The temp dir holding the tarball; scratch projects go under it. */
  readonly dir: string;
  /** Full path of the .tgz. */
  readonly tarball: string;
  /** The paths inside the package, as `npm pack --json` lists them. */
  readonly files: string[];
  /** Removes the temp dir. */
  cleanup(): void;
}

/** `npm pack` (which builds) in a copy of the package; the tarball lands in a new temp dir. */
export async function packPackage(): Promise<Packed> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-coord-pack-'));
  try {
    const pkg = join(dir, 'pkg');
    mkdirSync(pkg);
    for (const f of ['package.json', 'README.md', 'CHANGELOG.md', 'tsconfig.json', 'tsconfig.build.json', 'src']) {
      cpSync(join(repoRoot, f), join(pkg, f), { recursive: true });
    }
    symlinkSync(join(repoRoot, 'node_modules'), join(pkg, 'node_modules'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], pkg);
    const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    return {
      dir,
      tarball: join(dir, info.filename),
      files: info.files.map((f) => f.path),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A fresh ESM project in `dir` (created) with the tarball installed as a dependency,
 * from the npm cache where it can (the registry only for what the cache lacks).
 */
export async function installTarball(tarball: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], dir);
}
