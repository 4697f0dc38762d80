// lightning-local UI: plain browser ES modules, no build step (ADR 0008); charts by uPlot (vendor/).
// One EventSource (/api/events) feeds everything: a `hello` with the whole picture on every
// (re)connect, then status, log, notice and state events. Writes go through PATCH /api/state.
// This module connects and hands each event to the views: works.js (the sidebar), tabs.js
// (tabs, the app's layout, work pages), runs.js, state-view.js (JSON views, the editor),
// logs.js and charts.js; model.js holds what they show.

import { renderCharts } from './charts.js';
import { appendLogs, renderLogs } from './logs.js';
import { $, MAX_LOG_LINES, model, showNotice } from './model.js';
import { renderRuns } from './runs.js';
import { renderComponentChoices, renderState } from './state-view.js';
import { applyLayout, renderWorkTabs } from './tabs.js';
import { renderWorks } from './works.js';

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

function renderAll() {
  renderRuns();
  renderWorks();
  renderWorkTabs();
  renderCharts();
  renderState();
  renderComponentChoices();
}

connect();
