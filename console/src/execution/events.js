// The history as a table, filtered by event type. Rows are added as events arrive; an
// event's details are drawn when its row is opened.
import { h, put, time, pretty } from '../dom.js';
import { details } from './analyze.js';

export function eventsTable() {
  const filter = h('select', { 'aria-label': 'Event type filter' }, h('option', { value: '' }, 'All event types'));
  const types = new Set();
  const body = h('tbody');
  const count = h('span', { class: 'muted', role: 'status' });
  let start;
  let shown = 0;
  let total = 0;

  const refreshCount = () => {
    count.textContent = filter.value ? `${shown} of ${total} events` : `${total} events`;
  };
  filter.addEventListener('change', () => {
    shown = 0;
    for (const row of body.children) {
      row.hidden = Boolean(filter.value) && row.dataset.type !== filter.value;
      if (!row.hidden) shown += 1;
    }
    refreshCount();
  });

  function add(events, owner) {
    const fragment = document.createDocumentFragment();
    for (const event of events) {
      if (start === undefined) start = event.timestamp;
      if (!types.has(event.type)) {
        types.add(event.type);
        const options = [...filter.options].slice(1).map((o) => o.value).concat(event.type).sort();
        const selected = filter.value;
        put(filter, h('option', { value: '' }, 'All event types'), options.map((t) => h('option', { value: t }, t)));
        filter.value = selected;
      }
      const visit = owner.get(event.id);
      const d = details(event);
      const cell = h('td', { class: 'details' });
      const hasDetails = Object.keys(d).length > 0;
      if (hasDetails) {
        const summary = h('summary', {}, preview(d));
        const box = h('details', {}, summary);
        box.addEventListener('toggle', () => {
          if (box.open && box.children.length === 1) box.append(h('pre', { class: 'json' }, pretty(JSON.stringify(expand(d)))));
        });
        cell.append(box);
      }
      const row = h('tr', { 'data-type': event.type, 'data-event': event.id },
        h('td', { class: 'num' }, event.id),
        h('td', {}, event.type),
        h('td', {}, visit ? visit.name : ''),
        h('td', { class: 'num' }, `${Math.round((event.timestamp - start) * 1000)} ms`),
        h('td', {}, time(event.timestamp)),
        cell);
      total += 1;
      if (filter.value && event.type !== filter.value) row.hidden = true;
      else shown += 1;
      fragment.append(row);
    }
    body.append(fragment);
    refreshCount();
  }

  const element = h('div', { class: 'events' },
    h('div', { class: 'filters' }, filter, count),
    h('table', { class: 'list history' },
      h('thead', {}, h('tr', {}, h('th', {}, 'ID'), h('th', {}, 'Type'), h('th', {}, 'State'), h('th', {}, 'Elapsed'), h('th', {}, 'Time'), h('th', {}, 'Details'))),
      body));
  return { element, add, filter };
}

function preview(d) {
  const text = JSON.stringify(d);
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

/** Details with their JSON-text members (input, output) shown as JSON. */
function expand(d) {
  const out = {};
  for (const [k, v] of Object.entries(d)) {
    if ((k === 'input' || k === 'output' || k === 'parameters') && typeof v === 'string') {
      try { out[k] = JSON.parse(v); continue; } catch { /* shown as text */ }
    }
    out[k] = v;
  }
  return out;
}
