// The list of state machines.
import { all } from '../api.js';
import { h, put, time, alertError } from '../dom.js';
import { machineHref } from '../links.js';

export async function machinesPage(main) {
  document.title = 'State machines · Cairn console';
  let machines;
  try {
    machines = await all('ListStateMachines', { maxResults: 1000 }, 'stateMachines');
  } catch (e) {
    alertError(e, 'Listing state machines');
    put(main, h('h1', {}, 'State machines'));
    return;
  }
  const rows = machines.map((m) => h('tr', {},
    h('td', {}, h('a', { href: machineHref(m.stateMachineArn) }, m.name)),
    h('td', {}, m.type),
    h('td', {}, time(m.creationDate)),
    h('td', { class: 'arn' }, m.stateMachineArn)));
  put(main, 
    h('h1', {}, 'State machines'),
    machines.length
      ? h('table', { class: 'list' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Type'), h('th', {}, 'Created'), h('th', {}, 'ARN'))),
        h('tbody', {}, rows))
      : h('p', { class: 'empty' }, 'No state machines yet. Create one with the Step Functions API, for example ',
        h('code', {}, 'aws stepfunctions create-state-machine'), ' with this server as the endpoint.'));
}
