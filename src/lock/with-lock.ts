/**
 * `withLock`: acquire, run, release, whatever happens in between.
 * @module
 */
import type { AcquireOptions } from './contend.js';
import type { Lock } from './lock.js';
import type { Mutex } from './mutex.js';

/**
 * Acquires `mutex`, runs `fn(lock)`, and releases the lock in `finally`: when `fn`
 * returns, throws, or the lock was lost meanwhile (watch `lock.signal` inside `fn`).
 * Resolves with `fn`'s result or rejects with its error. A failure to release after `fn`
 * succeeded is logged by the lock, not thrown (the key then ends with its lease).
 */
export async function withLock<T>(
  mutex: Mutex,
  fn: (lock: Lock) => Promise<T> | T,
  options: AcquireOptions = {},
): Promise<T> {
  const lock = await mutex.acquire(options);
  try {
    return await fn(lock);
  } finally {
    await lock.release().catch(() => {});
  }
}
