// A timeline of state visits: one bar per visit, from its entry to its exit (or to now
// while it runs), on the execution's own time scale.
import { h, duration } from '../dom.js';

export function timeline(visits, execution, now) {
  if (!visits.length) return h('p', { class: 'empty' }, 'No state has been entered yet.');
  const start = execution.startDate;
  const endOf = (v) => (v.exited ? v.exited.timestamp : (execution.stopDate || now));
  const finish = Math.max(execution.stopDate || now, ...visits.map(endOf));
  const span = Math.max(finish - start, 0.001);
  const rows = visits.map((v) => {
    const from = v.start - start;
    const length = endOf(v) - v.start;
    const bar = h('div', { class: `bar status-${v.exited ? (v.outcome === 'failed' ? 'caught' : 'succeeded') : 'open'}` });
    bar.style.left = `${(from / span) * 100}%`;
    bar.style.width = `max(2px, ${(length / span) * 100}%)`;
    return h('div', { class: 'timeline-row', 'data-state': v.name },
      h('span', { class: 'timeline-name', title: v.name }, v.name),
      h('div', { class: 'timeline-track' }, bar),
      h('span', { class: 'timeline-duration' }, `${duration(length * 1000)}${v.exited ? '' : ' …'}`));
  });
  return h('div', { class: 'timeline', role: 'list', 'aria-label': 'Timeline of states' },
    h('div', { class: 'timeline-scale muted' }, h('span', {}, '0'), h('span', {}, duration(span * 1000))),
    rows);
}
