/**
 * The soak's load on one coordinator: a pool of sessions, lock workers cycling on a set
 * of names, elections whose leaders hand over, registrations joining and leaving, and
 * caches of the services. Every loop is paced, passes a {@link Gate} (so a sampler can
 * measure at a quiet moment) and stops when `stop` aborts.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type Coordinator,
  isClosedError,
  isLockTimeoutError,
  type LeaderJob,
  type Lock,
  type Registration,
  type ServiceCache,
  type Session,
} from 'etcd-coord';
import { batched } from './batched.js';
import { Gate } from './gate.js';

/** The size of the load. */
export interface SoakShape {
  readonly sessions: number;
  readonly lockNames: number;
  readonly lockWorkers: number;
  /** Pause after each lock cycle, ms (uniform in [min, max]). */
  readonly lockPauseMs: readonly [number, number];
  readonly elections: number;
  readonly candidates: number;
  /** How long a leader leads before its task returns (and the job resigns), ms. */
  readonly termMs: readonly [number, number];
  /** Live registrations kept (one leaves and one joins per churn step). */
  readonly registrations: number;
  /** Pause between churn steps, ms. */
  readonly churnPauseMs: readonly [number, number];
  /** Services, one cache each. */
  readonly caches: number;
}

/** What the load did (cumulative). */
export interface SoakCounts {
  lockCycles: number;
  lockTimeouts: number;
  tryBusy: number;
  overlaps: number;
  locksLost: number;
  terms: number;
  leaderChanges: number;
  doubleLeaders: number;
  joined: number;
  left: number;
  updates: number;
  cacheEvents: number;
  picks: number;
  sessionsLost: number;
  errors: Record<string, number>;
}

const rnd = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const pickOne = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)];

