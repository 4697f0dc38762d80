// lightning-local UI: the tabs: the built-in views named and ordered by the app's layout, a tab
// per work server (its page in an iframe on the work's own origin), and switching between them.

import { resizeCharts } from './charts.js';
import { renderLogs } from './logs.js';
import { $, el, model, shortName, works } from './model.js';

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
export function applyLayout() {
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

export const tabOfWork = (work) => frameTabs().find((t) => t.work === work)?.id;

// ---------- work tabs (iframes through the proxy) ----------

export function renderWorkTabs() {
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

export function selectTab(id, byUser = true) {
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

/** The Logs tab, showing the lines of `work`. */
export function showLogsOf(work) {
  $('log-work').value = work;
  selectTab('tab-logs');
}
