// heatwatch operator page: one ES module, no framework, no build step, nothing from the
// internet. It is a client of /api/v1 like any other: it asks for an API key once, keeps it
// in sessionStorage (gone when the tab closes) and sends it as a Bearer token.
//
// Views (hash routes, so the server only ever serves one page and links from notifications,
// `{external_url}/#/alerts/{id}`, work without server-side routing):
//   #/               fleet board: zones, station tiles by state (auto-refresh)
//   #/alerts         active alerts, ack with comment and assignee, un-ack
//   #/alerts/{id}    one alert and its event history
//   #/stations/{id}  station detail, chart of temperatures and pressures (last 6 h), and its
//                    weather curve in effect against its (outdoor, supply) readings (30 days)
//   #/zones/{zone}   cold flats of a zone

const KEY_STORAGE = 'heatwatch.apiKey';
const REFRESH_MS = 10_000;
const CHART_HOURS = 6;
const CHART_RESOLUTION = '2m'; // 180 buckets over 6 h: one per ~3 px on a phone
const CURVE_DAYS = 30;
// Relative to the page, so the page works under a reverse-proxy prefix (server.root_path).
const API_BASE = new URL('api/v1/', document.baseURI);

const STATUS_ORDER = { alerting: 0, offline: 1, online: 2 }; // problems first on the board
const CHARTS = [
  { title: 'Temperatures', unit: '°C', fields: [['supply_temp', 'supply'], ['return_temp', 'return']] },
  { title: 'Pressures', unit: 'bar', fields: [['supply_pressure', 'supply'], ['return_pressure', 'return']] },
];

const $view = document.getElementById('view');
const $nav = document.getElementById('nav');
const $banner = document.getElementById('banner');
const $alertCount = document.getElementById('alert-count');

// Zones the operator folded on the board; kept across refreshes so a refresh does not
// undo what they did.
const foldedZones = new Set();
let renderSeq = 0; // a slow answer for a view the operator already left must not be drawn

// ---------------------------------------------------------------- API client

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status; // 0: the API could not be reached at all
  }
}

/** The API's reason: a string for most errors, a list of {loc, msg} for 422. */
function detailText(body, fallback) {
  const detail = body && body.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).slice(1).join('.')}: ${d.msg}`).join('; ');
  }
  return fallback;
}

async function api(path, { method = 'GET', body } = {}) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (!key) throw new ApiError(401, 'enter an API key');
  const headers = { Authorization: `Bearer ${key}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(new URL(path, API_BASE), {
      method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `the API cannot be reached (${err.message})`);
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, detailText(data, `HTTP ${resp.status}`));
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const v of [].concat(value)) q.append(name, v);
  }
  return q.toString();
}

const enc = encodeURIComponent;

// ---------------------------------------------------------------- DOM helpers

/** Build an element. Text is always set as text, never as HTML: alert summaries, station
 *  names and comments come from the field and must not be able to inject markup. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  el.append(...kids(children));
  return el;
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(el, attrs);
  el.append(...kids(children));
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
}

function kids(children) {
  return children.flat(Infinity)
    .filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c)));
}

function fmtTime(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

function ago(iso) {
  if (!iso) return '—';
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** "5 min ago", with the exact local time on hover / long press. */
function when(iso) {
  return h('time', { datetime: iso, title: fmtTime(iso) }, ago(iso));
}

function num(value, digits = 1) {
  return typeof value === 'number' ? value.toFixed(digits) : '—';
}

function pill(status, text) {
  return h('span', { class: `pill ${status}` }, text);
}

// ---------------------------------------------------------------- routing and refresh

