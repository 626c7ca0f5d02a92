// Small helpers to build the DOM: elements, text, times and JSON as people read them.

const SVG = 'http://www.w3.org/2000/svg';

/** An HTML element: h('a', {href: '/x', class: 'y'}, 'text', child, [more]). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, as `h`. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'text') el.textContent = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Replaces `el`'s children, skipping null and flattening arrays as `h` does. */
export function put(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** A time from the API (epoch seconds) as local date and time with milliseconds. */
export function time(epoch) {
  if (epoch === undefined || epoch === null) return '';
  const d = new Date(epoch * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** A duration in milliseconds as people say it: 850 ms, 4.2 s, 3 min 5 s, 2 h 1 min. */
export function duration(ms) {
  if (!(ms >= 0)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** JSON text shown indented; text that is not JSON is shown as it is. */
export function pretty(text) {
  if (text === undefined || text === null) return '';
  if (typeof text !== 'string') return JSON.stringify(text, null, 2);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** A block of JSON (or any text) to read and copy. */
export function code(text, label) {
  return h('pre', { class: 'json', tabindex: 0, 'aria-label': label }, pretty(text));
}

/** The last part of an ARN: a machine's or an execution's name. */
export function arnName(arn) {
  return String(arn || '').split(':').pop();
}

export function statusBadge(status) {
  return h('span', { class: `badge status-${String(status).toLowerCase()}` }, status);
}

/** Shows an error above the page until dismissed (or the next page). */
export function alertError(error, context) {
  const box = document.getElementById('alerts');
  const code = error && error.code ? `${error.code}: ` : '';
  const item = h('div', { class: 'alert' },
    h('strong', {}, context ? `${context} — ` : ''),
    `${code}${error && error.message ? error.message : error}`,
    h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
  box.append(item);
  return item;
}

export function clearAlerts() {
  document.getElementById('alerts').replaceChildren();
}

/** Tabs: [{id, label, render()}]; the panel is drawn when its tab is first chosen. */
export function tabs(list, initial) {
  const bar = h('div', { class: 'tabs', role: 'tablist' });
  const panels = h('div', { class: 'tab-panels' });
  const drawn = new Map();
  const choose = (id) => {
    for (const t of list) {
      const selected = t.id === id;
      t.button.setAttribute('aria-selected', String(selected));
      t.button.tabIndex = selected ? 0 : -1;
      if (selected && !drawn.has(id)) {
        const panel = h('div', { role: 'tabpanel', id: `panel-${id}`, 'aria-labelledby': `tab-${id}` }, t.render());
        drawn.set(id, panel);
        panels.append(panel);
      }
      if (drawn.has(t.id)) drawn.get(t.id).hidden = !selected;
    }
  };
  for (const t of list) {
    t.button = h('button', { type: 'button', role: 'tab', id: `tab-${t.id}`, 'aria-controls': `panel-${t.id}`,
      onclick: () => choose(t.id) }, t.label);
    bar.append(t.button);
  }
  choose(initial || list[0].id);
  return { element: h('div', { class: 'tabbed' }, bar, panels), choose, panel: (id) => drawn.get(id) };
}
