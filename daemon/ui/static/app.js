// lightning-local UI: plain browser JavaScript, no build step; charts by uPlot (vendor/).
// One EventSource (/api/events) feeds everything: a `hello` with the whole picture on every
// (re)connect, then status, log, notice and state events. Writes go through PATCH /api/state.

const MAX_LOG_LINES = 3000;

const model = {
  app: '',
  state: {},
  /** series key "component:/path" -> [[t, value, step or null, run], ...] */
  history: {},
  /** component -> its progress key (the charts' x axis), e.g. {"root.train": "step"} */
  axes: {},
  /** every work's runs (calls), oldest first */
  runs: [],
  /** the app's tab layout (names, order, landing, work pages), or null for the default tabs */
  layout: null,
  /** all log entries, oldest first: {work, stream, t, line} */
  logs: [],
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const works = () => Object.keys(model.state).filter((k) => model.state[k].status);
const shortName = (work) => work.replace(/^root\./, '');
const fmt = (v) =>
  typeof v !== 'number'
    ? String(v)
    : Number.isInteger(v) && Math.abs(v) < 1e15
      ? String(v)
      : Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3)
        ? v.toExponential(3)
        : String(+v.toFixed(4));

// ---------- connection ----------

function connect() {
  const source = new EventSource('/api/events');
  const pill = $('connection');
  source.addEventListener('open', () => {
    pill.textContent = 'live';
    pill.className = 'pill pill-live';
  });
  source.addEventListener('error', () => {
    pill.textContent = 'reconnecting…';
    pill.className = 'pill pill-wait';
    // A 401 (token gone after a restart) closes the stream for good: say what to do.
    if (source.readyState === EventSource.CLOSED) {
      pill.textContent = 'disconnected';
      pill.className = 'pill pill-bad';
      showNotice('Lost the connection to the flow. If the app was restarted, open the new link it printed.');
    }
  });
  source.addEventListener('end', (e) => {
    source.close();
    showEnded(JSON.parse(e.data));
  });
  source.addEventListener('hello', (e) => {
    const d = JSON.parse(e.data);
    model.app = d.app;
    model.state = d.state;
    model.history = d.history;
    model.axes = d.axes;
    model.runs = d.runs;
    model.layout = d.layout;
    model.logs = [];
    for (const [work, lines] of Object.entries(d.logs))
      for (const l of lines) model.logs.push({ work, ...l });
    model.logs.sort((a, b) => a.t - b.t);
    document.title = `${d.app} · lightning-local`;
    $('app-name').textContent = d.app;
    const last = d.notices[d.notices.length - 1];
    if (last) showNotice(last.message);
    renderAll();
    applyLayout();
    renderLogs(true);
    if (d.ended) {
      source.close();
      showEnded(d.ended);
    }
  });
  source.addEventListener('state', (e) => {
    const d = JSON.parse(e.data);
    model.state = d.state;
    model.axes = d.axes;
    for (const [key, point] of Object.entries(d.points)) {
      model.history[key] ??= [];
      model.history[key].push(point);
    }
    renderAll();
  });
  source.addEventListener('status', (e) => {
    const d = JSON.parse(e.data);
    if (model.state[d.work]) model.state[d.work].status = d.status;
    renderWorks();
    renderWorkTabs();
  });
  source.addEventListener('log', (e) => {
    const d = JSON.parse(e.data);
    const added = d.lines.map((line) => ({ work: d.work, stream: d.stream, t: d.t, line }));
    model.logs.push(...added);
    if (model.logs.length > MAX_LOG_LINES * 1.25) model.logs = model.logs.slice(-MAX_LOG_LINES);
    appendLogs(added);
  });
  source.addEventListener('notice', (e) => showNotice(JSON.parse(e.data).message));
  source.addEventListener('run', (e) => {
    const run = JSON.parse(e.data);
    const i = model.runs.findIndex((r) => r.work === run.work && r.run === run.run);
    if (i >= 0) model.runs[i] = run;
    else model.runs.push(run);
    renderRuns();
  });
}