const ROUTES = [
  [/^#?\/?$/, 'board', () => boardView()],
  [/^#\/alerts\/?$/, 'alerts', () => alertsView()],
  [/^#\/alerts\/([^/]+)$/, 'alerts', (id) => alertView(id)],
  [/^#\/stations\/([^/]+)$/, 'board', (id) => stationView(id)],
  [/^#\/zones\/([^/]+)$/, 'board', (zone) => zoneView(zone)],
];

function match(hash) {
  for (const [pattern, section, view] of ROUTES) {
    const m = pattern.exec(hash);
    if (m) return { section, run: () => view(...m.slice(1).map(decodeURIComponent)) };
  }
  return { section: null, run: async () => h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Back to the board')) };
}

/** Draw the current route. `quiet` (auto-refresh) keeps the old content while loading and on
 *  error, so a hiccup of InfluxDB does not blank the board on the control-room screen. */
async function show({ quiet = false } = {}) {
  if (!sessionStorage.getItem(KEY_STORAGE)) {
    showLogin();
    return;
  }
  $nav.hidden = false;
  const seq = ++renderSeq;
  const route = match(location.hash);
  for (const a of $nav.querySelectorAll('a[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === route.section);
  }
  if (!quiet) $view.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    const content = await route.run();
    if (seq !== renderSeq) return;
    $view.replaceChildren(content);
    setBanner(null);
  } catch (err) {
    if (seq !== renderSeq) return;
    handleError(err, { quiet });
  }
  updateAlertCount();
}

/** After an ack or un-ack: re-read the view from the API (the page shows what the store
 *  holds, not what it sent), without blanking it first. */
function rerender() {
  show({ quiet: true });
}

/** One place decides what an error means for the operator. */
function handleError(err, { quiet = false } = {}) {
  if (!(err instanceof ApiError)) throw err; // a bug in this page: let the console show it
  if (err.status === 401) {
    sessionStorage.removeItem(KEY_STORAGE);
    showLogin(`The API refused the key: ${err.message}. Enter a valid key.`);
    return;
  }
  const text = err.status === 403
    ? `Not allowed: ${err.message}. Ask for a key with a higher role.`
    : err.status === 503 || err.status === 0
      ? `Data source unavailable: ${err.message}. Retrying every ${REFRESH_MS / 1000} s.`
      : `Error ${err.status}: ${err.message}`;
  if (quiet) setBanner(text);
  else $view.replaceChildren(h('p', { class: 'error', role: 'alert' }, text));
}

function setBanner(text) {
  $banner.hidden = !text;
  $banner.textContent = text || '';
}

/** An auto-refresh must not throw away what the operator is typing. */
function busy() {
  const active = document.activeElement;
  return Boolean($view.querySelector('form.ack')) ||
    (active && ['INPUT', 'TEXTAREA', 'SELECT'].includes(active.tagName));
}

function autoRefresh() {
  if (document.hidden || busy() || !sessionStorage.getItem(KEY_STORAGE)) return;
  show({ quiet: true });
}

async function updateAlertCount() {
  try {
    const page = await api(`alerts?${query({ state: 'firing', limit: 1 })}`);
    $alertCount.hidden = page.total === 0;
    $alertCount.textContent = String(page.total);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    $alertCount.hidden = true; // the view itself reports the error
  }
}

// ---------------------------------------------------------------- login

function showLogin(message) {
  $nav.hidden = true;
  $alertCount.hidden = true;
  setBanner(null);
  const error = h('p', { class: 'error', role: 'alert', id: 'login-error' }, message || '');
  const input = h('input', {
    id: 'key', name: 'key', type: 'password', required: true, autocomplete: 'current-password',
    spellcheck: 'false',
  });
  const submit = h('button', { type: 'submit' }, 'Log in');
  const form = h('form', { id: 'login-form', class: 'card login', onsubmit: (e) => login(e, input, submit, error) },
    h('h1', {}, 'heatwatch operator'),
    h('label', { for: 'key' }, 'API key'),
    input,
    h('p', { class: 'muted' }, 'Kept in this tab only; closing the tab forgets it.'),
    error,
    h('div', { class: 'actions' }, submit));
  $view.replaceChildren(form);
  input.focus();
}

async function login(event, input, submit, error) {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, input.value.trim());
  submit.disabled = true;
  try {
    await api('zones'); // the cheapest authenticated read: checks the key before any view
  } catch (err) {
    submit.disabled = false;
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 401) {
      sessionStorage.removeItem(KEY_STORAGE);
      error.textContent = `The API refused the key: ${err.message}.`;
      return;
    }
    // Any other failure (503, ...) is not about the key: keep it, the view will say more.
  }
  show();
}

function logout() {
  sessionStorage.removeItem(KEY_STORAGE);
  showLogin('Logged out.');
}

// ---------------------------------------------------------------- fleet board

async function boardView() {
  document.title = 'Fleet · heatwatch';
  const list = await api('stations');
  const byZone = new Map();
  for (const st of list.items) {
    if (!byZone.has(st.zone)) byZone.set(st.zone, []);
    byZone.get(st.zone).push(st);
  }
  const zones = [...byZone.keys()].sort();
  const risk = await morningRisk();
  return h('section', { id: 'board' },
    h('h1', {}, 'Fleet'),
    statusTotals(list.items),
    h('p', { class: 'muted' }, `${list.total} stations · as of `, when(list.as_of)),
    zones.map((zone) => zoneSection(zone, byZone.get(zone), risk.get(zone))));
}

/** Tomorrow morning's risk per zone: the share of its flats the forecast cycle predicts
 *  under the standard at the next 07:00 (GET /forecast; empty when nothing is predicted). */
async function morningRisk() {
  const out = new Map();
  try {
    const f = await api('forecast');
    for (const z of f.zones) out.set(z.zone, z);
  } catch (err) {
    // no forecast is no reason to hide the board
  }
  return out;
}

/** [label, share]: at 07:00 when the horizon reaches it (from the evening on), else the
 *  largest share predicted within the horizon. */
function riskOf(z) {
  if (!z || !z.points.length) return null;
  if (z.morning_share_below !== null) return ['07:00', z.morning_share_below];
  return ['next 12 h', Math.max(...z.points.map((p) => p.share_below))];
}

function riskBadge(z) {
  const r = riskOf(z);
  if (!r) return null;
  const pct = Math.round(r[1] * 100);
  return h('span', {
    class: `risk ${pct >= 10 ? 'alerting' : 'online'}`, 'data-risk': String(pct),
    title: 'share of the zone\'s flats predicted under the standard (forecast cycle)',
  }, `${r[0]}: ${pct} % cold`);
}

function countByStatus(stations) {
  const counts = { alerting: 0, offline: 0, online: 0 };
  for (const st of stations) counts[st.status] = (counts[st.status] || 0) + 1;
  return counts;
}

/** Counts by state. Zone headers leave out zeros, so the states that need someone stand
 *  out; the fleet total shows all three. */
function statusTotals(stations, { zeros = true } = {}) {
  const c = countByStatus(stations);
  return h('div', { class: 'totals' },
    ['alerting', 'offline', 'online']
      .filter((status) => zeros || c[status] > 0)
      .map((status) => pill(status, `${c[status]} ${status}`)));
}

function zoneSection(zone, stations, risk) {
  const sorted = [...stations].sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status]);
  const details = h('details', { class: 'zone card', open: !foldedZones.has(zone), 'data-zone': zone },
    h('summary', {},
      h('span', {}, zone),
      statusTotals(stations, { zeros: false }),
      riskBadge(risk),
      h('a', { class: 'zone-link', href: `#/zones/${enc(zone)}` }, 'cold flats →')),
    h('div', { class: 'tiles' }, sorted.map(stationTile)));
  details.addEventListener('toggle', () => {
    if (details.open) foldedZones.delete(zone);
    else foldedZones.add(zone);
  });
  return details;
}

function stationTile(st) {
  const alerts = st.active_alerts ? ` · ${st.active_alerts} alert${st.active_alerts > 1 ? 's' : ''}` : '';
  const attrs = {
    class: `tile ${st.status}`, href: `#/stations/${enc(st.id)}`,
    'data-station': st.id, 'data-status': st.status,
  };
  return h('a', attrs,
    h('strong', {}, st.id),
    h('span', {}, st.name),
    h('span', {}, `${st.status}${alerts}`));
}

// ---------------------------------------------------------------- alerts

async function alertsView() {
  document.title = 'Alerts · heatwatch';
  const page = await api(`alerts?${query({ state: ['firing', 'pending'], limit: 500 })}`);
  return h('section', { id: 'alerts' },
    h('h1', {}, `Active alerts (${page.total})`),
    page.items.length
      ? page.items.map((a) => alertCard(a, { onChange: rerender }))
      : h('p', { class: 'card muted' }, 'No active alerts.'),
    page.total > page.items.length ? h('p', { class: 'muted' }, `Showing the newest ${page.items.length}.`) : null);
}

async function alertView(id) {
  document.title = 'Alert · heatwatch';
  const { alert, events } = await api(`alerts/${enc(id)}/history`);
  return h('section', { id: 'alert-detail' },
    h('p', {}, h('a', { href: '#/alerts' }, '← active alerts')),
    h('h1', {}, `${alert.rule} on ${alert.subject}`),
    alertCard(alert, { link: false, onChange: rerender }),
    h('h2', {}, 'History'),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Time', 'Event', 'State', 'Severity', 'Value', 'Note'].map((t) => h('th', {}, t)))),
      h('tbody', {}, events.map(eventRow)))));
}

