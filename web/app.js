// The prescient dashboard: fleet, an instance's forecast fan chart against its actual usage,
// recent actions with their reasons, and the market. Plain ES modules, no build step.
//
// Data: the REST API with `Authorization: Bearer <token>`; live updates from the server-sent
// events at /v1/events (EventSource cannot send headers: the control plane accepts the token as
// `?access_token=` on GET). On a dropped stream the browser retries by itself; when the stream
// is refused (server restarting, 503) the page reconnects with backoff, and each new stream
// ("hello" after a break) resynchronizes everything from the REST API.
import { FanChart } from './fan-chart.js';
import * as fmt from './format.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'prescient.token';
const INSTANCE_KEY = 'prescient.instance';
const MAX_ACTION_ROWS = 100;
const MAX_HOST_ROWS = 300;
const REFRESH_MIN_MS = 1000;
/** How often the market panel is re-read on tick events (CPU credits change without market events). */
const MARKET_REFRESH_MS = 5000;

const state = {
  token: null,
  status: null,
  tickMs: 1000,
  hosts: [],
  instances: [],
  selected: null,
  resource: 'cpu',
  /** instanceId -> Map(tick -> { cpu, memory }): the p90 the page saw predicted one step ahead. */
  past: new Map(),
  actions: [],
  es: null,
  everLive: false,
  broken: false,
  retryMs: 1000,
  retryTimer: null,
  lastTickAtMs: 0,
  totals: { actionsApplied: 0, overruns: 0 },
  creditsAvailable: true,
  marketReadAt: 0,
  eventsSeen: 0,
};

// ------------------------------------------------------------------------------------ helpers

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]);

class AuthError extends Error {}

