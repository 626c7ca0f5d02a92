// What happened to each state of an execution, read from its history (the events of
// GetExecutionHistory, in id order). Pure: no DOM.
//
// An event belongs to the state whose `…StateEntered` event its `previousEventId` chain
// reaches first; each such entered event is one visit of the state. Map iteration
// events name their Map state in their details.
import { START, END } from '../graph/model.js';

const SUCCESS = /^(Task|LambdaFunction|Activity|ParallelState|MapState|MapRun|ChildWorkflowExecution)Succeeded$/;
const FAILURE = /^(Task|LambdaFunction|Activity|ParallelState|MapState|MapRun|ChildWorkflowExecution)(Failed|TimedOut|StartFailed|ScheduleFailed|SubmitFailed|StartTimedOut)$/;
const ATTEMPT = /^(TaskScheduled|LambdaFunctionScheduled|ActivityScheduled|ParallelStateStarted|MapStateStarted)$/;
const ITERATION = /^MapIteration(Started|Succeeded|Failed|Aborted)$/;

/** The details object of an event, whatever its key. */
export function details(event) {
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith('EventDetails') && value && typeof value === 'object') return value;
  }
  return {};
}

/**
 * {states: Map(name → StateRecord), visits: [Visit], owner: Map(event id → visit)}.
 * StateRecord: {name, status, text, visits, retries, iterations}. Visit: {name, id,
 * entered, exited, events, input, output, error, cause, retries, outcome, status, start,
 * end}; a visit's status is one of the state statuses, for that visit alone.
 */
export function analyze(events, execution, graph) {
  const byId = new Map();
  const owner = new Map();
  const visits = [];
  const types = graph ? graph.types : new Map();
  const parents = graph ? graph.parents : new Map();
  const openVisits = new Map();

  for (const event of events) {
    byId.set(event.id, event);
    const d = details(event);
    let visit;
    if (event.type.endsWith('StateEntered')) {
      visit = {
        name: d.name, id: event.id, entered: event, exited: null, events: [], input: d.input,
        output: undefined, error: undefined, cause: undefined, retries: 0, outcome: null,
        pendingFailure: false, start: event.timestamp, end: null,
        iterations: { started: 0, succeeded: 0, failed: 0, aborted: 0, length: undefined },
      };
      visits.push(visit);
      if (!openVisits.has(d.name)) openVisits.set(d.name, []);
      openVisits.get(d.name).push(visit);
    } else if (event.type.startsWith('Execution')) {
      owner.set(event.id, null);
      continue;
    } else if (ITERATION.test(event.type) && d.name) {
      visit = latestOpen(openVisits, d.name);
    } else {
      visit = owner.get(event.previousEventId) || null;
      // A Parallel's or Map's own events may point into one of its branches.
      const wanted = event.type.startsWith('ParallelState') ? 'Parallel'
        : (event.type.startsWith('MapState') || event.type.startsWith('MapRun')) ? 'Map' : null;
      if (visit && wanted && types.get(visit.name) !== wanted) {
        let name = visit.name;
        while (name && types.get(name) !== wanted) name = parents.get(name);
        visit = name ? latestOpen(openVisits, name) : visit;
      }
    }
    owner.set(event.id, visit);
    if (!visit) continue;
    visit.events.push(event);
    visit.end = event.timestamp;
    apply(visit, event, d);
    if (event.type.endsWith('StateExited')) {
      const open = openVisits.get(visit.name) || [];
      const i = open.indexOf(visit);
      if (i >= 0) open.splice(i, 1);
    }
  }

  const running = execution && execution.status === 'RUNNING';
  const states = new Map();
  for (const visit of visits) {
    if (!states.has(visit.name)) states.set(visit.name, { name: visit.name, visits: [], retries: 0 });
    const record = states.get(visit.name);
    record.visits.push(visit);
    record.retries += visit.retries;
  }
  for (const record of states.values()) summarize(record, running, types.get(record.name));
  if (execution) {
    states.set(START, { name: START, status: 'succeeded', text: '', visits: [] });
    const end = { SUCCEEDED: 'succeeded', FAILED: 'failed', TIMED_OUT: 'failed', ABORTED: 'aborted' }[execution.status];
    states.set(END, { name: END, status: end || 'not-reached', text: '', visits: [] });
  }
  return { states, visits, owner };
}

function latestOpen(openVisits, name) {
  const open = openVisits.get(name);
  return open && open.length ? open[open.length - 1] : null;
}

function apply(visit, event, d) {
  const type = event.type;
  if (type.endsWith('StateExited')) {
    visit.exited = event;
    visit.output = d.output;
  } else if (FAILURE.test(type)) {
    visit.outcome = 'failed';
    visit.pendingFailure = true;
    visit.error = d.error;
    visit.cause = d.cause;
  } else if (SUCCESS.test(type)) {
    visit.outcome = 'succeeded';
  } else if (ATTEMPT.test(type)) {
    if (visit.pendingFailure) visit.retries += 1;
    visit.pendingFailure = false;
    if (type === 'MapStateStarted' && Number.isInteger(d.length)) visit.iterations.length = d.length;
  } else if (ITERATION.test(type)) {
    const what = type.slice('MapIteration'.length).toLowerCase();
    visit.iterations[what] += 1;
  } else if (type === 'ParallelStateAborted' || type === 'MapStateAborted') {
    visit.outcome = 'aborted';
  }
}

/** One status per state, from its visits: the worst that happened to it decides. */
function summarize(record, running, type) {
  const visits = record.visits;
  let failed = 0;
  let caught = 0;
  let open = 0;
  let aborted = 0;
  for (const v of visits) {
    if (!v.exited) {
      if (type === 'Fail' || v.outcome === 'failed') v.status = 'failed';
      else if (running) v.status = 'running';
      else v.status = 'aborted';
    } else {
      v.status = v.outcome === 'failed' ? 'caught' : 'succeeded';
    }
    if (v.status === 'failed') failed += 1;
    else if (v.status === 'running') open += 1;
    else if (v.status === 'aborted') aborted += 1;
    else if (v.status === 'caught') caught += 1;
  }
  let status;
  if (failed) status = 'failed';
  else if (open) status = 'running';
  else if (aborted) status = 'aborted';
  else if (caught) status = 'caught';
  else status = 'succeeded';
  const words = { failed: 'failed', running: 'running', aborted: 'aborted', caught: 'caught', succeeded: 'succeeded' };
  const parts = [words[status]];
  if (record.retries) parts.push(`retried ${record.retries} ${record.retries === 1 ? 'time' : 'times'}`);
  if (visits.length > 1 && type !== 'Map') parts.push(`${visits.length}×`);
  if (type === 'Map') {
    const it = visits.reduce((sum, v) => {
      for (const k of ['started', 'succeeded', 'failed', 'aborted']) sum[k] += v.iterations[k];
      return sum;
    }, { started: 0, succeeded: 0, failed: 0, aborted: 0 });
    record.iterations = it;
    if (it.started) {
      parts.push(`${it.started} iteration${it.started === 1 ? '' : 's'}: ${it.succeeded} ok` +
        (it.failed ? `, ${it.failed} failed` : '') + (it.aborted ? `, ${it.aborted} aborted` : ''));
    }
  }
  record.status = status;
  record.text = parts.join(' · ');
}
