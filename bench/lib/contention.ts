/**
 * What a contended run shows: handoffs per second, waits, fairness, order, and whether
 * two holders ever overlapped, from every contender's (requested, acquired, releasing)
 * timestamps (epoch ms, comparable across processes on one machine).
 */
import { type Summary, summarize } from './stats.js';

/** One critical section: when it was asked for, got, and given back; and its fencing token where there is one. */
export type SectionTimes =
  | readonly [requested: number, acquired: number, releasing: number]
  | readonly [requested: number, acquired: number, releasing: number, token: number];

/** The analysis of one contended run. */
export interface ContentionStats {
  readonly handoffs: number;
  readonly seconds: number;
  readonly handoffsPerSecond: number;
  readonly wait: Summary;
  /** From a holder starting to release to the next holder having the lock. */
  readonly gap: Summary;
  /** Share of those handoffs that took over 50 ms (e.g. a watch that landed in etcd's unsynced group). */
  readonly slowGaps: number;
  /** Longest wait / mean wait. */
  readonly fairness: number;
  /** Sections that someone who asked more than 1 ms later got before (0 for FIFO). */
  readonly overtaken: number;
  /** Holds that began more than 1 ms before the previous holder started releasing (must be 0). */
  readonly overlaps: number;
  /**
   * Sections granted after one with a larger fencing token (the token is the queue
   * position, so 0 = served in exact queue order); undefined without tokens.
   */
  readonly outOfQueueOrder: number | undefined;
}

const SKEW_MS = 1;

/** Analyses the sections of all contenders of one run. */
export function analyse(sections: readonly SectionTimes[]): ContentionStats {
  const byAcquire = [...sections].sort((a, b) => a[1] - b[1]);
  let overlaps = 0;
  const gaps: number[] = [];
  for (let i = 1; i < byAcquire.length; i++) {
    if (byAcquire[i][1] < byAcquire[i - 1][2] - SKEW_MS) overlaps++;
    // Only real handoffs: the next holder had asked before the previous one let go.
    if (byAcquire[i][0] < byAcquire[i - 1][2]) gaps.push(byAcquire[i][1] - byAcquire[i - 1][2]);
  }
  // Overtaken: someone served earlier had asked later (by more than the clock skew).
  let overtaken = 0;
  let latestServedRequest = Number.NEGATIVE_INFINITY;
  for (const [requested] of byAcquire) {
    if (latestServedRequest > requested + SKEW_MS) overtaken++;
    latestServedRequest = Math.max(latestServedRequest, requested);
  }
  let outOfQueueOrder: number | undefined;
  if (byAcquire.every((s) => s.length === 4)) {
    outOfQueueOrder = 0;
    let maxToken = Number.NEGATIVE_INFINITY;
    for (const s of byAcquire) {
      const token = s[3] as number;
      if (token < maxToken) outOfQueueOrder++;
      maxToken = Math.max(maxToken, token);
    }
  }
  const start = Math.min(...sections.map((s) => s[0]));
  const end = Math.max(...sections.map((s) => s[2]));
  const waits = sections.map((s) => s[1] - s[0]);
  const wait = summarize(waits);
  const seconds = (end - start) / 1000;
  return {
    handoffs: sections.length,
    seconds,
    handoffsPerSecond: sections.length / seconds,
    wait,
    gap: summarize(gaps),
    slowGaps: gaps.filter((g) => g > 50).length / (gaps.length || Number.NaN),
    fairness: wait.max / wait.mean,
    overtaken,
    overlaps,
    outOfQueueOrder,
  };
}