function eventRow(e) {
  const notes = [];
  if (e.muted) notes.push('muted (maintenance)');
  if (e.inhibited) notes.push('inhibited');
  if (e.kind === 'acknowledged') {
    notes.push(`by ${e.acked_by}: ${e.ack_comment}${e.assignee ? ` → ${e.assignee}` : ''}`);
  }
  return h('tr', { 'data-event': e.kind },
    h('td', {}, fmtTime(e.at)), h('td', {}, e.kind), h('td', {}, e.state), h('td', {}, e.severity),
    h('td', { class: 'num' }, num(e.value, 2)), h('td', {}, notes.join('; ')));
}

function alertCard(a, { link = true, onChange }) {
  const acked = Boolean(a.acked_at);
  const subject = a.station
    ? h('a', { href: `#/stations/${enc(a.station)}` }, `station ${a.station}`)
    : a.zone ? h('a', { href: `#/zones/${enc(a.zone)}` }, `zone ${a.zone}`) : a.subject;
  const title = `${a.rule}${a.family ? ` (${a.family})` : ''}`;
  const attrs = {
    class: `card alert ${a.severity}`, 'data-alert': a.id, 'data-state': a.state,
    'data-acked': String(acked),
  };
  const card = h('article', attrs,
    h('header', {},
      h('span', { class: `sev ${a.severity}` }, a.severity),
      h('span', { class: 'state' }, a.state),
      link ? h('a', { href: `#/alerts/${enc(a.id)}` }, title) : h('strong', {}, title)),
    h('p', { class: 'muted' }, subject, a.zone && a.station ? ` · zone ${a.zone}` : '',
      ' · since ', when(a.fired_at || a.active_at),
      a.resolved_at ? [' · resolved ', when(a.resolved_at)] : ''),
    h('p', { class: 'summary' }, a.summary));
  if (acked) {
    card.append(h('p', { class: 'acked' },
      `Acknowledged by ${a.acked_by} `, when(a.acked_at), `: ${a.ack_comment}`,
      a.assignee ? ` · assignee: ${a.assignee}` : ''));
  }
  if (a.state !== 'resolved') card.append(ackControls(a, acked, card, onChange));
  return card;
}