/** The app is over: say so and why, instead of "reconnecting…" to a flow that is gone. */
function showEnded(end) {
  const pill = $('connection');
  pill.textContent = end.exitCode === 0 ? 'app ended' : `app ended (exit ${end.exitCode})`;
  pill.className = end.exitCode === 0 ? 'pill pill-ended' : 'pill pill-bad';
  showNotice(
    `The app ended: ${end.message}. The state, charts and logs above are its last ones; run it again for a new link.`,
  );
}

function showNotice(message) {
  $('notice').textContent = message;
}

function renderAll() {
  renderRuns();
  renderWorks();
  renderWorkTabs();
  renderCharts();
  renderState();
  renderComponentChoices();
}

// ---------- works ----------

function renderWorks() {
  const list = $('works');
  const names = works();
  if (names.length === 0) {
    list.replaceChildren(el('li', { class: 'empty', text: 'This app has no works.' }));
    return;
  }
  list.replaceChildren(
    ...names.map((name) => {
      const s = model.state[name].status;
      const facts = [];
      if (s.exitCode !== null) facts.push(el('span', { text: `exit ${s.exitCode}` }));
      if (s.restarts) facts.push(el('span', { text: `${s.restarts} restart${s.restarts === 1 ? '' : 's'}` }));
      if (s.attempt) facts.push(el('span', { text: `attempt ${s.attempt + 1}` }));
      const li = el(
        'li',
        { class: `work phase-${s.phase}`, 'data-work': name },
        el(
          'div',
          { class: 'work-head' },
          el('span', { class: 'work-name', text: shortName(name), title: name }),
          el('span', {
            class: `badge badge-${s.phase}`,
            'data-phase': s.phase,
            text: s.phase.replace('_', ' '),
          }),
        ),
        facts.length ? el('div', { class: 'work-facts' }, ...facts) : null,
        transferView(model.state[name].vars?.transfer),
        s.reason || s.message
          ? el('p', {
              class: 'work-message',
              text: [s.reason, s.message].filter(Boolean).join(': '),
              title: s.message ?? '',
            })
          : null,
        el(
          'div',
          { class: 'work-links' },
          el('button', { type: 'button', class: 'link', text: 'logs', onclick: () => showLogsOf(name) }),
          s.phase === 'running' || s.phase === 'pending'
            ? el('button', {
                type: 'button',
                class: 'link link-danger',
                text: 'stop',
                title: `Stop ${name}'s current call (as work.stop() in the flow would)`,
                onclick: (e) => workAction(name, 'stop', e.target),
              })
            : null,
          s.callHash !== null && (s.phase === 'succeeded' || s.phase === 'failed' || s.phase === 'stopped')
            ? el('button', {
                type: 'button',
                class: 'link',
                text: 'restart',
                title: `Run ${name}'s last call again with the same arguments`,
                onclick: (e) => workAction(name, 'restart', e.target),
              })
            : null,
          s.url
            ? el('button', {
                type: 'button',
                class: 'link',
                text: 'open tab',
                onclick: () => selectTab(tabOfWork(name)),
              })
            : null,
          s.url
            ? el('span', { class: 'url', text: s.url, title: 'the work server (proxied under /w/)' })
            : null,
        ),
      );
      return li;
    }),
  );
}

// ---------- Drive transfers (a work's `state.transfer`: daemon/drive/transfer-progress.ts) ----------

/** `1.5 GiB`, `12.0 MiB`, `900 B` (as the terminal's progress lines write them). */
function formatBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `1:05`, `2:03:04`, `?` */
function formatDuration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/**
 * A work's current or last Drive transfer (an output upload, an input download): bytes of
 * the total, a bar, the rate and the time left (or how long it took, once done).
 */
