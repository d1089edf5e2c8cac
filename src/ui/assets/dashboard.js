// The etcd-coord dashboard page: listens to the server's events (/events), draws the
// queues, elections, services and cluster health, and counts held times, wait times and
// lease TTLs down between updates. Everything it shows comes from the server; when the
// server says its view is stale, or the page loses the server, it says so.

/** How long without any message (the server pings every 5 s) before the link counts as lost. */
const SILENCE_MS = 15_000;
/** How often times and TTLs are redrawn. */
const TICK_MS = 250;

const state = {
  /** The server's status: { live, reason?, since }. */
  server: { live: false, reason: 'connecting to the dashboard server' },
  /** Why the page cannot trust its link to the server, or undefined. */
  link: 'connecting to the dashboard server',
  /** The last snapshot message: { snapshot, times, down, serverTime, scope }. */
  message: undefined,
  /** The last health check. */
  health: undefined,
  /** Server clock minus page clock, ms. */
  offsetMs: 0,
  /** When the page last heard from the server (page clock). */
  heardAt: Date.now(),
};

const serverNow = () => Date.now() + state.offsetMs;

/** A DOM element: h('td', { class: 'x', 'data-y': 1 }, 'text', child, [more]). Text is never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k === 'className' ? 'class' : k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** 1234 -> '1.2s', 125000 -> '2m 05s'. */
function duration(ms) {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const hr = Math.floor(m / 60);
  if (hr < 24) return `${hr}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

function bytes(n) {
  if (n === undefined || n === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function replaceBody(section, nodes, emptyText) {
  const body = document.querySelector(`#${section} .body`);
  body.replaceChildren(...(nodes.length ? nodes : [h('p', { class: 'empty' }, emptyText)]));
}

function setCount(section, text) {
  document.querySelector(`#${section} h2 .count`).textContent = text ? `· ${text}` : '';
}

// ---- queues and elections ----

/**
 * An election keeps the caller's value in its keys; locks, semaphores and rwlocks keep
 * an owner record (or nothing: Go, etcdctl). A queue with a value that is not an owner
 * record is an election, unless the server says what it is.
 */
function kindOf(queue) {
  if (queue.kind) return queue.kind === 'election' ? 'election' : 'lock';
  return queue.contenders.some((c) => c.value !== '' && c.owner === undefined) ? 'election' : 'lock';
}

function whoDetail(c) {
  const parts = [`token ${c.token}`];
  if (c.host) parts.push(c.pid === undefined ? c.host : `${c.host} pid ${c.pid}`);
  parts.push(`lease ${c.leaseId}`);
  return parts.join(' · ');
}

/** A bar of held or waited time, counting from `time.from` ('held 4.2s', 'waiting ≥ 1m 02s'). */
function timeBar(time, verb, cls) {
  const at = time ? Date.parse(time.from) : Number.NaN;
  if (Number.isNaN(at)) return h('div', { class: 'bar unknown' }, h('span', { class: 'label' }, `${verb} ?`));
  const title = time.atLeast
    ? `${verb} since before the dashboard started: at least this long`
    : `${verb} since ${new Date(at).toLocaleString()}`;
  return h(
    'div',
    { class: `bar ${cls}`, 'data-from': at, 'data-verb': time.atLeast ? `${verb} ≥` : verb, title },
    h('span', { class: 'fill' }),
    h('span', { class: 'label' }, verb),
  );
}

function ttlCell(c, takenAt) {
  if (c.ttlRemainingS === undefined || c.ttlRemainingS === null) {
    return h('div', { class: 'ttl unknown', title: 'lease TTL unknown' }, 'TTL ?');
  }
  if (c.ttlRemainingS < 0) return h('div', { class: 'ttl low' }, 'no lease');
  const expires = Date.parse(takenAt) + c.ttlRemainingS * 1000;
  return h(
    'div',
    {
      class: 'ttl',
      'data-expires': expires,
      'data-granted': c.grantedTtlS ?? '',
      title: `lease ${c.leaseId}: TTL left if no further keepalive arrives`,
    },
    h('span', { class: 'ttl-label' }, 'TTL'),
    h('span', { class: 'track' }, h('span')),
  );
}

/** Whether a contender holds: the server says (a semaphore's first `limit`, a read side's readers), else the head. */
function holdsOf(c, index) {
  return c.holds ?? index === 0;
}