function ackControls(a, acked, card, onChange) {
  const error = h('p', { class: 'error', role: 'alert' });
  const actions = h('div', { class: 'actions' });
  const button = (action, text, onclick, cls = null) =>
    h('button', { type: 'button', class: cls, 'data-action': action, onclick }, text);
  const openForm = () => openAckForm(a, card, actions, onChange);
  if (acked) {
    actions.append(
      button('edit-ack', 'Edit ack', openForm),
      button('unack', 'Un-acknowledge', (e) => unack(a, e.currentTarget, error, onChange), 'secondary'));
  } else {
    actions.append(button('ack', 'Acknowledge', openForm));
  }
  return h('div', {}, actions, error);
}

function openAckForm(a, card, actions, onChange) {
  actions.hidden = true;
  const comment = h('textarea', { name: 'comment', required: true, maxlength: 2000, id: `comment-${a.id}` });
  comment.value = a.ack_comment || '';
  const assignee = h('input', { name: 'assignee', maxlength: 64, id: `assignee-${a.id}`, autocomplete: 'off' });
  assignee.value = a.assignee || '';
  const error = h('p', { class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit', 'data-action': 'submit-ack' }, 'Acknowledge');
  const form = h('form', { class: 'ack' },
    h('label', { for: comment.id }, 'Comment (what is being done)'), comment,
    h('label', { for: assignee.id }, 'Assignee (optional)'), assignee,
    error,
    h('div', { class: 'actions' }, submit,
      h('button', { type: 'button', class: 'secondary', onclick: cancel }, 'Cancel')));
  function cancel() {
    form.remove();
    actions.hidden = false;
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const body = { comment: comment.value.trim() };
    if (assignee.value.trim()) body.assignee = assignee.value.trim();
    try {
      await api(`alerts/${enc(a.id)}/ack`, { method: 'POST', body });
      form.remove(); // an open form pauses auto-refresh; this one is done
      onChange();
    } catch (err) {
      submit.disabled = false;
      reportActionError(err, error);
    }
  });
  card.append(form);
  comment.focus();
}

async function unack(a, button, error, onChange) {
  button.disabled = true;
  try {
    await api(`alerts/${enc(a.id)}/ack`, { method: 'DELETE' });
    onChange();
  } catch (err) {
    button.disabled = false;
    reportActionError(err, error);
  }
}

/** Errors of a button press are shown next to it (a viewer key gets a 403 there), except a
 *  refused key, which sends the operator back to the login form. */
function reportActionError(err, target) {
  if (!(err instanceof ApiError)) throw err;
  if (err.status === 401) {
    handleError(err);
    return;
  }
  target.textContent = err.status === 403 ? `Not allowed: ${err.message}` : err.message;
}

// ---------------------------------------------------------------- station detail

async function stationView(id) {
  document.title = `${id} · heatwatch`;
  // The station comes from the fleet snapshot (up to cache.fleet_ttl_s old); its alerts are
  // read from the store directly, so an ack made here shows at once.
  const [st, open] = await Promise.all([
    api(`stations/${enc(id)}`),
    api(`alerts?${query({ station: id, state: ['firing', 'pending'], limit: 100 })}`),
  ]);
  const start = new Date(Date.now() - CHART_HOURS * 3600e3);
  // Charts fail alone: the station's summary is still worth seeing when a history query fails.
  const charts = await Promise.all(CHARTS.map((spec) => chartCard(id, spec, start)));
  const curve = await curveCard(id);
  const flats = await flatsCard(id);
  return h('section', { id: 'station' },
    h('p', {}, h('a', { href: '#/' }, '← board')),
    h('h1', {}, `${st.name} `, h('span', { class: 'muted' }, st.id), ' ', pill(st.status, st.status)),
    h('div', { class: 'card' }, h('dl', { class: 'facts' },
      h('dt', {}, 'Zone'), h('dd', {}, h('a', { href: `#/zones/${enc(st.zone)}` }, st.zone)),
      h('dt', {}, 'Last reading'), h('dd', {}, st.last_seen ? when(st.last_seen) : 'never'),
      h('dt', {}, 'Open alerts'), h('dd', {}, String(open.total)),
      st.design_supply_temp === null ? null : [
        h('dt', {}, 'Design supply / return'),
        h('dd', {}, `${num(st.design_supply_temp)} / ${num(st.design_return_temp)} °C`)],
      h('dt', {}, 'Flats (meters)'), h('dd', {}, String(st.meters.length)))),
    open.items.length ? [h('h2', {}, 'Open alerts'), open.items.map((a) => alertCard(a, { onChange: rerender }))] : null,
    flats,
    h('div', { class: 'two-col' }, charts),
    curve,
    h('h2', {}, 'Latest values'),
    lastValues(st.last));
}

async function chartCard(id, spec, start) {
  const results = await Promise.allSettled(spec.fields.map(([field]) => api(
    `stations/${enc(id)}/history?${query({ field, start: start.toISOString(), resolution: CHART_RESOLUTION })}`)));
  const failed = results.find((r) => r.status === 'rejected');
  let body;
  if (failed) {
    if (!(failed.reason instanceof ApiError) || failed.reason.status === 401) throw failed.reason;
    body = h('p', { class: 'error' }, `No chart: ${failed.reason.message}`);
  } else {
    const series = results.map((r, i) => ({ label: spec.fields[i][1], ...r.value }));
    body = [lineChart(series, { unit: spec.unit, start, end: new Date() }), legend(series, spec.unit)];
  }
  return h('div', { class: 'card', 'data-chart': spec.title },
    h('h2', {}, `${spec.title}, last ${CHART_HOURS} h`), body);
}

// ---------------------------------------------------------------- flats today (comfort)

const BAND_TEXT = { warm: 'warm', no_data: 'no data', half: 'under the standard', full: 'under the critical line' };

/** The station's flats as a grid, top floor first, each flat at its position on its floor,
 *  coloured by today's comfort so far (GET /comfort/today), so a crew sees which doors to
 *  knock on. Fails alone, like the charts. */
async function flatsCard(id) {
  let body;
  try {
    const t = await api(`comfort/today?${query({ station: id })}`);
    if (!t.flats.length) return null;
    const floors = new Map();
    for (const f of t.flats) {
      const key = f.floor === null ? '?' : String(f.floor);
      if (!floors.has(key)) floors.set(key, []);
      floors.get(key).push(f);
    }
    const order = [...floors.keys()].sort((a, b) => (b === '?' ? -1 : a === '?' ? 1 : Number(b) - Number(a)));
    const width = Math.max(...t.flats.map((f) => f.position));
    body = [
      h('div', { class: 'flat-grid' },
        order.map((floor) => h('div', { class: 'flat-row', 'data-floor': floor },
          h('span', { class: 'floor muted' }, floor === '?' ? 'floor ?' : `floor ${floor}`),
          Array.from({ length: width }, (_, i) => {
            const f = floors.get(floor).find((x) => x.position === i + 1);
            if (!f) return h('span', { class: 'flat empty' });
            const temp = f.latest_c === null ? '—' : `${num(f.latest_c)} °C`;
            const tip = `${f.meter}: ${BAND_TEXT[f.band] || f.band}; ${num(f.hours_below)} h under ` +
              `${num(t.standard_c)} °C today; mean ${f.mean_c === null ? '—' : num(f.mean_c)} °C` +
              `${f.top_floor ? '; top floor' : ''}${f.gable_end ? '; gable end' : ''}`;
            return h('span', { class: `flat ${f.band}`, title: tip, 'data-meter': f.meter, 'data-band': f.band },
              h('b', {}, f.meter), h('span', {}, temp));
          })))),
      h('p', { class: 'legend' },
        ['warm', 'half', 'full', 'no_data'].map((b) => h('span', {}, h('i', { class: `flat-key ${b}` }), BAND_TEXT[b]))),
      h('p', { class: 'muted' }, `${t.day} (${t.timezone}), midnight to now; the day's mean decides the band`),
    ];
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401) throw err;
    body = h('p', { class: 'error' }, `No flats: ${err.message}`);
  }
  return h('div', { class: 'card', id: 'flats' }, h('h2', {}, 'Flats today'), body);
}

