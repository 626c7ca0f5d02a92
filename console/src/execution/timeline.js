// A timeline of state visits: one bar per visit, from its entry to its exit (or to now
// while it runs), on the execution's own time scale. A click on a name shows that visit.
import { h, duration } from '../dom.js';

export function timeline(visits, execution, now, onPick) {
  if (!visits.length) return h('p', { class: 'empty' }, 'No state has been entered yet.');
  const start = execution.startDate;
  const endOf = (v) => (v.exited ? v.exited.timestamp : (execution.stopDate || now));
  const finish = Math.max(execution.stopDate || now, ...visits.map(endOf));
  const span = Math.max(finish - start, 0.001);
  const rows = visits.map((v) => {
    const from = v.start - start;
    const length = endOf(v) - v.start;
    const bar = h('div', { class: `bar status-${v.status}` });
    bar.style.left = `${(from / span) * 100}%`;
    bar.style.width = `max(2px, ${(length / span) * 100}%)`;
    return h('div', { class: 'timeline-row', 'data-state': v.name, role: 'listitem' },
      h('button', { type: 'button', class: 'timeline-name link', title: `${v.name}: ${v.status}`,
        onclick: () => onPick && onPick(v) }, v.name),
      h('div', { class: 'timeline-track' }, bar),
      h('span', { class: 'timeline-duration' }, `${duration(length * 1000)}${v.status === 'running' ? ' …' : ''}`));
  });
  return h('div', { class: 'timeline', role: 'list', 'aria-label': 'Timeline of states' },
    h('div', { class: 'timeline-scale muted' }, h('span', {}, '0'), h('span', {}, duration(span * 1000))),
    rows);
}
