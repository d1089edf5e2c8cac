/**
 * A campaign that does not wait: leads if no other candidate leads right now, else
 * leaves (its key deleted) and resolves undefined. Built on the public Election API:
 * the campaign runs while `observe()` watches who leads; as soon as another candidate is
 * seen leading, the campaign is aborted.
 * @module
 */
import type { Election, Leadership, Session } from '../index.js';

/** Leads now, or resolves undefined (leaving no key) when another candidate leads. */
export async function tryCampaign(
  election: Election,
  session: Session,
  value: string,
  signal: AbortSignal,
): Promise<Leadership | undefined> {
  const myKey = `${election.prefix}${session.leaseId}`;
  const giveUp = new AbortController();
  const stopObserving = new AbortController();
  const campaign = election.campaign(value, { signal: AbortSignal.any([signal, giveUp.signal]) });
  const watching = (async () => {
    for await (const leader of election.observe({ signal: stopObserving.signal })) {
      if (leader?.key === myKey) return;
      if (leader) {
        giveUp.abort(new Error(`${leader.key} leads`));
        return;
      }
    }
  })().catch(() => undefined);
  try {
    return await campaign;
  } catch (err) {
    if (giveUp.signal.aborted && !signal.aborted) return undefined;
    throw err;
  } finally {
    stopObserving.abort();
    await watching;
  }
}
