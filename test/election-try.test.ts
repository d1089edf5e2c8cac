import { afterEach, describe, expect, it } from 'vitest';
import { type Coordinator, isInvalidArgumentError } from '../src/index.js';
import { connectShared } from './harness/index.js';

let coord: Coordinator | undefined;
afterEach(async () => {
  await coord?.close();
  coord = undefined;
});

async function keys(c: Coordinator, prefix: string): Promise<string[]> {
  return c.kv.getAll().prefix(prefix).keys();
}

describe('Election.tryCampaign()', () => {
  it('leads when nobody does, and otherwise resolves undefined at once, leaving no key', async () => {
    coord = await connectShared();
    const election = coord.election('try');
    const first = await election.tryCampaign('a');
    expect(first?.value).toBe('a');
    expect((await election.leader())?.value).toBe('a');

    const other = await coord.newSession({ ttl: 5 });
    const second = coord.election('try', { session: other });
    expect(await second.tryCampaign('b')).toBeUndefined();
    expect(await keys(coord, 'try/')).toEqual([first?.key.slice(coord.namespace.length)]);
    // the same session is already in line for this name: no second key, no wait
    expect(await election.tryCampaign('a2')).toBeUndefined();

    await first?.resign();
    const third = await second.tryCampaign('b');
    expect(third?.value).toBe('b');
    expect(third?.token).toBeGreaterThan(first?.token ?? 0n);
    await third?.resign();
    expect(await keys(coord, 'try/')).toEqual([]);
  });

  it('rejects a value that is not a string before writing anything', async () => {
    coord = await connectShared();
    const err = await coord
      .election('try-bad')
      .tryCampaign(42 as unknown as string)
      .catch((e) => e);
    expect(isInvalidArgumentError(err)).toBe(true);
    expect(await keys(coord, 'try-bad/')).toEqual([]);
  });
});
