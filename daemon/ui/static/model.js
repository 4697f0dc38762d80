// lightning-local UI: what the page knows (one model, fed by app.js's event stream) and the
// small DOM helpers every view uses. Plain browser ES modules, no build step (ADR 0008).

export const MAX_LOG_LINES = 3000;

export const model = {
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

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
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

export const works = () => Object.keys(model.state).filter((k) => model.state[k].status);
export const shortName = (work) => work.replace(/^root\./, '');
export const fmt = (v) =>
  typeof v !== 'number'
    ? String(v)
    : Number.isInteger(v) && Math.abs(v) < 1e15
      ? String(v)
      : Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3)
        ? v.toExponential(3)
        : String(+v.toFixed(4));

/** The line under the header: the latest notice of the flow, or what went wrong here. */
export function showNotice(message) {
  $('notice').textContent = message;
}
