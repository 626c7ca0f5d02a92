// A state machine (or one of its versions): what it is, its graph and definition, its
// versions and aliases, and its executions with a status filter, a search by name and
// pages.
import { call, all } from '../api.js';
import { h, put, time, duration, code, statusBadge, alertError, arnName, tabs } from '../dom.js';
import { machineHref, executionHref } from '../links.js';
import { graphView } from '../graph/view.js';
import { startForm } from './start.js';

const STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'];
const PAGE_SIZE = 25;

export async function machinePage(main, arn) {
  let machine;
  try {
    machine = await call('DescribeStateMachine', { stateMachineArn: arn });
  } catch (e) {
    document.title = 'State machine · Cairn console';
    put(main, h('h1', {}, arnName(arn)), h('p', { class: 'empty' }, `${e.code}: ${e.message}`));
    return;
  }
  const isVersion = /:\d+$/.test(arn) && arn.split(':').length === 8;
  const name = machine.name || arnName(arn);
  document.title = `${name} · Cairn console`;
  const view = graphView(machine.definition, { label: `Graph of ${name}` });
  const start = h('div', { class: 'card', hidden: true }, h('h2', {}, 'New execution'), startForm(arn));
  const header = h('header', { class: 'page-head' },
    h('p', { class: 'crumbs' }, h('a', { href: '/console/' }, 'State machines'), isVersion ? [' / ', h('a', { href: machineHref(machine.stateMachineArn || arn.replace(/:\d+$/, '')) }, name)] : null),
    h('h1', {}, name, isVersion ? ` (version ${arn.split(':').pop()})` : ''),
    h('dl', { class: 'facts' },
      fact('ARN', h('span', { class: 'arn' }, arn)),
      fact('Type', machine.type),
      fact('Status', machine.status),
      fact('Created', time(machine.creationDate)),
      fact('Role', h('span', { class: 'arn' }, machine.roleArn)),
      machine.description ? fact('Description', machine.description) : null),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', onclick: () => { start.hidden = !start.hidden; } }, 'Start execution')));
  const definition = tabs([
    { id: 'graph', label: 'Graph', render: () => view.element },
    { id: 'definition', label: 'Definition (JSON)', render: () => code(machine.definition, 'Definition') },
  ]);
  const executions = h('section', { class: 'card' }, h('h2', {}, 'Executions'));
  const related = h('section', { class: 'card' }, h('h2', {}, 'Versions and aliases'));
  put(main, header, start, h('section', { class: 'card' }, definition.element), executions, related);
  if (machine.type === 'EXPRESS') {
    executions.append(h('p', { class: 'empty' }, 'Express executions are not recorded: their results are returned to the caller (StartSyncExecution) or logged.'));
  } else {
    executionsList(executions, arn);
  }
  if (isVersion) related.remove();
  else versionsAndAliases(related, arn);
}

function fact(term, value) {
  return [h('dt', {}, term), h('dd', {}, value)];
}

function executionsList(section, machineArn) {
  const status = h('select', { 'aria-label': 'Status filter' }, h('option', { value: '' }, 'All statuses'),
    STATUSES.map((s) => h('option', { value: s }, s)));
  const search = h('input', { type: 'search', placeholder: 'Execution name', 'aria-label': 'Search by name' });
  const table = h('tbody');
  const info = h('p', { class: 'muted', role: 'status' });
  const newer = h('button', { type: 'button', disabled: true }, '← Newer');
  const older = h('button', { type: 'button', disabled: true }, 'Older →');
  // The tokens of the pages before this one: Newer goes back along them.
  let tokens = [];
  let current;
  let next;

  const row = (e) => h('tr', { 'data-execution': e.executionArn },
    h('td', {}, h('a', { href: executionHref(e.executionArn) }, e.name)),
    h('td', {}, statusBadge(e.status)),
    h('td', {}, time(e.startDate)),
    h('td', {}, time(e.stopDate)),
    h('td', {}, e.stopDate ? duration((e.stopDate - e.startDate) * 1000) : ''));

  async function load(token) {
    info.textContent = 'Loading…';
    try {
      const page = await call('ListExecutions', {
        stateMachineArn: machineArn, maxResults: PAGE_SIZE,
        ...(status.value ? { statusFilter: status.value } : {}), ...(token ? { nextToken: token } : {}),
      });
      current = token;
      next = page.nextToken;
      table.replaceChildren(...page.executions.map(row));
      info.textContent = page.executions.length ? `Page ${tokens.length + 1}` : 'No executions.';
      newer.disabled = tokens.length === 0;
      older.disabled = !next;
    } catch (e) {
      info.textContent = '';
      alertError(e, 'Listing executions');
    }
  }

  // An execution's ARN is its machine's with its own name: the search is one lookup.
  async function find(name) {
    const parts = machineArn.split(':');
    const base = [...parts.slice(0, 5), 'execution', parts[6]].join(':');
    info.textContent = 'Searching…';
    try {
      const e = await call('DescribeExecution', { executionArn: `${base}:${name}` });
      table.replaceChildren(row(e));
      info.textContent = `The execution named “${name}”.`;
    } catch (e) {
      table.replaceChildren();
      info.textContent = e.code === 'ExecutionDoesNotExist' || e.code === 'InvalidArn' || e.code === 'ValidationException'
        ? `No execution of this machine is named “${name}”.` : '';
      if (!info.textContent) alertError(e, 'Searching');
    }
    newer.disabled = true;
    older.disabled = true;
  }

  status.addEventListener('change', () => { tokens = []; search.value = ''; load(undefined); });
  const form = h('form', { class: 'filters', role: 'search' }, status, search, h('button', { type: 'submit' }, 'Search'),
    h('button', { type: 'button', onclick: () => { search.value = ''; tokens = []; load(undefined); } }, 'Clear'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = search.value.trim();
    if (name) find(name);
    else { tokens = []; load(undefined); }
  });
  newer.addEventListener('click', () => { const t = tokens.pop(); load(t); });
  older.addEventListener('click', () => { tokens.push(current); load(next); });
  section.append(form,
    h('table', { class: 'list executions' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Status'), h('th', {}, 'Started'), h('th', {}, 'Ended'), h('th', {}, 'Duration'))),
      table),
    h('div', { class: 'pager' }, newer, info, older));
  load(undefined);
}

async function versionsAndAliases(section, machineArn) {
  try {
    const [versions, aliases] = await Promise.all([
      all('ListStateMachineVersions', { stateMachineArn: machineArn, maxResults: 1000 }, 'stateMachineVersions'),
      all('ListStateMachineAliases', { stateMachineArn: machineArn, maxResults: 100 }, 'stateMachineAliases'),
    ]);
    const described = await Promise.all(aliases.map((a) => call('DescribeStateMachineAlias', { stateMachineAliasArn: a.stateMachineAliasArn })));
    section.append(
      h('h3', {}, 'Versions'),
      versions.length
        ? h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, 'Version'), h('th', {}, 'Created'))),
          h('tbody', {}, versions.map((v) => h('tr', {},
            h('td', {}, h('a', { href: machineHref(v.stateMachineVersionArn) }, `Version ${v.stateMachineVersionArn.split(':').pop()}`)),
            h('td', {}, time(v.creationDate))))))
        : h('p', { class: 'empty' }, 'No published versions.'),
      h('h3', {}, 'Aliases'),
      described.length
        ? h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, 'Alias'), h('th', {}, 'Routes to'), h('th', {}, 'Created'))),
          h('tbody', {}, described.map((a) => h('tr', {},
            h('td', {}, a.name),
            h('td', {}, (a.routingConfiguration || []).map((r) => h('div', {},
              h('a', { href: machineHref(r.stateMachineVersionArn) }, `Version ${r.stateMachineVersionArn.split(':').pop()}`), ` · ${r.weight}%`))),
            h('td', {}, time(a.creationDate))))))
        : h('p', { class: 'empty' }, 'No aliases.'));
  } catch (e) {
    alertError(e, 'Listing versions and aliases');
  }
}