/** The running load. */
export class SoakLoad {
  readonly gate = new Gate();
  readonly stop = new AbortController();
  readonly counts: SoakCounts = {
    lockCycles: 0,
    lockTimeouts: 0,
    tryBusy: 0,
    overlaps: 0,
    locksLost: 0,
    terms: 0,
    leaderChanges: 0,
    doubleLeaders: 0,
    joined: 0,
    left: 0,
    updates: 0,
    cacheEvents: 0,
    picks: 0,
    sessionsLost: 0,
    errors: {},
  };
  sessions: Session[] = [];
  caches: ServiceCache[] = [];
  private readonly live: Registration[] = [];
  private readonly jobs: LeaderJob[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly holding = new Map<string, number>();
  private readonly leading: number[] = [];
  private regSeq = 0;

  constructor(
    private readonly coord: Coordinator,
    readonly shape: SoakShape,
    private readonly log: (msg: string) => void,
  ) {
    // The application's own stop signal goes to every registration, cache, observer and
    // job (about 40 at a time): more than Node's default warning threshold of 10.
    setMaxListeners(1000, this.stop.signal);
  }

  private get signal(): AbortSignal {
    return this.stop.signal;
  }

  private note(err: unknown): void {
    if (this.signal.aborted && (err === this.signal.reason || isClosedError(err))) return;
    const e = err as Error;
    const key = `${e?.name ?? 'Error'}: ${String(e?.message ?? err).slice(0, 100)}`;
    this.counts.errors[key] = (this.counts.errors[key] ?? 0) + 1;
  }

  /** Grants the sessions, opens the caches, fills the registrations, starts every loop. */
  async start(): Promise<void> {
    const s = this.shape;
    this.sessions = await batched(s.sessions, 50, () => this.coord.newSession());
    this.log(`soak: ${this.sessions.length} sessions granted`);
    this.caches = await Promise.all(
      Array.from({ length: s.caches }, (_, i) => this.coord.registry.discover(`svc-${i}`, { signal: this.signal })),
    );
    for (const cache of this.caches) this.loops.push(this.consume(cache));
    await batched(s.registrations, 10, () => this.join());
    for (let e = 0; e < s.elections; e++) this.startElection(e);
    for (let w = 0; w < s.lockWorkers; w++) this.loops.push(this.loop(() => this.lockCycle(), s.lockPauseMs));
    this.loops.push(this.loop(() => this.churn(), s.churnPauseMs));
  }

  /** Runs `unit` then a pause, both inside the gate, until stopped. */
  private async loop(unit: () => Promise<void>, pauseMs: readonly [number, number]): Promise<void> {
    while (!this.signal.aborted) {
      await this.gate.enter();
      try {
        if (this.signal.aborted) break;
        await unit().catch((err) => this.note(err));
        await delay(rnd(...pauseMs), undefined, { signal: this.signal }).catch(() => undefined);
      } finally {
        this.gate.leave();
      }
    }
  }

  /** A live pool session; a lost one is replaced (and counted). */
  private async poolSession(): Promise<Session> {
    const i = Math.floor(Math.random() * this.sessions.length);
    const session = this.sessions[i];
    if (session.isAlive) return session;
    this.counts.sessionsLost++;
    const fresh = await this.coord.newSession();
    this.sessions[i] = fresh;
    return fresh;
  }

  /** One lock cycle on a random name and session (1 in 10 on the shared session). */
  private async lockCycle(): Promise<void> {
    const name = `lock-${Math.floor(Math.random() * this.shape.lockNames)}`;
    const session = Math.random() < 0.1 ? undefined : await this.poolSession();
    const mutex = this.coord.mutex(name, session ? { session } : {});
    const hold = async (lock: Lock) => {
      const n = this.holding.get(name) ?? 0;
      if (n > 0) this.counts.overlaps++;
      this.holding.set(name, n + 1);
      await delay(rnd(5, 30));
      this.holding.set(name, (this.holding.get(name) ?? 1) - 1);
      if (lock.signal.aborted) this.counts.locksLost++;
      this.counts.lockCycles++;
    };
    const r = Math.random();
    try {
      if (r < 0.65) {
        const lock = await mutex.acquire({ signal: this.signal, timeoutMs: 3000 });
        await hold(lock).finally(() => lock.release());
      } else if (r < 0.8) {
        const lock = await mutex.tryAcquire();
        if (!lock) this.counts.tryBusy++;
        else await hold(lock).finally(() => lock.release());
      } else if (r < 0.93) {
        await this.coord.withLock(name, hold, { session, signal: this.signal, timeoutMs: 3000 });
      } else {
        // A short wait: under contention it times out, and must leave no key behind.
        const lock = await mutex.acquire({ signal: this.signal, timeoutMs: 15 });
        await hold(lock).finally(() => lock.release());
      }
    } catch (err) {
      if (isLockTimeoutError(err)) this.counts.lockTimeouts++;
      else throw err;
    }
  }

  /** One registration joins (registered until it leaves or `stop` aborts). */
  private async join(): Promise<void> {
    const seq = ++this.regSeq;
    const service = `svc-${seq % this.shape.caches}`;
    const reg = await this.coord.registry.register(
      { service, id: `i-${seq}`, address: '127.0.0.1', port: 10000 + (seq % 50000), metadata: { seq: String(seq) } },
      { signal: this.signal },
    );
    this.live.push(reg);
    this.counts.joined++;
  }

  /** One churn step: a registration leaves, a new one joins, one updates; picks from every cache. */
  private async churn(): Promise<void> {
    const leaving = this.live.splice(Math.floor(Math.random() * this.live.length), 1)[0];
    if (leaving) {
      await leaving.deregister();
      this.counts.left++;
    }
    await this.join();
    if (Math.random() < 0.3 && this.live.length > 0) {
      await pickOne(this.live).update({ metadata: { at: String(Date.now()) } });
      this.counts.updates++;
    }
    for (const cache of this.caches) {
      const inst = cache.pick();
      this.counts.picks++;
      if (inst && Math.random() < 0.1) cache.noteError(inst);
      else if (inst) cache.noteSuccess(inst);
    }
  }

  private async consume(cache: ServiceCache): Promise<void> {
    try {
      for await (const _ of cache.changes({ signal: this.signal })) this.counts.cacheEvents++;
    } catch (err) {
      this.note(err);
    }
  }

  /** Candidates on pool sessions, each a LeaderJob whose task leads for a while and returns. */
  private startElection(e: number): void {
    const name = `leader-${e}`;
    this.leading[e] = 0;
    for (let c = 0; c < this.shape.candidates; c++) {
      const session = this.sessions[e * this.shape.candidates + c];
      const election = this.coord.election(name, { session });
      const job = election.run(
        async (leadership) => {
          this.leading[e]++;
          if (this.leading[e] > 1) this.counts.doubleLeaders++;
          this.counts.terms++;
          try {
            await delay(rnd(...this.shape.termMs) / 2, undefined, { signal: leadership.signal });
            await leadership.proclaim(`cand-${c} half-way`);
            await delay(rnd(...this.shape.termMs) / 2, undefined, { signal: leadership.signal });
          } catch (err) {
            if (!leadership.signal.aborted) this.note(err);
          } finally {
            this.leading[e]--;
          }
        },
        { value: `cand-${c}`, signal: this.signal, backoff: { initialDelayMs: 50, maxDelayMs: 500 } },
      );
      this.jobs.push(job);
    }
    this.loops.push(this.observe(name));
  }

  /** Counts leader changes (a new leader key) as another client would see them. */
  private async observe(name: string): Promise<void> {
    let last: string | undefined;
    try {
      for await (const info of this.coord.election(name).observe({ signal: this.signal })) {
        if (info && info.key !== last) this.counts.leaderChanges++;
        if (info) last = info.key;
      }
    } catch (err) {
      this.note(err);
    }
  }

  /** Live registrations' ids per service. */
  liveIds(service: string): string[] {
    return this.live
      .filter((r) => r.instance.service === service)
      .map((r) => r.instance.id)
      .sort();
  }

  /** True once every cache shows exactly the live registrations of its service (polled up to `ms`). */
  async cachesAgree(ms: number): Promise<boolean> {
    const end = performance.now() + ms;
    for (;;) {
      const ok = this.caches.every(
        (c) =>
          c
            .instances()
            .map((i) => i.id)
            .join() === this.liveIds(c.service).join(),
      );
      if (ok || performance.now() > end) return ok;
      await delay(20);
    }
  }

  /** Stops every loop and job, deregisters, closes caches and sessions. Nothing is left running. */
  async finish(): Promise<void> {
    this.stop.abort(new Error('soak over'));
    this.gate.resume();
    await Promise.all(this.jobs.map((j) => j.stop()));
    await Promise.all(this.loops);
    // Registrations deregister when `stop` aborts; wait for it.
    await Promise.all(this.live.splice(0).map((r) => r.deregister()));
    for (const c of this.caches) c.close();
    await Promise.all(this.sessions.map((s) => s.close()));
  }
}
