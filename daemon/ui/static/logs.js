// lightning-local UI: the Logs tab: filtered, followed, downloadable log lines.

import { $, el, MAX_LOG_LINES, model, shortName } from './model.js';

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

export function renderLogs() {
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

export function appendLogs(added) {
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
