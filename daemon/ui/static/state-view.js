// lightning-local UI: the State tab: a JSON view per component and the JSON Patch editor.

import { $, el, model, works } from './model.js';
import { selectTab } from './tabs.js';

const rendered = new Map();

export function renderState() {
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

export function renderComponentChoices() {
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