// ---------------------------------------------------------------- weather curve vs readings

/** The curve supply_below_curve uses for the station, drawn through its own readings, so an
 *  engineer can judge a calibrated curve (`heatwatch rules calibrate`) at a glance. Fails
 *  alone, like the charts. */
async function curveCard(id) {
  const start = new Date(Date.now() - CURVE_DAYS * 86400e3);
  let body;
  try {
    const c = await api(`stations/${enc(id)}/curve?${query({ start: start.toISOString() })}`);
    const source = { supply_setpoint: 'the controller setpoint (newest readings carry it)',
      calibrated_curve: 'the calibrated curve', curve: 'the default curve' }[c.reference];
    body = [
      curveChart(c),
      h('p', { class: 'legend' },
        h('span', {}, h('i', { class: 's0' }), `readings (${c.samples.length}, ${Math.round(c.bucket_s / 60)} min means)`),
        h('span', {}, h('i', { class: 's1' }), c.calibrated ? 'calibrated curve' : 'default curve'),
        c.calibrated ? h('span', {}, h('i', { class: 's2' }), 'default curve') : null),
      h('p', { class: 'muted' }, `supply_below_curve compares with ${source}`,
        c.off_windows.length ? `; off ${c.off_windows.map((w) => `${w.start.slice(0, 5)}-${w.end.slice(0, 5)}`).join(', ')}` : '',
        c.setback ? `; setback ${c.setback.k} K ${c.setback.start.slice(0, 5)}-${c.setback.end.slice(0, 5)}` : '',
        ` (${c.timezone})`),
    ];
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401) throw err;
    body = h('p', { class: 'error' }, `No curve: ${err.message}`);
  }
  return h('div', { class: 'card', 'data-chart': 'curve' },
    h('h2', {}, `Weather curve and readings, last ${CURVE_DAYS} days`), body);
}

