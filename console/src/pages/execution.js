// An execution: its definition's graph coloured by what happened to each state, the
// selected state's input, output, error and events, the history as a table, a timeline,
// the execution's input and output, and stop / redrive / new execution. While it runs,
// the page polls for new events.
import { call } from '../api.js';
import { h, put, time, duration, code, statusBadge, alertError, arnName, tabs, pretty } from '../dom.js';
import { machineHref } from '../links.js';
import { graphView } from '../graph/view.js';
import { paint } from '../graph/render.js';
import { analyze, details } from '../execution/analyze.js';
import { fullHistory, eventsAfter } from '../execution/history.js';
import { eventsTable } from '../execution/events.js';
import { timeline } from '../execution/timeline.js';
import { startForm } from './start.js';

const POLL_MS = 1500;
const REDRIVABLE = ['FAILED', 'TIMED_OUT', 'ABORTED'];
const LEGEND = [
  ['succeeded', 'Succeeded'], ['failed', 'Failed'], ['caught', 'Caught'], ['running', 'Running'],
  ['aborted', 'Aborted'], ['not-reached', 'Not reached'],
];

export async function executionPage(main, arn, page$) {
  document.title = `${arnName(arn)} · Cairn console`;
  let execution;
  let forExecution;
  let events;
  try {
    [execution, forExecution, events] = await Promise.all([
      call('DescribeExecution', { executionArn: arn }),
      call('DescribeStateMachineForExecution', { executionArn: arn }),
      fullHistory(arn),
    ]);
  } catch (e) {
    put(main, h('h1', {}, arnName(arn)), h('p', { class: 'empty' }, `${e.code}: ${e.message}`));
    return;
  }

  performance.mark('cairn:execution-fetched');
  let selected = null;
  let chosenVisit = null;
  let analysis;
  const view = graphView(forExecution.definition, { onSelect: (name) => select(name), label: `Graph of ${execution.name}` });
  const panel = h('aside', { class: 'state-panel card', 'aria-label': 'Selected state', 'aria-live': 'polite' });
  const headerBox = h('div');
  const start = h('div', { class: 'card', hidden: true }, h('h2', {}, 'New execution'),
    startForm(execution.stateMachineAliasArn || execution.stateMachineVersionArn || execution.stateMachineArn, pretty(execution.input)));
  const table = eventsTable();
  const timelineBox = h('div');
  const ioBox = h('div');
  const lower = tabs([
    { id: 'events', label: 'Events', render: () => table.element },
    { id: 'timeline', label: 'Timeline', render: () => timelineBox },
    { id: 'io', label: 'Execution input and output', render: () => ioBox },
    { id: 'definition', label: 'Definition', render: () => code(forExecution.definition, 'Definition') },
  ]);

  function drawHeader() {
    const running = execution.status === 'RUNNING';
    const took = (execution.stopDate || Date.now() / 1000) - execution.startDate;
    const actions = h('div', { class: 'actions' },
      running ? h('button', { type: 'button', class: 'danger', onclick: stop }, 'Stop execution') : null,
      REDRIVABLE.includes(execution.status) ? h('button', { type: 'button', onclick: redrive }, 'Redrive') : null,
      h('button', { type: 'button', onclick: () => { start.hidden = !start.hidden; } }, 'New execution'));
    put(headerBox, h('header', { class: 'page-head' },
      h('p', { class: 'crumbs' }, h('a', { href: '/console/' }, 'State machines'), ' / ',
        h('a', { href: machineHref(execution.stateMachineArn) }, arnName(execution.stateMachineArn))),
      h('h1', {}, execution.name, ' ', statusBadge(execution.status)),
      h('dl', { class: 'facts' },
        fact('ARN', h('span', { class: 'arn' }, execution.executionArn)),
        execution.stateMachineVersionArn ? fact('Version', h('a', { href: machineHref(execution.stateMachineVersionArn) }, execution.stateMachineVersionArn.split(':').pop())) : null,
        execution.stateMachineAliasArn ? fact('Alias', arnName(execution.stateMachineAliasArn)) : null,
        fact('Started', time(execution.startDate)),
        fact('Ended', execution.stopDate ? time(execution.stopDate) : '—'),
        fact('Duration', `${duration(took * 1000)}${running ? ' so far' : ''}`),
        execution.error ? fact('Error', h('span', { class: 'error-text' }, execution.error)) : null,
        execution.redriveCount ? fact('Redriven', `${execution.redriveCount} times`) : null),
      actions));
  }

  function drawIo() {
    put(ioBox, 
      h('div', { class: 'io' },
        h('div', {}, h('h3', {}, 'Input'), code(execution.input, 'Execution input')),
        h('div', {}, h('h3', {}, 'Output'), execution.output !== undefined ? code(execution.output, 'Execution output')
          : h('p', { class: 'empty' }, execution.status === 'RUNNING' ? 'Not yet: the execution is running.' : 'None.'))),
      execution.error || execution.cause
        ? h('div', { class: 'error-box' }, h('h3', {}, 'Error'), h('p', {}, h('strong', {}, execution.error || '')), code(execution.cause || '', 'Cause'))
        : null);
  }

  function drawPanel() {
    if (!selected) {
      put(panel, h('h2', {}, 'State'), h('p', { class: 'muted' }, 'Select a state in the graph to see its input, output, error and events.'));
      return;
    }
    const record = analysis.states.get(selected);
    const type = view.model ? view.model.types.get(selected) : '';
    const head = h('h2', {}, selected, ' ', h('span', { class: 'muted' }, type || ''));
    if (!record || !record.visits.length) {
      put(panel, head, statusBadge('NOT REACHED'), h('p', { class: 'muted' }, 'This execution has not entered this state.'));
      return;
    }
    const visits = record.visits;
    const index = chosenVisit !== null && chosenVisit < visits.length ? chosenVisit : visits.length - 1;
    const visit = visits[index];
    const picker = visits.length > 1
      ? h('label', { class: 'visit-picker' }, 'Visit ',
        (() => {
          const select = h('select', { 'aria-label': 'Visit' }, visits.map((v, i) => h('option', { value: i },
            `${i + 1} of ${visits.length} · ${v.status} · entered ${time(v.start).slice(11)}`)));
          select.value = String(index);
          select.addEventListener('change', () => { chosenVisit = Number(select.value); drawPanel(); });
          return select;
        })())
      : null;
    const end = visit.exited ? visit.exited.timestamp : (execution.stopDate || Date.now() / 1000);
    put(panel, head,
      h('p', {}, h('span', { class: `badge status-${record.status}` }, record.text)),
      picker,
      h('dl', { class: 'facts' },
        fact('Entered', time(visit.start)),
        fact('Exited', visit.exited ? time(visit.exited.timestamp) : '—'),
        fact('Duration', duration((end - visit.start) * 1000)),
        visit.retries ? fact('Retries', String(visit.retries)) : null),
      h('h3', {}, 'Input'), code(visit.input, `Input of ${selected}`),
      h('h3', {}, 'Output'), visit.output !== undefined ? code(visit.output, `Output of ${selected}`) : h('p', { class: 'empty' }, visit.exited ? 'None.' : 'Not yet.'),
      visit.error || visit.cause ? [h('h3', {}, 'Error'), h('p', { class: 'error-text' }, visit.error || ''), code(visit.cause || '', `Cause of ${selected}`)] : null,
      h("h3", {}, `Events (${visit.events.length})`),
      h('ol', { class: 'state-events' }, visit.events.map((e) => h('li', {},
        h('details', {}, h('summary', {}, h('span', { class: 'num' }, `#${e.id}`), ` ${e.type} `, h('span', { class: 'muted' }, time(e.timestamp).slice(11))),
          h('pre', { class: 'json' }, pretty(JSON.stringify(details(e)))))))));
  }

  function select(name, visit = null) {
    selected = name;
    chosenVisit = visit;
    if (view.drawn) view.drawn.select(name);
    drawPanel();
  }

  // A visit picked on the timeline: its state, at that visit.
  function pick(visit) {
    const record = analysis.states.get(visit.name);
    select(visit.name, record ? record.visits.indexOf(visit) : null);
    panel.scrollIntoView({ block: 'nearest' });
  }

  function update(fresh) {
    analysis = analyze(events, execution, view.model);
    if (view.drawn) paint(view.drawn, analysis.states);
    table.add(fresh, analysis.owner);
    put(timelineBox, timeline(analysis.visits, execution, Date.now() / 1000, pick));
    drawHeader();
    drawIo();
    drawPanel();
    main.dataset.status = execution.status;
    main.dataset.events = String(events.length);
  }

  let timer = null;
  let alive = true;
  page$.leave = () => { alive = false; clearTimeout(timer); };

  async function refresh() {
    try {
      const described = await call('DescribeExecution', { executionArn: arn });
      const fresh = await eventsAfter(arn, events.length ? events[events.length - 1].id : 0);
      if (!alive) return;
      execution = described;
      events.push(...fresh);
      update(fresh);
    } catch (e) {
      if (alive) alertError(e, 'Refreshing the execution');
    }
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (alive && execution.status === 'RUNNING') timer = setTimeout(refresh, POLL_MS);
  }

  async function stop() {
    if (!window.confirm(`Stop the execution ${execution.name}?`)) return;
    try {
      await call('StopExecution', { executionArn: arn });
    } catch (e) {
      alertError(e, 'Stopping the execution');
    }
    await refresh();
  }

  async function redrive() {
    try {
      await call('RedriveExecution', { executionArn: arn });
    } catch (e) {
      alertError(e, 'Redriving the execution');
      return;
    }
    execution.status = 'RUNNING';
    await refresh();
  }

  const legend = h('ul', { class: 'legend', 'aria-label': 'Colours' },
    LEGEND.map(([status, label]) => h('li', {}, h('span', { class: `swatch status-${status}` }), label)));
  put(main, headerBox, start,
    h('div', { class: 'execution-grid' },
      h('section', { class: 'card graph-card', 'aria-label': 'Graph' }, legend, view.element),
      panel),
    h('section', { class: 'card' }, lower.element));
  update(events);
  // When the page is first drawn in full (bench/console.py reads both marks).
  performance.mark('cairn:execution-drawn');
  schedule();
}

function fact(term, value) {
  return [h('dt', {}, term), h('dd', {}, value)];
}

