/**
 * Transfers between accounts under a multi-lock: two tellers (each with its own
 * connection, as if they were two processes) move money between three accounts, each
 * transfer holding the locks of both its accounts at once with `coord.multiLock()`. The
 * tellers name the accounts in opposite orders, which with plain mutexes taken one after
 * the other could deadlock; a multi-lock takes them in one global order, so it cannot.
 * Every balance update is written through `multi.txn()`, so a teller that lost either
 * lock cannot write. The total is the same at the end.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/multi-lock.ts
 */
import { type Coordinator, connect } from '../src/index.js';

const say = (msg: string) => process.stdout.write(`${msg}\n`);
const namespace = `example-multi-lock-${process.pid}/`;
const ACCOUNTS = ['alice', 'bob', 'carol'];
const TRANSFERS = 6;

async function balance(coord: Coordinator, account: string): Promise<number> {
  return Number(await coord.kv.get(`balances/${account}`).string());
}

async function transfer(coord: Coordinator, teller: string, from: string, to: string, amount: number): Promise<void> {
  // Both accounts' locks, or neither; given in any order.
  await using multi = await coord.multiLock([`accounts/${from}`, `accounts/${to}`], { timeoutMs: 30_000 });
  const [a, b] = [await balance(coord, from), await balance(coord, to)];
  const res = await multi
    .txn()
    .then(
      coord.kv.put(`balances/${from}`).value(String(a - amount)),
      coord.kv.put(`balances/${to}`).value(String(b + amount)),
    )
    .commit();
  if (!res.succeeded) throw new Error(`${teller}: lost a lock; nothing was written`);
  say(`${teller} moved ${amount} from ${from} to ${to} (holding ${multi.names.join(' + ')})`);
}

async function teller(coord: Coordinator, name: string, reverse: boolean): Promise<void> {
  for (let i = 0; i < TRANSFERS; i++) {
    const from = ACCOUNTS[i % ACCOUNTS.length];
    const to = ACCOUNTS[(i + 1) % ACCOUNTS.length];
    await (reverse ? transfer(coord, name, to, from, 5) : transfer(coord, name, from, to, 10));
  }
}

const coords = await Promise.all([1, 2].map(() => connect({ namespace, ttl: 5 })));
try {
  for (const account of ACCOUNTS) await coords[0].kv.put(`balances/${account}`).value('100');
  await Promise.all([teller(coords[0], 'teller-1', false), teller(coords[1], 'teller-2', true)]);
  const balances = await Promise.all(ACCOUNTS.map((a) => balance(coords[0], a)));
  const total = balances.reduce((x, y) => x + y, 0);
  say(`balances: ${ACCOUNTS.map((a, i) => `${a} ${balances[i]}`).join(', ')}; total ${total}`);
  const left = await coords[0].kv.getAll().prefix('accounts/').keys();
  say(`lock keys left: ${left.length}`);
  await coords[0].kv.delete().prefix('balances/').exec();
  if (total !== 100 * ACCOUNTS.length || left.length !== 0) process.exitCode = 1;
} finally {
  await Promise.all(coords.map((c) => c.close()));
}