function curveChart(c) {
  const W = Math.round(Math.min(640, Math.max(280, document.documentElement.clientWidth - 56)));
  const H = 260, L = 46, R = 10, T = 10, B = 30;
  const xs = c.samples.map((p) => p.outdoor_c).concat(c.curve.map((p) => p.outdoor_c));
  const ys = c.samples.map((p) => p.supply_c).concat(c.curve.map((p) => p.supply_c));
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (x1 - x0 < 2) { x0 -= 1; x1 += 1; }
  if (y1 - y0 < 2) { y0 -= 1; y1 += 1; }
  const x = (v) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const y = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  // The curve is clamped outside its points, as the rule computes it.
  const line = (pts) => [[x0, pts[0].supply_c], ...pts.map((p) => [p.outdoor_c, p.supply_c]),
    [x1, pts[pts.length - 1].supply_c]]
    .map(([a, b]) => `${x(Math.min(Math.max(a, x0), x1)).toFixed(1)},${y(b).toFixed(1)}`).join(' ');
  const grid = [];
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4;
    const u = x0 + ((x1 - x0) * i) / 4;
    grid.push(svg('line', { class: 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      svg('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end' }, v.toFixed(0)),
      svg('text', { x: x(u), y: H - 14, 'text-anchor': 'middle' }, u.toFixed(0)));
  }
  grid.push(svg('text', { x: W - R, y: H - 2, 'text-anchor': 'end' }, 'outdoor °C → supply °C'));
  const dots = c.samples.map((p) => svg('circle', { class: 'dot', cx: x(p.outdoor_c).toFixed(1), cy: y(p.supply_c).toFixed(1), r: 1.6 }));
  return svg('svg', {
    class: 'chart curve', viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-points': c.samples.length,
    'aria-label': `supply against outdoor temperature with the ${c.calibrated ? 'calibrated' : 'default'} curve`,
  }, grid, dots,
  c.calibrated ? svg('polyline', { class: 's2 default-curve', points: line(c.default_curve) }) : null,
  svg('polyline', { class: 's1 curve-line', 'data-curve': c.calibrated ? 'calibrated' : 'default', points: line(c.curve) }));
}

