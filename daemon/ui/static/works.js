// lightning-local UI: the Works sidebar: each work's phase, facts, Drive transfer and actions.

import { $, el, model, shortName, showNotice, works } from './model.js';
import { selectTab, showLogsOf, tabOfWork } from './tabs.js';

export function renderWorks() {
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