function transferView(t) {
  if (!t || typeof t !== 'object' || typeof t.bytes !== 'number') return null;
  const total = typeof t.totalBytes === 'number' ? t.totalBytes : null;
  const amount =
    total === null
      ? formatBytes(t.bytes)
      : `${formatBytes(t.bytes)} / ${formatBytes(total)} (${total > 0 ? Math.floor((100 * t.bytes) / total) : 100}%)`;
  const timing = t.done
    ? `done in ${formatDuration(t.elapsedSeconds)}`
    : `${formatBytes(t.bytesPerSecond ?? 0)}/s · ETA ${formatDuration(t.etaSeconds)}`;
  return el(
    'div',
    { class: 'work-transfer', 'data-transfer': t.done ? 'done' : 'active', title: t.key ?? '' },
    el('progress', total === null || total === 0 ? {} : { max: total, value: t.bytes }),
    el('span', { class: 'transfer-key', text: String(t.key ?? '') }),
    el('span', { class: 'transfer-amount', text: `${amount} · ${timing}` }),
  );
}

/** POSTs a work action (`stop` or `restart`); the new status arrives over the event stream. */
async function workAction(name, action, button) {
  button.disabled = true;
  button.textContent = action === 'stop' ? 'stopping…' : 'restarting…';
  try {
    const res = await fetch(`/api/works/${encodeURIComponent(name)}/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    if (!res.ok) showNotice(`Could not ${action} ${name}: ${(await res.json()).error.message}`);
  } catch (err) {
    showNotice(`Could not ${action} ${name}: the flow did not answer (${err.message}).`);
  }
}

// ---------- layout (the app's configureLayout(), constructs/layout.ts) ----------

const VIEW_TABS = { overview: 'tab-overview', runs: 'tab-runs', state: 'tab-state', logs: 'tab-logs' };
/** The tab to open once it exists (a landing work tab appears when its server answers). */
let landingPending = null;
let laidOut = false;

const layoutTabId = (t, i) => (t.view ? VIEW_TABS[t.view] : `tab-l-${i}`);

/** Work tabs: the layout's, then one for each work server the layout does not name. */
function frameTabs() {
  const out = [];
  const named = new Set();
  (model.layout?.tabs ?? []).forEach((t, i) => {
    if (!t.work) return;
    out.push({ id: layoutTabId(t, i), panel: `panel-l-${i}`, name: t.name, work: t.work, path: t.path });
    named.add(t.work);
  });
  for (const w of works()) {
    if (!named.has(w))
      out.push({ id: `tab-w-${w}`, panel: `panel-w-${w}`, name: shortName(w), work: w, path: '/' });
  }
  return out;
}

/** Names the built-in views as the layout says and picks the landing tab (first hello only). */
function applyLayout() {
  if (laidOut || !model.layout) return;
  laidOut = true;
  model.layout.tabs.forEach((t) => {
    if (t.view) $(VIEW_TABS[t.view]).textContent = t.name;
  });
  const i = model.layout.tabs.findIndex((t) => t.name === model.layout.landing);
  if (i >= 0) landingPending = layoutTabId(model.layout.tabs[i], i);
  orderTabs();
}

/** The layout's tabs first, in its order; the others keep their order after them. */
function orderTabs() {
  if (!model.layout) return;
  const box = $('tabs');
  const named = model.layout.tabs.map((t, i) => document.getElementById(layoutTabId(t, i))).filter(Boolean);
  const rest = [...box.children].filter((c) => !named.includes(c));
  box.replaceChildren(...named, ...rest);
  if (landingPending && document.getElementById(landingPending)) {
    const id = landingPending;
    landingPending = null;
    selectTab(id, false);
  }
}

const tabOfWork = (work) => frameTabs().find((t) => t.work === work)?.id;

// ---------- work tabs (iframes through the proxy) ----------

function renderWorkTabs() {
  const tabs = $('tabs');
  const panels = $('work-panels');
  let added = false;
  for (const t of frameTabs()) {
    const url = model.state[t.work]?.status?.url;
    let tab = document.getElementById(t.id);
    if (url && !tab) {
      tab = el('button', {
        role: 'tab',
        id: t.id,
        'aria-controls': t.panel,
        'aria-selected': 'false',
        tabindex: '-1',
        class: 'work-tab',
        title: `${t.work}: its server${t.path === '/' ? '' : ` at ${t.path}`}`,
      });
      tab.append(el('span', { class: 'tab-icon', 'aria-hidden': 'true', text: '◧' }), t.name);
      tabs.append(tab);
      added = true;
      const src = `/w/${encodeURIComponent(t.work)}${t.path}`;
      const frame = el('iframe', {
        title: `${t.name}: ${t.work} server`,
        'data-frame': t.work,
        'data-src': src,
      });
      panels.append(
        el(
          'section',
          { id: t.panel, role: 'tabpanel', 'aria-labelledby': t.id, class: 'frame-panel', hidden: true },
          el(
            'div',
            { class: 'frame-bar' },
            el('span', { text: `${t.work}${t.path === '/' ? '' : t.path} · ${url}` }),
            el('button', {
              type: 'button',
              text: 'Reload',
              onclick: () => {
                frame.src = src;
              },
            }),
            el('a', { href: src, target: '_blank', rel: 'noopener', text: 'Open in a new window ↗' }),
          ),
          frame,
        ),
      );
    } else if (!url && tab) {
      if (tab.getAttribute('aria-selected') === 'true') selectTab('tab-overview');
      tab.remove();
      document.getElementById(t.panel)?.remove();
    }
  }
  if (added) orderTabs();
}

// ---------- tabs ----------

function selectTab(id, byUser = true) {
  const tab = document.getElementById(id);
  if (!tab) return;
  if (byUser) landingPending = null; // the person chose: a late landing tab must not jump in
  for (const t of document.querySelectorAll('[role=tab]')) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    const panel = document.getElementById(t.getAttribute('aria-controls'));
    if (panel) panel.hidden = !on;
  }
  const frame = document.getElementById(tab.getAttribute('aria-controls'))?.querySelector('iframe');
  // Load a work's page only when its tab is first opened.
  if (frame && !frame.getAttribute('src')) frame.src = frame.dataset.src;
  if (id === 'tab-logs') renderLogs(true);
  if (id === 'tab-overview') resizeCharts();
  if (byUser) tab.focus();
}

$('tabs').addEventListener('click', (e) => {
  const tab = e.target.closest('[role=tab]');
  if (tab) selectTab(tab.id);
});
$('tabs').addEventListener('keydown', (e) => {
  const all = [...document.querySelectorAll('[role=tab]')];
  const i = all.indexOf(document.activeElement);
  if (i < 0) return;
  const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[e.key];
  if (next === undefined) return;
  e.preventDefault();
  selectTab(all[(next + all.length) % all.length].id);
});

// ---------- runs ----------

function duration(ms) {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** `{a: 1, b: "x"}` as `a=1 b="x"`: compact enough for a table cell. */
function pairs(obj) {
  if (obj === null || typeof obj !== 'object') return obj === null ? '' : JSON.stringify(obj);
  return Object.entries(obj)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : v?.$path ? v.$path.key : JSON.stringify(v)}`)
    .join('  ');
}

function renderRuns() {
  const body = $('runs').tBodies[0];
  if (model.runs.length === 0) return;
  const now = Date.now();
  // Newest first: the run you just started is the one you look for.
  const rows = [...model.runs].reverse().map((r) => {
    const from = r.startedAt ?? r.dispatchedAt;
    const took = r.endedAt ? duration(r.endedAt - from) : r.startedAt ? `${duration(now - from)} so far` : '';
    const attempt = r.attempt ? ` (retry ${r.attempt})` : '';
    return el(
      'tr',
      { 'data-work': r.work, 'data-run': r.run },
      el('td', { text: shortName(r.work), title: r.work }),
      el(
        'td',
        {},
        el('span', { class: 'run-dot', 'aria-hidden': 'true', 'data-color': (r.run - 1) % 8 }),
        `${r.run}${attempt}`,
      ),
      el(
        'td',
        {},
        el('span', {
          class: `badge badge-${r.phase}`,
          'data-phase': r.phase,
          text: r.phase.replace('_', ' '),
        }),
        r.message && r.phase !== 'succeeded'
          ? el('span', { class: 'run-message', text: ` ${r.message}`, title: r.message })
          : null,
      ),
      el('td', { text: new Date(r.dispatchedAt).toLocaleTimeString() }),
      el('td', { text: took }),
      el('td', { class: 'mono', text: r.args === null ? '(not seen)' : pairs(r.args) || '(none)' }),
      el('td', { class: 'mono', text: pairs(r.metrics) }),
    );
  });
  body.replaceChildren(...rows);
}

// A running call's "so far" keeps counting while the Runs tab is open.
setInterval(() => {
  if (!$('panel-runs').hidden && model.runs.some((r) => r.startedAt && !r.endedAt)) renderRuns();
}, 1000);

// ---------- state (JSON views and the editor) ----------

const rendered = new Map();

function renderState() {
  const box = $('state-views');
  for (const [name, entry] of Object.entries(model.state)) {
    const text = JSON.stringify(entry.vars);
    let card = box.querySelector(`[data-component="${CSS.escape(name)}"]`);
    if (!card) {
      card = el(
        'article',
        { class: 'state-card', 'data-component': name },
        el('h3', { text: name }),
        el('div', { class: 'json' }),
      );
      box.append(card);
    }
    if (rendered.get(name) === text) continue;
    rendered.set(name, text);
    card.querySelector('.json').replaceChildren(jsonTree(entry.vars, name, ''));
    if (name === 'root') $('overview-state').replaceChildren(jsonTree(entry.vars, name, ''));
  }
}

function jsonTree(value, component, path) {
  if (value === null || typeof value !== 'object') {
    return el('button', {
      type: 'button',
      class: `leaf leaf-${value === null ? 'null' : typeof value}`,
      text: JSON.stringify(value),
      title: `${component} ${path || '/'}: click to edit`,
      onclick: () => pickForEdit(component, path, value),
    });
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  if (entries.length === 0) {
    return el('button', {
      type: 'button',
      class: 'leaf leaf-empty',
      text: Array.isArray(value) ? '[]' : '{}',
      title: `${component} ${path || '/'}: click to edit`,
      onclick: () => pickForEdit(component, path, value),
    });
  }
  return el(
    'ul',
    { class: 'tree' },
    ...entries.map(([k, v]) => {
      const p = `${path}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`;
      return el('li', {}, el('span', { class: 'key', text: k }), ' ', jsonTree(v, component, p));
    }),
  );
}

function pickForEdit(component, path, value) {
  $('edit-component').value = component;
  $('edit-op').value = 'replace';
  $('edit-path').value = path;
  $('edit-value').value = JSON.stringify(value);
  selectTab('tab-state');
  $('edit-value').focus();
  $('edit-value').select();
}

function renderComponentChoices() {
  const select = $('edit-component');
  const names = Object.keys(model.state);
  if ([...select.options].map((o) => o.value).join() === names.join()) return;
  const current = select.value;
  select.replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
  if (names.includes(current)) select.value = current;
  const logSelect = $('log-work');
  const chosen = logSelect.value;
  logSelect.replaceChildren(
    el('option', { value: '', text: 'All works' }),
    ...works().map((n) => el('option', { value: n, text: n })),
  );
  logSelect.value = chosen;
}

$('editor').addEventListener('submit', async (e) => {
  e.preventDefault();
  const result = $('edit-result');
  const op = $('edit-op').value;
  const path = $('edit-path').value.trim();
  const component = $('edit-component').value;
  const patch = { op, path };
  if (op !== 'remove') {
    const raw = $('edit-value').value.trim();
    try {
      patch.value = JSON.parse(raw);
    } catch {
      // A bare word is meant as a string; anything else that looks like JSON is a typo to report.
      if (/^[\s\S]*[[{"]/.test(raw) || raw === '') {
        result.className = 'result result-bad';
        result.textContent = `The value is not valid JSON: ${raw || '(empty)'}. Write e.g. 5, true, "text" or {"a": 1}.`;
        return;
      }
      patch.value = raw;
    }
  }
  result.className = 'result';
  result.textContent = 'applying…';
  try {
    const res = await fetch(`/api/state/${encodeURIComponent(component)}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([patch]),
    });
    const body = await res.json();
    if (res.ok) {
      result.className = 'result result-ok';
      result.textContent = `Applied ${op} ${path} on ${component}.`;
    } else {
      result.className = 'result result-bad';
      result.textContent = `Not applied (${res.status}): ${body.error.message}${body.error.fix ? ` ${body.error.fix}` : ''}`;
    }
  } catch (err) {
    result.className = 'result result-bad';
    result.textContent = `Not applied: the flow did not answer (${err.message}).`;
  }
});
$('edit-op').addEventListener('change', () => {
  $('edit-value').disabled = $('edit-op').value === 'remove';
});

// ---------- logs ----------

function showLogsOf(work) {
  $('log-work').value = work;
  selectTab('tab-logs');
}

function logLine(entry, showWork) {
  const time = new Date(entry.t).toLocaleTimeString();
  return el(
    'div',
    { class: `logline logline-${entry.stream}` },
    el('span', { class: 'ts', text: time }),
    showWork ? el('span', { class: `who c${colorOf(entry.work)}`, text: shortName(entry.work) }) : null,
    el('span', { class: 'text', text: entry.line }),
  );
}

const colors = new Map();
function colorOf(work) {
  if (!colors.has(work)) colors.set(work, colors.size % 6);
  return colors.get(work);
}

/** The lines the Logs tab shows: of the chosen work, containing the search text (any case). */
function logFilter() {
  const work = $('log-work').value;
  const needle = $('log-search').value.trim().toLowerCase();
  return (l) => (!work || l.work === work) && (!needle || l.line.toLowerCase().includes(needle));
}

function renderLogs() {
  const box = $('log');
  const work = $('log-work').value;
  const lines = model.logs.filter(logFilter()).slice(-MAX_LOG_LINES);
  box.replaceChildren(
    ...(lines.length
      ? lines.map((l) => logLine(l, !work))
      : [el('p', { class: 'empty', text: 'No log lines yet.' })]),
  );
  if ($('log-follow').checked) box.scrollTop = box.scrollHeight;
}

function appendLogs(added) {
  const box = $('log');
  if ($('panel-logs').hidden) return;
  const work = $('log-work').value;
  const shown = added.filter(logFilter());
  if (shown.length === 0) return;
  box.querySelector('.empty')?.remove();
  box.append(...shown.map((l) => logLine(l, !work)));
  while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild.remove();
  if ($('log-follow').checked) box.scrollTop = box.scrollHeight;
}

$('log-work').addEventListener('change', () => renderLogs());
$('log-search').addEventListener('input', () => renderLogs());
/** Saves the lines the view shows (work and search applied) as a text file. */
$('log-download').addEventListener('click', () => {
  const work = $('log-work').value;
  const text = model.logs
    .filter(logFilter())
    .map(
      (l) =>
        `${new Date(l.t).toISOString()} ${work ? '' : `[${l.work}] `}${l.stream === 'stderr' ? '! ' : ''}${l.line}`,
    )
    .join('\n');
  const a = el('a', {
    href: URL.createObjectURL(new Blob([`${text}\n`], { type: 'text/plain' })),
    download: `${model.app}${work ? `-${shortName(work)}` : ''}.log`,
  });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});
$('log-clear').addEventListener('click', () => {
  model.logs = [];
  renderLogs();
});

connect();