function contenderRow(c, index, kind, message) {
  const holds = holdsOf(c, index);
  const role = kind === 'election' ? (holds ? 'leader' : 'candidate') : holds ? 'holder' : 'waiter';
  const name = kind === 'election' ? c.value || '(empty value)' : (c.owner ?? 'unknown owner');
  const verb = holds ? (kind === 'election' ? 'leading' : 'held') : 'waiting';
  const badge = holds ? (kind === 'election' ? 'LEADER' : 'HOLDS') : `#${index}`;
  return h(
    'li',
    { class: `row ${role}`, 'data-role': role, 'data-lease': c.leaseId, 'data-key': c.key },
    h('span', { class: 'badge' }, badge),
    h(
      'div',
      { class: 'who' },
      h('div', { class: 'name', title: c.key }, name),
      h('div', { class: 'detail', title: whoDetail(c) }, whoDetail(c)),
    ),
    timeBar(message.times[c.key], verb, holds ? 'held' : 'wait'),
    ttlCell(c, message.snapshot.takenAt),
  );
}

/** What a lock queue is, as its owner records say: 'semaphore of 3', 'rwlock read', else 'lock'. */
function lockLabel(queue) {
  const kind = queue.contenders.find((c) => c.kind)?.kind;
  if (kind === 'semaphore') {
    const limit = queue.contenders.find((c) => c.limit)?.limit;
    return limit ? `semaphore of ${limit}` : 'semaphore';
  }
  return kind === 'read' || kind === 'write' ? `rwlock ${kind}` : 'lock';
}

function queueCard(queue, kind, message) {
  const waiting = queue.contenders.filter((c, i) => !holdsOf(c, i)).length;
  const meta =
    kind === 'election'
      ? waiting === 0
        ? 'no other candidates'
        : `${plural(waiting, 'candidate')} waiting`
      : waiting === 0
        ? 'no waiters'
        : plural(waiting, 'waiter');
  return h(
    'article',
    { class: 'card queue', 'data-queue': queue.name, 'data-kind': kind },
    h(
      'header',
      {},
      h('span', { class: 'kind' }, kind === 'election' ? kind : lockLabel(queue)),
      h('h3', {}, queue.name),
      h('span', { class: 'meta', 'data-waiters': waiting }, meta),
    ),
    h(
      'ol',
      { class: 'rows' },
      queue.contenders.map((c, i) => contenderRow(c, i, kind, message)),
    ),
  );
}

// ---- partition groups ----

/** [0, 1, 2, 3, 9] -> '0-3, 9'; [] -> 'none'. */
function ranges(ps) {
  const out = [];
  for (let i = 0; i < ps.length; i++) {
    let j = i;
    while (j + 1 < ps.length && ps[j + 1] === ps[j] + 1) j++;
    out.push(j === i ? String(ps[i]) : `${ps[i]}-${ps[j]}`);
    i = j;
  }
  return out.length ? out.join(', ') : 'none';
}

function partitionCard(group) {
  const bits = [plural(group.members.length, 'member'), `${group.owners.length}/${group.partitions} owned`];
  if (group.unowned.length) bits.push(`unowned ${ranges(group.unowned)}`);
  return h(
    'article',
    { class: 'card partition', 'data-group': group.name },
    h(
      'header',
      {},
      h('span', { class: 'kind' }, 'partitions'),
      h('h3', {}, group.name),
      h('span', { class: 'meta' }, bits.join(' · ')),
    ),
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['member', 'owns', 'partitions', 'where'].map((t) => h('th', {}, t)),
        ),
      ),
      h(
        'tbody',
        {},
        group.members.map((m) =>
          h(
            'tr',
            { 'data-member': m.member, 'data-owns': m.owns.length, title: `lease ${m.leaseId}` },
            h('td', { class: 'mono' }, m.member),
            h('td', {}, String(m.owns.length)),
            h('td', { class: 'mono partitions' }, ranges(m.owns)),
            h('td', { class: 'mono' }, m.host ? (m.pid === undefined ? m.host : `${m.host} pid ${m.pid}`) : '-'),
          ),
        ),
      ),
    ),
  );
}

// ---- services ----

