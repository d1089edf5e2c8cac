/**
 * Rendezvous (highest-random-weight) hashing: the desired owner of partition `p` is the
 * live member whose weight `hash(member:p)` is highest. A member joining takes only the
 * partitions it wins; a member leaving gives up only its own, so a change of membership
 * moves about 1/N of the partitions, and every member computes the same answer from the
 * same member list.
 *
 * The weight is 64-bit FNV-1a of the UTF-8 bytes of `${member}:${p}`, then mixed with
 * MurmurHash3's 32-bit finalizer into two 32-bit words (FNV alone spreads near-identical
 * strings poorly), computed in 32-bit arithmetic (no BigInt: 65536 partitions over a
 * handful of members take milliseconds). Stable across processes, platforms and
 * versions: changing it would move partitions between members running different versions.
 * @module
 */

const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;
const FNV_PRIME_LO = 0x1b3; // the 64-bit prime is 2^40 + 0x1b3

/** 64-bit FNV-1a state as two unsigned 32-bit halves. */
type State = [hi: number, lo: number];

function feed(state: State, bytes: ArrayLike<number>): State {
  let [hi, lo] = state;
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]) >>> 0;
    // (hi:lo) * (2^40 + 0x1b3) mod 2^64, in exact double arithmetic (lo * 0x1b3 < 2^41)
    const a = lo * FNV_PRIME_LO;
    const carry = Math.floor(a / 0x1_0000_0000);
    hi = (Math.imul(hi, FNV_PRIME_LO) + carry + (lo << 8)) >>> 0;
    lo = a >>> 0;
  }
  return [hi, lo];
}

/** MurmurHash3's 32-bit finalizer. */
function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The weight from a final FNV state: two mixed 32-bit words, compared high word first. */
function finish([hi, lo]: State): State {
  const low = fmix32(lo ^ Math.imul(hi, 0x9e3779b1));
  const high = fmix32(hi ^ low);
  return [high, low];
}

const encoder = new TextEncoder();

/** 64-bit FNV-1a of the UTF-8 bytes of `text` (before mixing). @internal */
export function fnv1a64(text: string): bigint {
  const [hi, lo] = feed([FNV_OFFSET_HI, FNV_OFFSET_LO], encoder.encode(text));
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** The weight of `text`: 64-bit FNV-1a of its UTF-8 bytes, mixed (see the module comment), as a bigint. */
export function hash64(text: string): bigint {
  const [high, low] = finish(feed([FNV_OFFSET_HI, FNV_OFFSET_LO], encoder.encode(text)));
  return (BigInt(high) << 32n) | BigInt(low);
}

/** The member with the highest weight for `partition` (ties: the smaller id); undefined when there is none. */
export function desiredOwner(partition: number, members: Iterable<string>): string | undefined {
  return new Rendezvous(members).owner(partition);
}

/** Rendezvous hashing over a fixed member list (each member's hash prefix computed once). */
export class Rendezvous {
  private readonly ids: string[];
  private readonly his: Uint32Array;
  private readonly los: Uint32Array;
  private readonly tail = new Uint8Array(12);

  constructor(members: Iterable<string>) {
    this.ids = [...members];
    this.his = new Uint32Array(this.ids.length);
    this.los = new Uint32Array(this.ids.length);
    this.ids.forEach((id, i) => {
      const [hi, lo] = feed([FNV_OFFSET_HI, FNV_OFFSET_LO], encoder.encode(`${id}:`));
      this.his[i] = hi;
      this.los[i] = lo;
    });
  }

  /** The desired owner of `partition`. */
  owner(partition: number): string | undefined {
    const text = String(partition);
    const n = text.length;
    for (let k = 0; k < n; k++) this.tail[k] = text.charCodeAt(k);
    let best = -1;
    let bestHi = -1;
    let bestLo = -1;
    for (let i = 0; i < this.ids.length; i++) {
      let hi = this.his[i];
      let lo = this.los[i];
      for (let k = 0; k < n; k++) {
        lo = (lo ^ this.tail[k]) >>> 0;
        const a = lo * FNV_PRIME_LO;
        hi = (Math.imul(hi, FNV_PRIME_LO) + Math.floor(a / 0x1_0000_0000) + (lo << 8)) >>> 0;
        lo = a >>> 0;
      }
      const low = fmix32(lo ^ Math.imul(hi, 0x9e3779b1));
      const high = fmix32(hi ^ low);
      if (
        high > bestHi ||
        (high === bestHi && (low > bestLo || (low === bestLo && best >= 0 && this.ids[i] < this.ids[best])))
      ) {
        best = i;
        bestHi = high;
        bestLo = low;
      }
    }
    return best < 0 ? undefined : this.ids[best];
  }
}

/** The partitions `0 .. partitions-1` each member should own, by member id. */
export function assignAll(partitions: number, members: Iterable<string>): Map<string, number[]> {
  const list = [...members];
  const ring = new Rendezvous(list);
  const out = new Map<string, number[]>(list.map((m) => [m, []]));
  for (let p = 0; p < partitions; p++) {
    const owner = ring.owner(p);
    if (owner !== undefined) out.get(owner)?.push(p);
  }
  return out;
}
