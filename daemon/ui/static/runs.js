// lightning-local UI: the Runs tab, every call of every work.

import { $, el, fmt, model, shortName } from './model.js';

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

export function renderRuns() {
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
