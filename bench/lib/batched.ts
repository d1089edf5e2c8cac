/** Runs `fn` for `count` items, at most `width` at a time (e.g. granting 1,000 sessions). */
export async function batched<R>(count: number, width: number, fn: (i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < count; i += width) {
    const batch = Array.from({ length: Math.min(width, count - i) }, (_, j) => fn(i + j));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}
