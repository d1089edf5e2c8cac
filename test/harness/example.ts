/** Runs a program from examples/ against the shared etcd, as a user would. */
import { spawn } from 'node:child_process';
import { inject } from 'vitest';

/** Runs `examples/<file>` with tsx in a fresh namespace; resolves its exit code and stdout + stderr. */
export async function runExample(file: string, namespacePrefix: string): Promise<{ code: number | null; out: string }> {
  const namespace = `${namespacePrefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}/`;
  const proc = spawn(process.execPath, ['--import', 'tsx', `examples/${file}`], {
    env: { ...process.env, ETCD_ENDPOINTS: inject('etcdEndpoints').join(','), EXAMPLE_NAMESPACE: namespace },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => {
    out += d;
  });
  proc.stderr.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  return { code, out };
}
