/**
 * The sessions of a coordinator: the shared default session (granted on first use,
 * replaced after a loss) and every session it granted, which `close()` revokes.
 * @module
 */
import { ClosedError } from '../errors.js';
import { validateTtl } from '../keys.js';
import { grantSession, type Session, type SessionDeps } from '../lease/session.js';

/** What a {@link SessionPool} needs from its coordinator. @internal */
export interface SessionPoolDeps extends SessionDeps {
  /** The default TTL in seconds (`connect({ ttl })`). */
  readonly ttl: number;
  /** Throws ClosedError once the coordinator is closed. */
  assertOpen(): void;
  /** True once the coordinator's close() was called. */
  isClosed(): boolean;
}

/** Grants sessions and keeps the live ones. @internal */
export class SessionPool {
  private readonly live = new Set<Session>();
  private sharedPromise: Promise<Session> | undefined;
  /** The shared session once granted (it may have been lost since). */
  private sharedSession: Session | undefined;

  constructor(private readonly deps: SessionPoolDeps) {}

  /** Live sessions now. */
  get size(): number {
    return this.live.size;
  }

  /** Live sessions whose state is 'at-risk' now. */
  atRisk(): number {
    return [...this.live].filter((s) => s.state === 'at-risk').length;
  }

  /** The shared default session when it is granted and alive now, without waiting; else undefined. */
  sharedNow(): Session | undefined {
    const s = this.sharedSession;
    return s?.isAlive ? s : undefined;
  }

  /** The shared default session; after it is lost, a fresh one. */
  async shared(signal?: AbortSignal): Promise<Session> {
    this.deps.assertOpen();
    const current = this.sharedPromise;
    if (current) {
      return current.then(
        (s) => (s.isAlive ? s : this.replaceShared(current, signal)),
        () => this.replaceShared(current, signal),
      );
    }
    return this.replaceShared(undefined, signal);
  }

  private async replaceShared(seen: Promise<Session> | undefined, signal?: AbortSignal): Promise<Session> {
    if (this.sharedPromise !== seen && this.sharedPromise) return this.shared(signal);
    const p = this.create(undefined, signal);
    this.sharedPromise = p;
    p.then(
      (s) => {
        if (this.sharedPromise === p) this.sharedSession = s;
      },
      () => {
        if (this.sharedPromise === p) this.sharedPromise = undefined;
      },
    );
    return p;
  }

  /** A new session with its own lease (TTL: `ttl`, else the default), kept until it ends. */
  async create(ttl?: number, signal?: AbortSignal): Promise<Session> {
    this.deps.assertOpen();
    const checked = validateTtl(ttl ?? this.deps.ttl, 'ttl');
    const { client, resilience, keepAlive, logger, emit } = this.deps;
    const session = await grantSession(
      { client, resilience, keepAlive, logger: logger.child({ component: 'session' }), emit },
      checked,
      signal,
    );
    if (this.deps.isClosed()) {
      await session.close();
      throw new ClosedError('the coordinator was closed');
    }
    this.live.add(session);
    session.signal.addEventListener('abort', () => this.live.delete(session), { once: true });
    return session;
  }

  /** Closes (revokes) every live session; never rejects. */
  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.live].map((s) => s.close()));
  }
}
