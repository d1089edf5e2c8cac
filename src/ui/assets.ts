/**
 * The page's static files (HTML, CSS, script), read from the `assets` folder next to this
 * module: `src/ui/assets` when run from source, `dist/ui/assets` in the package (the build
 * copies it).
 * @module
 */
import { readFile } from 'node:fs/promises';

/** One static file, ready to serve. */
export interface Asset {
  /** Its Content-Type. */
  readonly type: string;
  /** Its bytes. */
  readonly body: Buffer;
}

/** URL path -> file name and Content-Type. */
const FILES: Readonly<Record<string, readonly [string, string]>> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/dashboard.css': ['dashboard.css', 'text/css; charset=utf-8'],
  '/dashboard.js': ['dashboard.js', 'text/javascript; charset=utf-8'],
  '/favicon.svg': ['favicon.svg', 'image/svg+xml'],
};

/** Reads every asset; rejects when one is missing (a package built without the copy step). */
export async function loadAssets(): Promise<ReadonlyMap<string, Asset>> {
  const dir = new URL('./assets/', import.meta.url);
  const entries = await Promise.all(
    Object.entries(FILES).map(async ([path, [file, type]]) => {
      const body = await readFile(new URL(file, dir)).catch((err: unknown) => {
        throw new Error(`dashboard asset ${file} is missing in ${dir.pathname}: ${(err as Error).message}`);
      });
      return [path, { type, body }] as const;
    }),
  );
  return new Map(entries);
}