async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${state.token}`, accept: 'application/json' }, cache: 'no-store' });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (res.status === 401) throw new AuthError(body?.error?.message ?? 'the token was refused');
  if (!res.ok) {
    const e = new Error(body?.error?.message ?? `${path}: HTTP ${res.status}`);
    e.status = res.status;
    throw e;
  }
  return body;
}

function showAlert(message) {
  const el = $('alert');
  if (!message) {
    el.hidden = true;
    el.textContent = '';
  } else {
    el.hidden = false;
    el.textContent = message;
  }
}

function fail(where, err) {
  if (err instanceof AuthError) {
    signOut(`The control plane refused the token: ${err.message}.`);
    return;
  }
  showAlert(`${where}: ${err?.message ?? err}`);
}

/**
 * Runs `fn` when asked, never twice at once; requests in between coalesce. Runs are at least
 * `minGapMs` apart, and at least 10x the last run's duration apart, so a large fleet whose
 * requests take long is asked less often (the page never keeps the control plane busy).
 */
function coalesced(fn, minGapMs) {
  let dirty = false;
  let running = false;
  let last = 0;
  let gap = minGapMs;
  let timer = null;
  const run = async () => {
    timer = null;
    if (running) return;
    const wait = last + gap - Date.now();
    if (wait > 0) {
      timer = setTimeout(run, wait);
      return;
    }
    dirty = false;
    running = true;
    last = Date.now();
    try {
      await fn();
    } finally {
      running = false;
      gap = Math.max(minGapMs, Math.min(30_000, 10 * (Date.now() - last)));
      if (dirty && !timer) timer = setTimeout(run, Math.max(0, last + gap - Date.now()));
    }
  };
  return () => {
    dirty = true;
    if (!timer && !running) void run();
  };
}

// ------------------------------------------------------------------------------------ token

function tokenFromHash() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return null;
  const t = decodeURIComponent(m[1]);
  // Keep the secret out of the address bar and the history.
  history.replaceState(null, '', location.pathname + location.search);
  return t;
}

function askToken(message) {
  const dlg = $('login');
  $('login-error').textContent = message ?? '';
  if (!dlg.open) dlg.showModal();
  $('token-input').focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  closeStream();
  setConn('error', 'signed out');
  $('signout').hidden = true;
  askToken(message);
}

async function signIn(token) {
  state.token = token;
  try {
    await api('/v1/status');
  } catch (err) {
    state.token = null;
    if (err instanceof AuthError) {
      sessionStorage.removeItem(TOKEN_KEY);
      askToken(`That token was refused: ${err.message}.`);
    } else askToken(`Could not reach the control plane: ${err.message}`);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('signout').hidden = false;
  if ($('login').open) $('login').close();
  await resync();
  openStream();
}

// ------------------------------------------------------------------------------------ live stream

function setConn(kind, text) {
  const el = $('conn');
  el.dataset.state = kind;
  $('conn-text').textContent = text;
}

function closeStream() {
  clearTimeout(state.retryTimer);
  state.retryTimer = null;
  state.es?.close();
  state.es = null;
}

function openStream() {
  closeStream();
  if (!state.token) return;
  const es = new EventSource(`/v1/events?access_token=${encodeURIComponent(state.token)}`);
  state.es = es;
  es.addEventListener('hello', () => {
    state.retryMs = 1000;
    setConn('live', 'live');
    showAlert(null);
    // A new stream after a break: what happened meanwhile comes from the REST API.
    if (state.broken) void resync();
    state.broken = false;
    state.everLive = true;
  });
  const on = (type, fn) =>
    es.addEventListener(type, (e) => {
      state.eventsSeen++;
      document.body.dataset.events = String(state.eventsSeen);
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      fn(data);
    });
  on('tick', (d) => {
    onTick(d);
    // Credits accrue with every tick but move no market event: re-read the market now and then.
    const now = performance.now();
    if (now - state.marketReadAt >= MARKET_REFRESH_MS) {
      state.marketReadAt = now;
      refreshMarket();
    }
  });
  on('actions', onActions);
  on('plan-failed', onPlanFailed);
  on('overrun', onOverrun);
  on('commit-failed', (d) => addNotice(`commit failed (will be retried): ${d.error?.message ?? d.error ?? ''}`));
  on('instance', () => refreshInstances());
  on('bid', () => refreshMarket());
  on('profile', () => refreshMarket());
  es.onerror = () => {
    state.broken = true;
    if (es.readyState === EventSource.CLOSED) {
      // Refused (not a dropped connection): the browser gives up, so the page retries itself.
      setConn('reconnecting', `reconnecting in ${Math.max(1, Math.round(state.retryMs / 1000))} s…`);
      const delay = state.retryMs;
      state.retryMs = Math.min(state.retryMs * 2, 15_000);
      state.retryTimer = setTimeout(async () => {
        try {
          // Up, and still accepting the token? (A revoked token signs the page out.)
          await api('/v1/status');
          openStream();
        } catch (err) {
          if (err instanceof AuthError) return fail('events', err);
          es.onerror?.();
        }
      }, delay);
    } else {
      setConn('reconnecting', 'connection lost, reconnecting…');
    }
  };
}

// Shows when ticks stop arriving although the stream is open.
setInterval(() => {
  if ($('conn').dataset.state !== 'live' || !state.lastTickAtMs) return;
  const quietMs = Date.now() - state.lastTickAtMs;
  if (quietMs > Math.max(5000, state.tickMs * 5)) $('conn-text').textContent = `live · no tick for ${Math.round(quietMs / 1000)} s`;
}, 1000);

function onTick(d) {
  state.lastTickAtMs = Date.now();
  if ($('conn').dataset.state === 'live') $('conn-text').textContent = 'live';
  if (d.applied) state.totals.actionsApplied += d.actions ?? 0;
  if (d.overrun) state.totals.overruns += 1;
  renderKpis({ tick: d.tick, durationMs: d.durationMs, hostsOn: d.hostsOn, hosts: d.hosts, instances: d.instances });
  refreshHosts();
  refreshForecast();
}

function onActions(d) {
  const rows = (d.actions ?? []).map((a) => actionRow(a, { atMs: d.atMs, tick: d.tick, result: d.result, fresh: true }));
  if (d.truncated) rows.push({ notice: `tick ${d.tick}: ${d.count - d.actions.length} more actions not shown (see /v1/audit)`, fresh: true });
  addRows(rows.reverse());
}

function onPlanFailed(d) {
  addRows([actionRow(d.action, { atMs: d.atMs, tick: d.tick, result: 'failed', error: d.error?.message ?? String(d.error ?? ''), fresh: true })]);
}

function onOverrun(d) {
  const el = $('kpi-overruns');
  el.title = `tick ${d.tick} took ${fmt.ms(d.durationMs)}, longer than the ${fmt.ms(d.tickMs)} interval`;
}

// ------------------------------------------------------------------------------------ loading

const refreshHosts = coalesced(async () => {
  try {
    const r = await api('/v1/hosts');
    state.hosts = r.hosts;
    renderHosts();
  } catch (err) {
    fail('hosts', err);
  }
}, REFRESH_MIN_MS);

const refreshForecast = coalesced(async () => {
  const id = state.selected;
  if (!id) return renderForecast(null, [], null);
  try {
    const horizon = state.status?.forecast?.horizonSteps ?? 12;
    const [f, m] = await Promise.all([
      api(`/v1/instances/${encodeURIComponent(id)}/forecast?history=${Math.max(24, horizon * 3)}`),
      api(`/v1/instances/${encodeURIComponent(id)}/multiplier`).catch(() => null),
    ]);
    if (id !== state.selected) return;
    rememberPast(id, f.forecast);
    renderForecast(f.forecast, f.history, m?.multiplier ?? null);
  } catch (err) {
    if (err.status === 404) {
      state.selected = null;
      refreshInstances();
      return;
    }
    fail('forecast', err);
  }
}, REFRESH_MIN_MS);

const refreshInstances = coalesced(async () => {
  try {
    const r = await api('/v1/instances');
    state.instances = r.instances.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    renderInstanceSelect();
    refreshForecast();
  } catch (err) {
    fail('instances', err);
  }
}, 500);

const refreshMarket = coalesced(async () => {
  try {
    const [bids, profiles, credits] = await Promise.all([api('/v1/bids?limit=200'), api('/v1/profiles?limit=1000'), loadCredits()]);
    renderMarket(bids.bids, profiles.profiles, credits);
  } catch (err) {
    fail('market', err);
  }
}, 500);

async function loadCredits() {
  if (!state.creditsAvailable) return null;
  try {
    return await api('/v1/credits');
  } catch (err) {
    if (err.status === 404) {
      state.creditsAvailable = false;
      return null;
    }
    throw err;
  }
}

async function loadAudit() {
  try {
    const r = await api(`/v1/audit?order=desc&limit=${MAX_ACTION_ROWS}`);
    state.actions = r.entries.map((e) =>
      actionRow(e.action ?? { kind: e.kind, instance: e.instanceId, reasons: e.reasons }, { atMs: e.atMs, tick: e.action?.tick ?? null, result: e.result, error: e.error, hostId: e.hostId }),
    );
    renderActions();
  } catch (err) {
    fail('audit log', err);
  }
}

async function resync() {
  try {
    const status = await api('/v1/status');
    state.status = status;
    state.tickMs = status.tickMs;
    state.totals = { actionsApplied: status.totals.actionsApplied, overruns: status.totals.overruns };
    state.lastTickAtMs = Date.now();
    $('kpi-policy').textContent = status.policy ? status.policy.policy : '–';
    $('kpi-policy').title = status.policy ? `profile ${status.policy.profile}; a tick every ${status.tickMs} ms stands for ${status.stepSeconds} s of workload` : '';
    renderKpis({ tick: status.tick, durationMs: status.lastTick?.durationMs, hostsOn: null, hosts: status.hosts, instances: status.instances });
  } catch (err) {
    return fail('status', err);
  }
  refreshHosts();
  refreshInstances();
  refreshMarket();
  await loadAudit();
}

// ------------------------------------------------------------------------------------ rendering

function renderKpis(k) {
  $('kpi-tick').textContent = fmt.int(k.tick);
  $('kpi-tick-ms').textContent = fmt.ms(k.durationMs);
  if (k.hostsOn !== null && k.hostsOn !== undefined) $('kpi-hosts').textContent = `${fmt.int(k.hostsOn)} / ${fmt.int(k.hosts)}`;
  else if (state.hosts.length) $('kpi-hosts').textContent = `${state.hosts.filter((h) => h.on).length} / ${state.hosts.length}`;
  $('kpi-instances').textContent = fmt.int(k.instances);
  $('kpi-actions').textContent = fmt.int(state.totals.actionsApplied);
  const over = $('kpi-overruns');
  over.textContent = fmt.int(state.totals.overruns);
  over.classList.toggle('bad', state.totals.overruns > 0);
}

const pctOf = (x, cap) => (cap > 0 && Number.isFinite(x) ? Math.max(0, Math.min(100, (x / cap) * 100)) : 0);

function capCell(resource, used, alloc, fcst, cap, on = true) {
  const f = resource === 'cpu' ? fmt.cores : fmt.gib;
  if (!on) return `<td class="cap"><div class="bar" aria-hidden="true"></div><div class="nums">off · capacity ${f(cap)}</div></td>`;
  const over = Number.isFinite(fcst) && fcst > cap;
  const label = `${resource === 'cpu' ? 'CPU' : 'memory'}: used ${f(used)}, allocated ${f(alloc)}, forecast ${f(fcst)} of ${f(cap)} ${fmt.unitOf(resource)}`;
  return `<td class="cap" title="${esc(label)}">
    <div class="bar" aria-hidden="true">
      <div class="alloc" style="width:${pctOf(alloc, cap).toFixed(1)}%"></div>
      <div class="used" style="width:${pctOf(used, cap).toFixed(1)}%"></div>
      <div class="fcst" style="left:${pctOf(fcst, cap).toFixed(1)}%"></div>
    </div>
    <div class="nums"><b>${f(used)}</b> used · ${f(alloc)} alloc · ${over ? '<strong class="hot">' : ''}${f(fcst)} p90${over ? '</strong>' : ''} / ${f(cap)}</div>
  </td>`;
}

function renderHosts() {
  const tbody = $('hosts').tBodies[0];
  const hosts = state.hosts;
  if (hosts.length === 0) {
    tbody.innerHTML = `<tr><td colspan="5" class="empty">No hosts yet. Register one with POST /v1/hosts or start with the embedded fleet.</td></tr>`;
    return;
  }
  const sum = { n: 0, on: 0, cpu: [0, 0, 0, 0], mem: [0, 0, 0, 0] };
  for (const h of hosts) {
    sum.n += h.instances;
    if (h.on) {
      sum.on++;
      sum.cpu[3] += h.capacity.cpuMillicores;
      sum.mem[3] += h.capacity.memoryMiB;
    }
    sum.cpu[0] += h.used.cpuMillicores;
    sum.cpu[1] += h.allocated.cpuMillicores;
    sum.cpu[2] += h.forecast.cpuMillicores;
    sum.mem[0] += h.used.memoryMiB;
    sum.mem[1] += h.allocated.memoryMiB;
    sum.mem[2] += h.forecast.memoryMiB;
  }
  const rows = [
    `<tr class="total"><th scope="row">fleet</th><td>${sum.on}/${hosts.length} on</td><td class="num">${sum.n}</td>${capCell('cpu', ...sum.cpu)}${capCell('memory', ...sum.mem)}</tr>`,
  ];
  for (const h of hosts.slice(0, MAX_HOST_ROWS)) {
    const hot = h.on && (h.forecast.cpuMillicores > h.capacity.cpuMillicores || h.forecast.memoryMiB > h.capacity.memoryMiB);
    const badge = !h.on ? '<span class="state off">off</span>' : hot ? '<span class="state hot" title="the forecast p90 exceeds the capacity">at risk</span>' : '<span class="state on">on</span>';
    rows.push(`<tr class="${h.on ? '' : 'off'}" data-host="${esc(h.id)}"><th scope="row">${esc(h.id)}</th><td>${badge}</td><td class="num">${h.instances}</td>${capCell('cpu', h.used.cpuMillicores, h.allocated.cpuMillicores, h.forecast.cpuMillicores, h.capacity.cpuMillicores, h.on || h.instances > 0)}${capCell('memory', h.used.memoryMiB, h.allocated.memoryMiB, h.forecast.memoryMiB, h.capacity.memoryMiB, h.on || h.instances > 0)}</tr>`);
  }
  if (hosts.length > MAX_HOST_ROWS) rows.push(`<tr><td colspan="5" class="empty">showing ${MAX_HOST_ROWS} of ${hosts.length} hosts</td></tr>`);
  tbody.innerHTML = rows.join('');
  if (state.status) $('kpi-hosts').textContent = `${sum.on} / ${hosts.length}`;
}

function renderInstanceSelect() {
  const sel = $('instance-select');
  const list = state.instances;
  if (!state.selected || !list.some((i) => i.id === state.selected)) {
    const saved = sessionStorage.getItem(INSTANCE_KEY);
    state.selected = list.find((i) => i.id === saved)?.id ?? list.find((i) => i.hostId)?.id ?? list[0]?.id ?? null;
  }
  sel.innerHTML = list.length
    ? list.map((i) => `<option value="${esc(i.id)}"${i.id === state.selected ? ' selected' : ''}>${esc(i.id)} · ${esc(i.tenant)}</option>`).join('')
    : '<option value="">no instances</option>';
  sel.disabled = list.length === 0;
}

function selectInstance(id) {
  if (!id || id === state.selected) return;
  state.selected = id;
  sessionStorage.setItem(INSTANCE_KEY, id);
  $('instance-select').value = id;
  refreshForecast();
}

function rememberPast(id, forecast) {
  if (!forecast) return;
  let m = state.past.get(id);
  if (!m) state.past.set(id, (m = new Map()));
  const p90 = (f) => (f ? (f.quantiles['0.9'] ?? f.quantiles[String(Math.max(...f.levels))])?.[0] : null);
  m.set(forecast.tick + 1, { cpu: p90(forecast.cpuMillicores), memory: p90(forecast.memoryMiB) });
  if (m.size > 400) m.delete(m.keys().next().value);
}

let chart = null;

function renderForecast(forecast, history, multiplier) {
  const id = state.selected;
  const inst = state.instances.find((i) => i.id === id);
  const r = state.resource;
  const meta = $('instance-meta');
  if (!id) {
    meta.textContent = 'No instance to show.';
    return;
  }
  const bits = [];
  if (inst) {
    bits.push(`tenant ${esc(inst.tenant)}`, `priority ${esc(inst.priority)}`, inst.hostId ? `on ${esc(inst.hostId)}` : 'not placed', esc(inst.state));
  }
  if (multiplier) bits.push(`<span title="${esc(multiplier.basis)}">preemption multiplier ${multiplier.value.toFixed(2)}</span>`);
  const f = forecast ? (r === 'cpu' ? forecast.cpuMillicores : forecast.memoryMiB) : null;
  if (f) bits.push(`<span title="forecast model">model ${esc(f.model)}</span>`);
  meta.innerHTML = bits.join(' · ');

  const past = new Map();
  for (const [tick, v] of state.past.get(id) ?? []) if (v[r] !== null && v[r] !== undefined) past.set(tick, v[r]);
  const last = history[history.length - 1];
  const field = r === 'cpu' ? 'cpuMillicores' : 'memoryMiB';
  let summary;
  if (!last) summary = `${id}: no usage reported yet.`;
  else {
    const used = last.usage[field];
    summary = `${id} at ${fmt.clock(last.atMs)}: ${used === null || used === undefined ? 'no usage reported yet' : `actual ${fmt.amount(r, used)}`}, allocation ${fmt.amount(r, last.allocation[field])}`;
    if (f) {
      const lv = f.levels.slice().sort((a, b) => a - b);
      const lo = f.quantiles[String(lv[0])]?.[0];
      const hi = f.quantiles[String(lv[lv.length - 1])]?.[0];
      const med = f.quantiles['0.5']?.[0] ?? f.mean[0];
      summary += `; next step forecast median ${fmt.amount(r, med)} (${Math.round(lv[0] * 100)}–${Math.round(lv[lv.length - 1] * 100)} %: ${r === 'cpu' ? fmt.cores(lo) : fmt.gib(lo)}–${fmt.amount(r, hi)}), ${forecast.horizonSteps} steps ahead shown.`;
      $('outer-label').textContent = `${Math.round(lv[0] * 100)}–${Math.round(lv[lv.length - 1] * 100)} %`;
    } else summary += '; no forecast yet (it needs a few samples).';
  }
  if (typeof uPlot === 'undefined') {
    $('fan-caption').textContent = `${summary} (chart library not loaded)`;
    return;
  }
  chart ??= new FanChart($('fan'), $('fan-caption'));
  chart.update(history, forecast, r, past, summary);
  $('fan').dataset.points = String(history.length);
  $('fan').dataset.forecastSteps = String(forecast?.horizonSteps ?? 0);
}

function actionRow(a, o) {
  const kind = a?.kind ?? 'action';
  let target = '';
  let targetIsInstance = false;
  let change = '';
  if (kind === 'resize') {
    target = a.instance;
    targetIsInstance = true;
    change = `${fmt.cores(a.cpu)} cores · ${fmt.gib(a.memory)} GiB`;
  } else if (kind === 'migrate') {
    target = a.instance;
    targetIsInstance = true;
    change = `${a.from} → ${a.to}`;
  } else if (kind === 'power') {
    target = a.host;
    change = a.on ? 'power on' : 'power off';
  } else {
    target = a?.instance ?? o.hostId ?? '';
  }
  return { atMs: o.atMs, tick: o.tick, kind, target, targetIsInstance, change, reasons: a?.reasons ?? [], result: o.result ?? 'applied', error: o.error ?? null, fresh: o.fresh === true };
}

function addRows(rows) {
  state.actions = rows.concat(state.actions).slice(0, MAX_ACTION_ROWS);
  renderActions();
}

function addNotice(text) {
  addRows([{ notice: text, fresh: true }]);
}

function renderActions() {
  const tbody = $('actions-table').tBodies[0];
  if (state.actions.length === 0) {
    tbody.innerHTML = '<tr><td colspan="6" class="empty">No actions yet: the control loop has not changed anything.</td></tr>';
    return;
  }
  tbody.innerHTML = state.actions
    .map((r) => {
      if (r.notice) return `<tr class="notice${r.fresh ? ' fresh' : ''}"><td colspan="6">${esc(r.notice)}</td></tr>`;
      const reasons = r.reasons.map((c) => `<span class="reason" title="${esc(fmt.reasonText(c))}">${esc(c)}<span class="sr-only"> (${esc(fmt.reasonText(c))})</span></span>`).join('');
      const target = r.targetIsInstance ? `<a class="inst" href="#" data-instance="${esc(r.target)}" title="show ${esc(r.target)} in the forecast chart">${esc(r.target)}</a>` : esc(r.target);
      const result = `<span class="result-${esc(r.result)}"${r.error ? ` title="${esc(r.error)}"` : ''}>${esc(String(r.result).replace('_', ' '))}${r.error ? `: ${esc(r.error)}` : ''}</span>`;
      return `<tr class="action${r.fresh ? ' fresh' : ''}"><td title="${r.tick === null || r.tick === undefined ? '' : `tick ${r.tick}`}">${fmt.clock(r.atMs)}</td><td class="kind">${esc(r.kind)}</td><td>${target}</td><td>${esc(r.change)}</td><td class="why"><span class="reasons">${reasons}</span></td><td>${result}</td></tr>`;
    })
    .join('');
  for (const r of state.actions) r.fresh = false;
}

function renderMarket(bids, profiles, credits) {
  const open = bids.filter((b) => b.state === 'open').length;
  $('market-summary').textContent = `${bids.length} bid${bids.length === 1 ? '' : 's'} (${open} open) · ${profiles.length} workload profile${profiles.length === 1 ? '' : 's'}`;
  const bidsEl = $('bids');
  if (bids.length === 0) {
    bidsEl.innerHTML = `<p class="empty">No bids yet. Tenants bid with <code>POST /submit_bid</code> (price in credits per hour, priority, a workload profile${profiles.length ? '' : ' submitted first with <code>POST /submit_workload_profile</code>'}).</p>`;
  } else {
    const sorted = bids.slice().sort((a, b) => b.createdAtMs - a.createdAtMs);
    bidsEl.innerHTML = `<table class="data"><caption class="sr-only">Bids, newest first</caption><thead><tr><th scope="col">Bid</th><th scope="col">Tenant</th><th scope="col">Profile</th><th scope="col">Instance</th><th scope="col" class="num" title="credits per hour">Price/h</th><th scope="col">Priority</th><th scope="col">State</th><th scope="col">Time</th></tr></thead><tbody>${sorted
      .map(
        (b) =>
          `<tr><th scope="row">${esc(b.id)}</th><td>${esc(b.tenant)}</td><td>${esc(b.profileId)}</td><td>${esc(b.instanceId ?? '–')}</td><td class="num">${fmt.credits(b.priceMicrocredits)}</td><td>${esc(b.priority)}</td><td>${esc(b.state)}</td><td>${fmt.clock(b.createdAtMs)}</td></tr>`,
      )
      .join('')}</tbody></table>`;
  }
  const creditsEl = $('credits');
  renderCpuCredits(credits);
  if (credits === null) {
    creditsEl.innerHTML = '<p class="empty">This control plane does not report credit balances.</p>';
    return;
  }
  const accounts = credits.accounts ?? [];
  const used = accounts.filter((a) => a.hasEntries || a.balanceMicrocredits !== 0);
  if (used.length === 0) {
    creditsEl.innerHTML = `<p class="empty">No money moved yet: no payments, charges or fees${accounts.length ? ` for ${accounts.map((a) => esc(a.account)).join(', ')}` : ''}.</p>`;
    return;
  }
  creditsEl.innerHTML = `<table class="data"><caption class="sr-only">Credit balances</caption><thead><tr><th scope="col">Account</th><th scope="col" class="num">Balance (credits)</th></tr></thead><tbody>${used
    .map((a) => `<tr><th scope="row">${esc(a.account)}</th><td class="num">${fmt.credits(a.balanceMicrocredits)}</td></tr>`)
    .join('')}</tbody></table>`;
}

/**
 * CPU credits (asset `credit`, milli-credits) and bonding units (asset `bond`) per burstable
 * instance, from the per-asset balances of /v1/credits (accounts `credits:<id>` and `bonds:<id>`).
 */
function renderCpuCredits(credits) {
  const el = $('cpu-credits');
  if (credits === null || !Array.isArray(credits.balances)) {
    el.innerHTML = '<p class="empty">This control plane does not report CPU credits.</p>';
    return;
  }
  const rows = new Map();
  const row = (id) => rows.get(id) ?? rows.set(id, { id, milli: 0, bonds: 0 }).get(id);
  for (const b of credits.balances) {
    if (b.asset === 'credit' && b.account.startsWith('credits:')) row(b.account.slice(8)).milli = b.balance;
    else if (b.asset === 'bond' && b.account.startsWith('bonds:')) row(b.account.slice(6)).bonds = b.balance;
  }
  if (rows.size === 0) {
    el.innerHTML = '<p class="empty">No CPU credits booked yet. Instances labelled <code>prescient.io/credit-class</code> (t3.nano … t3.2xlarge) earn them; accrual is written to the ledger about once an hour of model time.</p>';
    return;
  }
  const list = [...rows.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const shown = list.slice(0, 100);
  const num = new Intl.NumberFormat('en', { maximumFractionDigits: 3 });
  el.innerHTML = `<table class="data"><caption class="sr-only">CPU credits and bonding units per instance</caption><thead><tr><th scope="col">Instance</th><th scope="col" class="num" title="1 credit = one vCPU at 100 % for one minute">CPU credits</th><th scope="col" class="num">Bonding units</th></tr></thead><tbody>${shown
    .map((r) => `<tr><th scope="row">${esc(r.id)}</th><td class="num">${num.format(r.milli / 1000)}</td><td class="num">${r.bonds}</td></tr>`)
    .join('')}</tbody></table>${list.length > shown.length ? `<p class="empty">${list.length - shown.length} more not shown.</p>` : ''}`;
}

// ------------------------------------------------------------------------------------ wiring

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const t = $('token-input').value.trim();
  if (!t) return;
  $('token-input').value = '';
  void signIn(t);
});
$('login').addEventListener('cancel', (e) => {
  if (!state.token) e.preventDefault();
});
$('signout').addEventListener('click', () => signOut('Signed out. Paste a token to sign in again.'));
$('instance-select').addEventListener('change', (e) => selectInstance(e.target.value));
for (const el of document.querySelectorAll('input[name="resource"]')) {
  el.addEventListener('change', (e) => {
    state.resource = e.target.value;
    refreshForecast();
  });
}
$('actions-table').addEventListener('click', (e) => {
  const a = e.target.closest('a[data-instance]');
  if (!a) return;
  e.preventDefault();
  selectInstance(a.dataset.instance);
  $('forecast').scrollIntoView({ block: 'nearest' });
});

function boot() {
  const t = tokenFromHash() ?? sessionStorage.getItem(TOKEN_KEY);
  if (t) void signIn(t);
  else askToken();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
