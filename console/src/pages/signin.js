// The sign-in form, shown when the API has access keys and the visitor has no session:
// an access key id and its secret, sent once; the server answers with an HttpOnly
// session cookie (crates/api/src/console/session.rs). The secret is never kept here.
import { auth } from '../api.js';
import { h, put, alertError, clearAlerts } from '../dom.js';

export function signInPage(main, done) {
  document.title = 'Sign in · Cairn console';
  const key = h('input', { type: 'text', name: 'accessKeyId', id: 'access-key-id', autocomplete: 'username', required: true, spellcheck: 'false' });
  const secret = h('input', { type: 'password', name: 'secretAccessKey', id: 'secret-access-key', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'sign-in', onsubmit: async (event) => {
    event.preventDefault();
    clearAlerts();
    submit.disabled = true;
    try {
      const session = await auth('sign-in', { accessKeyId: key.value.trim(), secretAccessKey: secret.value });
      secret.value = '';
      done(session.accessKeyId);
    } catch (e) {
      secret.value = '';
      alertError(e, 'Signing in');
      submit.disabled = false;
    }
  } },
  h('label', { for: 'access-key-id' }, 'Access key ID'), key,
  h('label', { for: 'secret-access-key' }, 'Secret access key'), secret,
  submit);
  put(main,
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'This Cairn requires signed API requests. Sign in with one of its API access keys: the console then acts with that key\'s permissions.'),
    form);
  key.focus();
}
