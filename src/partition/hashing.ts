/**
 * Rendezvous (highest-random-weight) hashing: the desired owner of partition `p` is the
 * live member whose weight `hash(member:p)` is highest. A member joining takes only the
 * partitions it wins; a member leaving gives up only its own, so a change of membership
 * moves about 1/N of the partitions, and every member computes the same answer from the
 * same member list.
 *
 * The weight is 64-bit FNV-1a of the UTF-8 bytes of `${member}:${p}`, finished with
 * MurmurHash3's 64-bit mixer (FNV alone spreads near-identical strings poorly). Stable
 * across processes, platforms and versions: changing it would move partitions between
 * members running different versions.
 * @module
 */

const MASK = 0xffff_ffff_ffff_ffffn;
const FNV_OFFSET = 0xcbf2_9ce4_8422_2325n;
const FNV_PRIME = 0x100_0000_01b3n;

/** 64-bit FNV-1a of the UTF-8 bytes of `text`, then MurmurHash3's fmix64. */
export function hash64(text: string): bigint {
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * FNV_PRIME) & MASK;
  }
  h ^= h >> 33n;
  h = (h * 0xff51_afd7_ed55_8ccdn) & MASK;
  h ^= h >> 33n;
  h = (h * 0xc4ce_b9fe_1a85_ec53n) & MASK;
  h ^= h >> 33n;
  return h;
}

/** The member with the highest weight for `partition` (ties: the smaller id); undefined when there is none. */
export function desiredOwner(partition: number, members: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const m of members) {
    const w = hash64(`${m}:${partition}`);
    if (w > bestWeight || (w === bestWeight && best !== undefined && m < best)) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}

/** The partitions `0 .. partitions-1` each member should own, by member id. */
export function assignAll(partitions: number, members: Iterable<string>): Map<string, number[]> {
  const list = [...members];
  const out = new Map<string, number[]>(list.map((m) => [m, []]));
  for (let p = 0; p < partitions; p++) {
    const owner = desiredOwner(p, list);
    if (owner !== undefined) out.get(owner)?.push(p);
  }
  return out;
}
