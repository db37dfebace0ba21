// ferrolb status page: polls the REST API (the same token as ferroctl) and redraws each section in
// place. Plain browser JavaScript, no dependencies: the daemon serves everything itself. Every value
// from the API goes into the page as text (never as HTML).
'use strict';

const POLL_MS = 2000;
/** Services drawn at once; the filter finds the others (a 10,000-service node stays light). */
const MAX_SERVICES = 200;
const TOKEN_KEY = 'ferrolb-token';

const $ = (id) => document.getElementById(id);
let previous = new Map(); // service -> {packets, bytes, at}
let timer;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const badge = (state, text) => el('span', { class: 'badge', 'data-state': state }, text ?? state);

function human(n, unit) {
  if (n === undefined || n === null) return '–';
  const k = unit === 'B' ? 1024 : 1000;
  const units = unit === 'B' ? ['B', 'KiB', 'MiB', 'GiB', 'TiB'] : ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= k && i < units.length - 1) {
    v /= k;
    i++;
  }
  const s = i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 1 : 0);
  return unit === 'B' ? `${s} ${units[i]}` : `${s}${units[i]}${unit ? ` ${unit}` : ''}`;
}

async function get(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const r = await fetch(`/api/v1/${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    cache: 'no-store',
  });
  if (r.status === 401) throw Object.assign(new Error('unauthorized'), { status: 401 });
  if (r.status === 404) return undefined; // a subsystem this node does not have
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

function table(headers, rows) {
  return el(
    'table',
    {},
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        headers.map((h) => el('th', {}, h)),
      ),
    ),
    el(
      'tbody',
      {},
      rows.map((cells) =>
        el(
          'tr',
          cells.attrs || {},
          cells.map((c, i) => {
            const num = typeof c === 'object' && c !== null && c.num;
            const content = num ? c.text : c;
            return el('td', { 'data-label': headers[i], class: num ? 'num' : undefined }, content);
          }),
        ),
      ),
    ),
  );
}
const num = (text) => ({ num: true, text });

function replace(id, node) {
  const box = $(id);
  box.replaceChildren(node);
}

function renderSummary(lbs, bgp, sctp, cluster) {
  // One per service and address (the API lists an endpoint once per service port).
  const eps = lbs.flatMap((s) => [...new Map(s.endpoints.map((e) => [e.address, e])).values()]);
  const down = eps.filter((e) => e.state === 'inactive').length;
  const pending = lbs.filter((s) => s.status.phase !== 'Allocated').length;
  const sessions = bgp?.sessions ?? [];
  const cards = [
    [
      'services',
      lbs.length,
      pending ? `${pending} pending` : 'all allocated',
      pending ? 'Pending' : 'Allocated',
    ],
    ['endpoints', eps.length, down ? `${down} inactive` : 'all active', down ? 'inactive' : 'active'],
  ];
  if (sessions.length) {
    const up = sessions.filter((s) => s.state === 'Established').length;
    cards.push([
      'BGP sessions',
      `${up}/${sessions.length}`,
      up === sessions.length ? 'established' : 'not all up',
      up === sessions.length ? 'Established' : 'down',
    ]);
  }
  if (sctp?.associations?.length)
    cards.push(['SCTP associations', sctp.associations.length, 'multihomed', 'established']);
  if (cluster?.configured && cluster.members?.length) {
    const up = cluster.members.filter(alive).length;
    const q = cluster.quorum?.have !== false;
    cards.push([
      'cluster members',
      `${up}/${cluster.members.length}`,
      q ? 'quorum' : 'no quorum',
      q ? 'up' : 'down',
    ]);
  }
  replace(
    'summary',
    el(
      'div',
      { class: 'cards' },
      cards.map(([title, n, sub, state]) =>
        el(
          'div',
          { class: 'card', 'data-card': title },
          el('div', { class: 'muted' }, title),
          el('div', { class: 'n' }, n),
          badge(state, sub),
        ),
      ),
    ),
  );
}

function renderServices(lbs, at) {
  const q = $('filter').value.trim().toLowerCase();
  const shown = lbs.filter(
    (s) => !q || s.name.toLowerCase().includes(q) || s.addresses.some((a) => a.includes(q)),
  );
  const more = $('services-more');
  more.hidden = shown.length <= MAX_SERVICES;
  more.textContent = `${shown.length} services match; the first ${MAX_SERVICES} are shown — narrow the filter.`;
  const next = new Map();
  const rows = shown.slice(0, MAX_SERVICES).map((s) => {
    const c = s.counters;
    let rate = '–';
    if (c) {
      next.set(s.name, { ...c, at });
      const p = previous.get(s.name);
      if (p && at > p.at && c.packets >= p.packets)
        rate = `${human(((c.packets - p.packets) * 1000) / (at - p.at), 'pkt/s')}`;
    }
    const endpoints = el(
      'div',
      { class: 'eps' },
      // One line per endpoint (its ports folded): state and traffic.
      [...new Map(s.endpoints.map((e) => [e.address, e])).values()].map((e) =>
        el(
          'div',
          { class: 'ep', 'data-endpoint': e.address },
          badge(e.state),
          el('span', { class: 'addr' }, e.address),
          e.counters
            ? el(
                'span',
                { class: 'muted' },
                `${human(e.counters.packets, 'pkt')} · ${human(e.counters.bytes, 'B')}`,
              )
            : null,
        ),
      ),
    );
    const row = [
      el('strong', {}, s.name),
      el('span', { class: 'addr' }, [...s.addresses, ...s.secondaryAddresses].join(' ') || '–'),
      s.ports.map((p) => `${p.port}/${p.protocol}`).join(' '),
      s.dataplane
        ? badge('Failed', `kernel refused: ${s.dataplane.kind}`)
        : badge(s.status.phase, s.status.reason ? `${s.status.phase}: ${s.status.reason}` : s.status.phase),
      endpoints,
      num(c ? `${human(c.packets, 'pkt')} · ${human(c.bytes, 'B')}` : '–'),
      num(rate),
    ];
    row.attrs = { 'data-service': s.name };
    return row;
  });
  previous = next;
  replace(
    'services',
    rows.length
      ? table(['name', 'addresses', 'ports', 'state', 'endpoints', 'traffic', 'rate'], rows)
      : el('p', { class: 'muted' }, 'No services.'),
  );
}

function renderBgp(bgp) {
  const sessions = bgp?.sessions ?? [];
  $('bgp-section').hidden = sessions.length === 0;
  if (!sessions.length) return;
  replace(
    'bgp',
    table(
      ['peer', 'address', 'AS', 'state', 'BFD', 'prefixes out/in', 'last error'],
      sessions.map((s) => {
        const row = [
          s.peer,
          el('span', { class: 'addr' }, s.peerAddress),
          s.peerAsn,
          badge(s.state),
          s.bfd ? badge(s.bfd === 'Up' ? 'up' : 'down', s.bfd) : '–',
          num(`${s.prefixesSent}/${s.prefixesReceived}`),
          s.lastError ?? '',
        ];
        row.attrs = { 'data-peer': s.peer };
        return row;
      }),
    ),
  );
}

function renderSctp(sctp) {
  const assocs = sctp?.associations ?? [];
  $('sctp-section').hidden = assocs.length === 0;
  if (!assocs.length) return;
  replace(
    'sctp',
    table(
      ['service', 'client', 'endpoint', 'state', 'paths'],
      assocs.map((a) => [
        a.service,
        el('span', { class: 'addr' }, `${a.clientAddresses.join(', ')} :${a.clientPort}`),
        el('span', { class: 'addr' }, `${a.endpoint.join(', ')} :${a.endpointPort}`),
        badge(a.state),
        el(
          'div',
          { class: 'eps' },
          a.paths.map((p) =>
            el(
              'div',
              { class: 'ep' },
              badge(p.state),
              el('span', { class: 'addr' }, `${p.side} ${p.peer} → ${p.vip}`),
              el('span', { class: 'muted' }, human(p.packets, 'pkt')),
            ),
          ),
        ),
      ]),
    ),
  );
}

/** A cluster member this node hears (itself included). */
const alive = (m) => m.state === 'self' || m.state === 'alive';

function renderCluster(cluster) {
  const members = cluster?.configured ? (cluster.members ?? []) : [];
  $('cluster-section').hidden = members.length === 0;
  if (members.length)
    replace(
      'cluster',
      table(
        ['node', 'address', 'state', 'last heartbeat'],
        members.map((m) => [
          m.name,
          el('span', { class: 'addr' }, m.address ?? ''),
          badge(alive(m) ? 'up' : 'down', m.state),
          m.state === 'self'
            ? '–'
            : m.lastHeartbeatAgoMs !== undefined
              ? `${Math.round(m.lastHeartbeatAgoMs)} ms ago`
              : 'never',
        ]),
      ),
    );
  // Layer 2 owners: the election's answer per address, with this node's announcer state where it owns one.
  const announced = new Map((cluster?.announcer ?? []).map((a) => [a.address, a]));
  const owners = cluster?.configured ? (cluster.owners ?? []) : [];
  $('l2-section').hidden = owners.length === 0;
  if (owners.length)
    replace(
      'l2',
      table(
        ['address', 'owner', 'candidates', 'interfaces', 'since', 'state'],
        owners.slice(0, 500).map((o) => {
          const a = announced.get(o.address);
          const row = [
            el('span', { class: 'addr' }, o.address),
            o.owner ?? '–',
            (o.nodes ?? []).join(', '),
            (a?.interfaces ?? []).join(', ') || '–',
            o.since ? new Date(o.since).toLocaleTimeString() : '–',
            a ? badge(a.state) : badge(o.owner ? 'standby' : 'down', o.owner ? 'elsewhere' : 'no owner'),
          ];
          row.attrs = { 'data-address': o.address };
          return row;
        }),
      ),
    );
}

async function poll() {
  clearTimeout(timer);
  try {
    const [lbs, bgp, sctp, cluster] = await Promise.all([
      get('loadbalancers'),
      get('bgp').catch(() => undefined),
      get('sctp').catch(() => undefined),
      get('cluster').catch(() => undefined),
    ]);
    const at = Date.now();
    $('login').hidden = true;
    $('main').hidden = false;
    const items = lbs?.items ?? [];
    renderSummary(items, bgp, sctp, cluster);
    renderServices(items, at);
    renderBgp(bgp);
    renderSctp(sctp);
    renderCluster(cluster);
    $('conn').dataset.state = 'active';
    $('conn').textContent = 'live';
    $('updated').textContent = `updated ${new Date(at).toLocaleTimeString()}`;
    document.body.dataset.generation = String(at);
  } catch (e) {
    if (e.status === 401) {
      $('login').hidden = false;
      $('main').hidden = true;
      $('conn').dataset.state = 'unknown';
      $('conn').textContent = 'token needed';
      return; // no polling until a token is given
    }
    $('conn').dataset.state = 'down';
    $('conn').textContent = `unreachable: ${e.message}`;
  }
  timer = setTimeout(poll, POLL_MS);
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value);
  void poll();
});
$('filter').addEventListener('input', () => void poll());
void poll();
