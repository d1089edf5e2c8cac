/** Child processes (node --import tsx) that run benchmark work on command, over IPC. */
import { type ChildHandle, type ChildMessage, spawnChild } from '../../test/harness/child.js';

let runIds = 0;

/** A set of started children of one script. */
export class Pool {
  private constructor(readonly children: ChildHandle[]) {}

  /** Starts `count` children of `script` (a path from the repo root) and waits until each says 'ready'. */
  static async start(script: string, count: number, env: Record<string, string>): Promise<Pool> {
    const children: ChildHandle[] = [];
    // Start in small batches: 32 TypeScript processes booting at once starve a 2-core machine.
    for (let i = 0; i < count; i += 8) {
      const batch = Array.from({ length: Math.min(8, count - i) }, () => spawnChild(script, env));
      children.push(...batch);
      await Promise.all(batch.map((c) => c.next('ready', undefined, 120_000)));
    }
    return new Pool(children);
  }

  /** Sends `msg` (plus a runId) to the first `count` children; resolves with their 'done' answers. */
  async run(count: number, msg: ChildMessage, timeoutMs = 180_000): Promise<ChildMessage[]> {
    const runId = ++runIds;
    const chosen = this.children.slice(0, count);
    const answers = chosen.map((c) =>
      Promise.race([
        c.next('done', (m) => m.runId === runId, timeoutMs),
        c.next('failed', undefined, timeoutMs + 1000).then((m) => {
          throw new Error(`child ${c.pid} failed: ${m.error}`);
        }),
      ]),
    );
    for (const c of chosen) c.send({ ...msg, runId });
    return Promise.all(answers);
  }

  /** Asks every child to exit (closing its sessions); kills those that do not within 10 s. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (c) => {
        c.send({ type: 'exit' });
        const t = setTimeout(() => c.kill(), 10_000);
        await c.exited;
        clearTimeout(t);
      }),
    );
  }
}