function lastValues(last) {
  const rows = Object.entries(last).sort(([a], [b]) => a.localeCompare(b));
  return h('div', { class: 'table-wrap' }, h('table', {}, h('tbody', {},
    rows.map(([name, value]) => h('tr', {}, h('td', {}, name),
      h('td', { class: 'num' }, typeof value === 'number' ? value.toFixed(2) : String(value)))))));
}

// ---------------------------------------------------------------- chart (inline SVG)

/** A small line chart. The x axis is the requested window, not the data's extent, so a
 *  station that went quiet shows as a line that stops, and a gap of more than three buckets
 *  breaks the line instead of drawing a straight segment across an outage. */
function lineChart(series, { unit, start, end }) {
  // Drawn in CSS pixels of the space it gets (the SVG scales to its card), so labels keep
  // their size on a phone instead of shrinking with a fixed 640-wide drawing.
  const W = Math.round(Math.min(640, Math.max(280, document.documentElement.clientWidth - 56)));
  const H = 220, L = 46, R = 10, T = 10, B = 24;
  const values = series.flatMap((s) => s.points.map((p) => p.value)).filter((v) => typeof v === 'number');
  if (!values.length) return h('p', { class: 'muted' }, `No readings in the last ${CHART_HOURS} hours.`);
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = hi > lo ? (hi - lo) * 0.08 : 1; // a flat line still gets a visible band
  lo -= pad; hi += pad;
  const t0 = start.getTime(), t1 = end.getTime();
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);

  const grid = [];
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    grid.push(svg('line', { class: 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      svg('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end' }, v.toFixed(1)));
  }
  for (let i = 0; i <= 3; i++) {
    const t = t0 + ((t1 - t0) * i) / 3;
    const label = new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    grid.push(svg('text', { x: x(t), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === 3 ? 'end' : 'middle' }, label));
  }
  const lines = series.map((s, i) => segments(s.points, s.resolution_s * 3).map((seg) => svg('polyline', {
    class: `s${i}`, 'data-series': s.field,
    points: seg.map((p) => `${x(Date.parse(p.t)).toFixed(1)},${y(p.value).toFixed(1)}`).join(' '),
  })));
  return svg('svg', {
    class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-points': values.length,
    'aria-label': `${series.map((s) => s.label).join(' and ')} in ${unit}, last ${CHART_HOURS} hours`,
  }, grid, lines);
}

