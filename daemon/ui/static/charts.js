// lightning-local UI: the Overview charts (uPlot, a classic script loaded before the modules:
// the global `uPlot`). app.js calls renderCharts() on events; tabs.js resizeCharts() on Overview.

import { $, el, fmt, model, shortName } from './model.js';

// ---------- charts (uPlot, served from its npm package; see docs/adr/0018) ----------

/** One colour per run number, so a run keeps its colour in every chart and on every update. */
const RUN_COLORS = ['#4f46e5', '#db2777', '#0d9488', '#ea580c', '#7c3aed', '#0284c7', '#ca8a04', '#475569'];
const runColor = (run) => RUN_COLORS[Math.max(0, run - 1) % RUN_COLORS.length];
const STEP_INCREMENTS = [
  1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6,
];
/** series key -> {plot, signature}: a plot is rebuilt only when its runs or x axis change. */
const plots = new Map();

/**
 * Which series get a chart, in a stable order: the root flow first, then works in declaration
 * order (the state's order), paths alphabetically. The progress key itself (step) is the x
 * axis, not a chart, and a value that never changed is not worth one: it appears once it moves.
 */
function chartKeys() {
  const order = Object.keys(model.state);
  return Object.keys(model.history)
    .filter((k) => {
      const [component, path] = splitKey(k);
      if (model.axes[component] && path === `/${model.axes[component]}`) return false;
      return model.history[k].length > 1;
    })
    .sort((a, b) => {
      const [ca, pa] = splitKey(a);
      const [cb, pb] = splitKey(b);
      return order.indexOf(ca) - order.indexOf(cb) || pa.localeCompare(pb);
    });
}

/**
 * A chart's data: one series per run, by step when the component's state has one, by wall
 * clock otherwise. Runs are joined on x (uPlot.join), so run 2 at step 10 sits above run 1
 * at step 10 instead of a line going back across the chart.
 */
function chartData(key) {
  const [component] = splitKey(key);
  const byStep = Boolean(model.axes[component]);
  const runs = new Map();
  for (const [t, v, x, run] of model.history[key]) {
    const xv = byStep ? x : t / 1000;
    if (xv === null || xv === undefined) continue;
    if (!runs.has(run)) runs.set(run, new Map());
    runs.get(run).set(xv, v); // the last value reported at a step wins
  }
  // Run 0 of a work is its initial state before the first call: not a run to compare.
  if (runs.size > 1) runs.delete(0);
  const ids = [...runs.keys()].sort((a, b) => a - b);
  const tables = ids.map((id) => {
    const m = runs.get(id);
    const xs = [...m.keys()].sort((a, b) => a - b);
    return [xs, xs.map((x) => m.get(x))];
  });
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  return { byStep, ids, data };
}

function chartWidth(card) {
  return Math.max(280, (card.clientWidth || $('charts').clientWidth / 2 || 480) - 20);
}

function chartOptions(key, card, { byStep, ids }) {
  const [component, path] = splitKey(key);
  const axis = {
    stroke: '#475569',
    font: '12px system-ui, sans-serif',
    grid: { stroke: '#eef0f3' },
    ticks: { stroke: '#d0d5dd' },
  };
  return {
    width: chartWidth(card),
    height: 220,
    scales: { x: { time: !byStep } },
    axes: [
      {
        ...axis,
        label: byStep ? model.axes[component] : undefined,
        labelSize: 18,
        labelFont: '12px system-ui, sans-serif',
        // Steps and epochs are whole numbers: no tick at step 1.5.
        ...(byStep ? { incrs: STEP_INCREMENTS } : {}),
      },
      { ...axis, size: 64, values: (_u, vals) => vals.map(fmt) },
    ],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    series: [
      byStep
        ? { label: model.axes[component], value: (_u, v) => (v === null ? '–' : fmt(v)) }
        : { label: 'time' },
      ...ids.map((id) => ({
        label: id === 0 ? path.slice(1) : `run ${id}`,
        stroke: runColor(id),
        width: 2,
        spanGaps: true,
        value: (_u, v) => (v === null ? '–' : fmt(v)),
      })),
    ],
  };
}

export function renderCharts() {
  const box = $('charts');
  const keys = chartKeys();
  if (keys.length === 0 || typeof uPlot === 'undefined') return;
  box.querySelector('.empty')?.remove();
  for (const key of keys) {
    let card = box.querySelector(`[data-series="${CSS.escape(key)}"]`);
    if (!card) {
      const [component, path] = splitKey(key);
      card = el(
        'figure',
        { class: 'chart', 'data-series': key },
        el(
          'figcaption',
          {},
          el('span', { class: 'chart-title', text: path.slice(1).replaceAll('/', '.') }),
          el('span', { class: 'chart-comp', text: shortName(component) }),
          el('span', { class: 'chart-value' }),
        ),
        el('div', { class: 'chart-plot' }),
      );
    }
    box.append(card); // (re)appending keeps the cards in chartKeys() order
    const points = model.history[key];
    card.querySelector('.chart-value').textContent = fmt(points[points.length - 1][1]);
    const chart = chartData(key);
    const signature = `${chart.byStep}|${chart.ids.join(',')}`;
    const known = plots.get(key);
    if (known && known.signature === signature) {
      known.plot.setData(chart.data);
    } else {
      known?.plot.destroy();
      const plot = new uPlot(chartOptions(key, card, chart), chart.data, card.querySelector('.chart-plot'));
      plots.set(key, { plot, signature });
      // The figure carries its plot: what uPlot draws can be read from the page (the browser tests do).
      card.uplot = plot;
    }
    card.dataset.runs = chart.ids.join(',');
    card.dataset.axis = chart.byStep ? model.axes[splitKey(key)[0]] : 'time';
  }
}

export function resizeCharts() {
  for (const [key, { plot }] of plots) {
    const card = $('charts').querySelector(`[data-series="${CSS.escape(key)}"]`);
    if (card?.clientWidth) plot.setSize({ width: chartWidth(card), height: 220 });
  }
}
window.addEventListener('resize', resizeCharts);

function splitKey(key) {
  const i = key.indexOf(':');
  return [key.slice(0, i), key.slice(i + 1)];
}
