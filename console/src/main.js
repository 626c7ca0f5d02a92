// The console's entry: a router over the page's path, one module per page.
//   /console/                              state machines
//   /console/state-machines/<machine ARN>  a machine (or a version): graph, definition, executions
//   /console/executions/<execution ARN>    an execution
import { h, clearAlerts } from './dom.js';
import { machinesPage } from './pages/machines.js';
import { machinePage } from './pages/machine.js';
import { executionPage } from './pages/execution.js';
import { signInPage } from './pages/signin.js';
import { auth, onSignedOut } from './api.js';

const ROUTES = [
  [/^\/console\/?$/, machinesPage],
  [/^\/console\/state-machines\/(.+)$/, machinePage],
  [/^\/console\/executions\/(.+)$/, executionPage],
];

let leave = null;

/** Draws the page for the current path; the previous page's timers stop first. */
async function route() {
  if (leave) leave();
  leave = null;
  clearAlerts();
  const main = document.getElementById('main');
  for (const key of Object.keys(main.dataset)) delete main.dataset[key];
  const path = location.pathname;
  for (const [pattern, page] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    let arg;
    try {
      arg = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
    } catch {
      arg = match[1];
    }
    main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    const page$ = { leave: null };
    leave = () => page$.leave && page$.leave();
    await page(main, arg, page$);
    return;
  }
  document.title = 'Not found · Cairn console';
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'The console has no page at this address. ',
    h('a', { href: '/console/' }, 'State machines')));
}

/** Goes to a console address without reloading the page. */
export function go(path) {
  history.pushState(null, '', path);
  route();
  window.scrollTo(0, 0);
}

document.addEventListener('click', (event) => {
  const a = event.target.closest && event.target.closest('a[href]');
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/console') || a.target) return;
  event.preventDefault();
  go(url.pathname + url.search);
});
window.addEventListener('popstate', route);

/** Shows who is signed in (or that the console is open), then the page. */
async function start() {
  let status;
  try {
    status = await auth('status');
  } catch (e) {
    status = { open: false, accessKeyId: null };
  }
  const notice = document.querySelector('.open-notice');
  const session = document.querySelector('.session');
  notice.hidden = !status.open;
  session.hidden = true;
  if (!status.open && !status.accessKeyId) {
    if (leave) leave();
    leave = null;
    signInPage(document.getElementById('main'), () => start());
    return;
  }
  if (status.accessKeyId) {
    session.querySelector('.who').textContent = `Signed in as ${status.accessKeyId}`;
    session.hidden = false;
  }
  route();
}

document.querySelector('.sign-out').addEventListener('click', async () => {
  try {
    await auth('sign-out');
  } finally {
    start();
  }
});
onSignedOut(() => start());
start();