/** Split points where consecutive buckets are further apart than `maxGapS` seconds. */
function segments(points, maxGapS) {
  const out = [];
  let current = [];
  let prev = null;
  for (const p of points) {
    if (typeof p.value !== 'number') continue;
    const t = Date.parse(p.t);
    if (prev !== null && t - prev > maxGapS * 1000) {
      out.push(current);
      current = [];
    }
    current.push(p);
    prev = t;
  }
  if (current.length) out.push(current);
  // A lone point would be an invisible polyline: draw it as a tiny horizontal stroke.
  return out.map((seg) => (seg.length === 1 ? [seg[0], shifted(seg[0], 60)] : seg));
}

function shifted(point, seconds) {
  return { ...point, t: new Date(Date.parse(point.t) + seconds * 1000).toISOString() };
}

function legend(series, unit) {
  return h('p', { class: 'legend' }, series.map((s, i) => {
    const latest = s.points.length ? s.points[s.points.length - 1].value : null;
    return h('span', {}, h('i', { class: `s${i}` }), `${s.label}: ${num(latest)} ${unit}`);
  }));
}

// ---------------------------------------------------------------- zone: cold flats

async function zoneView(zone) {
  document.title = `${zone} · heatwatch`;
  const d = await api(`zones/${enc(zone)}?${query({ coldest: 20 })}`);
  const share = d.share_below === null ? '—' : `${(d.share_below * 100).toFixed(1)} %`;
  const r = riskOf((await morningRisk()).get(zone));
  const morning = r
    ? stat(`predicted cold, ${r[0]}`, `${(r[1] * 100).toFixed(0)} %`,
      'forecast cycle (cold_predicted)')
    : null;
  return h('section', { id: 'zone', 'data-zone': zone },
    h('p', {}, h('a', { href: '#/' }, '← board')),
    h('h1', {}, `Zone ${zone}: cold flats`),
    h('div', { class: 'stats' },
      stat(`below ${num(d.below_c)} °C`, share, `${d.below} of ${d.flats_reporting} flats`),
      stat('coldest', `${num(d.min)} °C`),
      stat('median', `${num(d.median)} °C`),
      stat('warmest', `${num(d.max)} °C`),
      morning),
    h('h2', {}, 'Coldest flats'),
    d.coldest.length ? coldestTable(d.coldest, d.below_c) : h('p', { class: 'muted' }, 'No flat has reported.'));
}

function stat(label, value, note) {
  return h('div', { class: 'stat' }, h('b', {}, value), label, note ? h('div', { class: 'muted' }, note) : null);
}

function coldestTable(flats, belowC) {
  const head = ['Flat', 'Station', '°C', 'Floor', 'Position', 'Reported'];
  return h('div', { class: 'table-wrap' }, h('table', { id: 'coldest' },
    h('thead', {}, h('tr', {}, head.map((t, i) => h('th', { class: i === 2 ? 'num' : null }, t)))),
    h('tbody', {}, flats.map((f) => h('tr', { class: f.indoor_temp < belowC ? 'cold' : null },
      h('td', {}, f.meter),
      h('td', {}, h('a', { href: `#/stations/${enc(f.station)}` }, f.station)),
      h('td', { class: f.indoor_temp < belowC ? 'num error' : 'num' }, num(f.indoor_temp)),
      h('td', {}, f.floor === null ? '—' : String(f.floor)),
      h('td', {}, [f.top_floor && 'top floor', f.gable_end && 'gable end'].filter(Boolean).join(', ') || '—'),
      h('td', {}, when(f.last_seen)))))));
}

// ---------------------------------------------------------------- start

document.getElementById('logout').addEventListener('click', logout);
window.addEventListener('hashchange', () => show());
setInterval(autoRefresh, REFRESH_MS);
show();