function metadataText(metadata) {
  const entries = Object.entries(metadata ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(', ') : '-';
}

function instanceRow(instance, down) {
  const mark = down ? 'down' : instance.status === 'draining' ? 'draining' : 'serving';
  return h(
    'tr',
    { class: mark, 'data-instance': instance.id, 'data-state': mark, title: instance.key },
    h('td', { class: 'mono' }, instance.id),
    h('td', { class: 'mono' }, `${instance.address}:${instance.port}`),
    h(
      'td',
      {},
      h('span', { class: `pill ${mark}` }, mark),
      down ? h('span', { class: 'ago', 'data-down-since': Date.parse(down.downSince) }) : null,
    ),
    h('td', {}, String(instance.weight)),
    h('td', { class: 'mono' }, metadataText(instance.metadata)),
  );
}

function serviceCard(name, instances, down) {
  const draining = instances.filter((i) => i.status === 'draining').length;
  const bits = [plural(instances.length, 'instance')];
  if (draining) bits.push(`${draining} draining`);
  if (down.length) bits.push(`${down.length} down`);
  return h(
    'article',
    { class: 'card service', 'data-service': name },
    h(
      'header',
      {},
      h('span', { class: 'kind' }, 'service'),
      h('h3', {}, name),
      h('span', { class: 'meta' }, bits.join(' · ')),
    ),
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['id', 'address', 'status', 'weight', 'metadata'].map((t) => h('th', {}, t)),
        ),
      ),
      h(
        'tbody',
        {},
        instances.map((i) => instanceRow(i)),
        down.map((d) => instanceRow(d.instance, d)),
      ),
    ),
  );
}

function renderSnapshot(message) {
  const { snapshot, scope } = message;
  const locks = [];
  const elections = [];
  for (const q of snapshot.queues) {
    if (q.contenders.length === 0) continue;
    const kind = kindOf(q);
    (kind === 'election' ? elections : locks).push(queueCard(q, kind, message));
  }
  const where = `${scope.namespace}${scope.prefix}` || 'the whole keyspace';
  replaceBody('queues', locks, `No locks or queues under ${where}.`);
  setCount('queues', locks.length ? plural(locks.length, 'queue') : '');
  replaceBody('elections', elections, `No elections under ${where}.`);
  setCount('elections', elections.length ? plural(elections.length, 'election') : '');

  const byService = new Map();
  for (const s of snapshot.services) byService.set(s.service, { instances: s.instances, down: [] });
  for (const d of message.down) {
    const entry = byService.get(d.instance.service) ?? { instances: [], down: [] };
    entry.down.push(d);
    byService.set(d.instance.service, entry);
  }
  const cards = [...byService]
    .filter(([, e]) => e.instances.length + e.down.length > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, e]) => serviceCard(name, e.instances, e.down));
  replaceBody('services', cards, `No services under ${where}.`);
  setCount('services', cards.length ? plural(cards.length, 'service') : '');

  const groups = (snapshot.partitions ?? []).map(partitionCard);
  replaceBody('partitions', groups, `No partition groups under ${where}.`);
  setCount('partitions', groups.length ? plural(groups.length, 'group') : '');

  document.getElementById('scope').textContent = where;
  document.getElementById('revision').textContent = `revision ${snapshot.revision}`;
  tick();
}

// ---- cluster ----

function renderHealth(health) {
  const names = new Map((health.members ?? []).map((m) => [m.id, m]));
  const leader = health.leaderId ? names.get(health.leaderId) : undefined;
  const summary = h(
    'div',
    { class: 'summary' },
    h(
      'span',
      {},
      h('span', { class: `pill ${health.healthy ? 'ok' : 'bad'}` }, health.healthy ? 'healthy' : 'unhealthy'),
    ),
    h('span', {}, 'leader ', h('b', {}, health.leaderId ? `${leader?.name || '?'} (${health.leaderId})` : 'none')),
    h(
      'span',
      {},
      'members ',
      h(
        'b',
        {},
        health.members
          ? health.members.map((m) => `${m.name || '(not started)'}${m.isLearner ? ' (learner)' : ''}`).join(', ') ||
              '-'
          : `unknown: ${health.memberError}`,
      ),
    ),
    h(
      'span',
      {},
      'alarms ',
      health.alarms.length ? h('b', { class: 'alarm' }, health.alarms.join(', ')) : h('b', {}, 'none'),
    ),
    h('span', { class: 'checked', 'data-checked': Date.parse(health.checkedAt) }),
  );
  const rows = health.endpoints.map((e) => {
    const member = e.memberId ? names.get(e.memberId) : undefined;
    return h(
      'tr',
      { 'data-endpoint': e.endpoint },
      h('td', { class: 'mono' }, e.endpoint),
      h('td', {}, h('span', { class: `pill ${e.reachable ? 'ok' : 'bad'}` }, e.reachable ? 'ok' : 'down')),
      h('td', {}, member ? member.name || '(not started)' : (e.memberId ?? '-')),
      h('td', {}, e.isLeader ? h('span', { class: 'pill leader' }, 'leader') : e.reachable ? 'follower' : '-'),
      h('td', {}, e.reachable ? `${e.latencyMs.toFixed(1)} ms` : '-'),
      h('td', {}, bytes(e.dbSize)),
      h('td', { class: 'mono' }, e.revision ?? '-'),
      h('td', {}, e.version ?? '-'),
      h('td', {}, e.alarms.length ? e.alarms.join(', ') : (e.error ?? '')),
    );
  });
  const table = h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['endpoint', 'health', 'member', 'role', 'latency', 'db size', 'revision', 'version', 'alarms / error'].map(
          (t) => h('th', {}, t),
        ),
      ),
    ),
    h('tbody', {}, rows),
  );
  replaceBody('cluster', [h('div', { class: 'card' }, summary, table)], '');
  setCount('cluster', plural(health.endpoints.length, 'endpoint'));
  tick();
}

