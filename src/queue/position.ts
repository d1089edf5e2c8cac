/**
 * Telemetry of the queue: the position a traced contender took when it joined.
 * @module
 */
import type { CoordContext } from '../context.js';
import type { TraceSpan } from '../telemetry.js';
import { queueRange } from './range.js';
import type { Blockers, JoinInfo } from './spec.js';

/**
 * A `takeTurn()` `onJoin` hook that sets the `position` attribute of `span` (the
 * blockers ahead of my key at the join; 0: nobody): at once when the join found the turn
 * of a one-holder queue free, else from one keys-only read at the join's revision, made
 * in the background (the wait does not wait for it; the span is exported once it
 * answered; if it fails the attribute stays unset). Undefined when there is no span: an
 * untraced acquire reads nothing more.
 * @internal
 */
export function positionOnJoin(
  ctx: CoordContext,
  what: string,
  blockers: Blockers,
  span: TraceSpan | undefined,
): ((joined: JoinInfo) => void) | undefined {
  if (!span) return undefined;
  return ({ token, revision, ready }) => {
    if (ready && blockers.limit === 1) {
      span.set({ position: 0 });
      return;
    }
    const range = {
      ...queueRange(blockers.prefix, { keysOnly: true, maxCreate: token - 1n }),
      revision: `${revision}`,
    };
    span.setLater(
      ctx.resilience
        .run(`${what}: read queue position`, () => ctx.client.kv.range(range), { idempotent: true })
        .then((res) => ({ position: res.kvs.filter((kv) => blockers.member(kv.key.toString())).length })),
    );
  };
}