// ---- status ----

function problem() {
  if (state.link) return state.link;
  if (!state.server.live) return state.server.reason ?? 'not live';
  return undefined;
}

function renderStatus() {
  const why = problem();
  const pill = document.getElementById('status');
  pill.dataset.live = String(!why);
  pill.textContent = why ? 'stale' : 'live';
  pill.title = why ?? 'following etcd';
  document.body.classList.toggle('is-stale', Boolean(why));
  tick();
}

function staleText(why) {
  const m = state.message;
  const age = m
    ? `Showing etcd as of ${duration(serverNow() - Date.parse(m.snapshot.takenAt))} ago (revision ${m.snapshot.revision}).`
    : 'No data yet.';
  return `Stale: ${why}. ${age}`;
}

// ---- the clock ----

function tick() {
  const now = serverNow();
  for (const card of document.querySelectorAll('[data-queue]')) {
    const bars = [...card.querySelectorAll('.bar[data-from]')];
    const spans = bars.map((b) => Math.max(0, now - Number(b.dataset.from)));
    const scale = Math.max(1000, ...spans);
    bars.forEach((b, i) => {
      b.querySelector('.fill').style.width = `${((spans[i] / scale) * 100).toFixed(1)}%`;
      b.querySelector('.label').textContent = `${b.dataset.verb} ${duration(spans[i])}`;
    });
  }
  for (const t of document.querySelectorAll('.ttl[data-expires]')) {
    const left = Number(t.dataset.expires) - now;
    const granted = Number(t.dataset.granted) * 1000;
    t.querySelector('.ttl-label').textContent = left > 0 ? `TTL ${Math.ceil(left / 1000)}s` : 'TTL expired?';
    t.classList.toggle('low', left < 3000 || (granted > 0 && left < granted * 0.3));
    if (granted > 0) {
      t.querySelector('.track span').style.width = `${Math.max(0, Math.min(100, (left / granted) * 100)).toFixed(1)}%`;
    }
  }
  for (const a of document.querySelectorAll('[data-down-since]')) {
    a.textContent = ` ${duration(now - Number(a.dataset.downSince))} ago`;
  }
  const checked = document.querySelector('[data-checked]');
  if (checked) checked.textContent = `checked ${duration(now - Number(checked.dataset.checked))} ago`;
  const why = problem();
  if (why) document.getElementById('stale').textContent = staleText(why);
}

// ---- the link to the server ----

function heard(data) {
  state.heardAt = Date.now();
  if (state.link) {
    state.link = undefined;
    renderStatus();
  }
  if (data?.serverTime) state.offsetMs = Date.parse(data.serverTime) - Date.now();
}

function listen() {
  const events = new EventSource('events');
  const on = (name, fn) =>
    events.addEventListener(name, (e) => {
      const data = JSON.parse(e.data);
      heard(data);
      fn(data);
    });
  on('status', (s) => {
    state.server = s;
    renderStatus();
  });
  on('health', (health) => {
    state.health = health;
    renderHealth(health);
  });
  on('snapshot', (message) => {
    state.message = message;
    renderSnapshot(message);
  });
  on('ping', () => undefined);
  events.addEventListener('error', () => {
    state.link =
      events.readyState === EventSource.CLOSED
        ? 'the dashboard server refused the event stream; retrying'
        : 'lost the connection to the dashboard server; reconnecting';
    renderStatus();
    if (events.readyState === EventSource.CLOSED) setTimeout(listen, 2000);
  });
}

setInterval(() => {
  if (!state.link && Date.now() - state.heardAt > SILENCE_MS) {
    state.link = `no word from the dashboard server for ${duration(Date.now() - state.heardAt)}`;
    renderStatus();
  }
  tick();
}, TICK_MS);

renderStatus();
listen();
