// The form that starts an execution of a machine (or a version or alias) with an input.
import { call } from '../api.js';
import { h, alertError } from '../dom.js';
import { executionHref } from '../links.js';
import { go } from '../main.js';

export function startForm(machineArn, input = '{}') {
  const name = h('input', { type: 'text', name: 'name', maxlength: 80, placeholder: 'a new UUID when empty', 'aria-label': 'Execution name' });
  const text = h('textarea', { name: 'input', rows: 8, spellcheck: 'false', 'aria-label': 'Execution input (JSON)' });
  text.value = input;
  const problem = h('p', { class: 'form-error', role: 'status' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Start execution');
  const form = h('form', { class: 'start-form' },
    h('label', {}, 'Name', name),
    h('label', {}, 'Input (JSON)', text),
    problem,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.textContent = '';
    try {
      JSON.parse(text.value);
    } catch (e) {
      problem.textContent = `The input is not JSON: ${e.message}`;
      return;
    }
    submit.disabled = true;
    try {
      const started = await call('StartExecution', {
        stateMachineArn: machineArn, input: text.value, ...(name.value.trim() ? { name: name.value.trim() } : {}),
      });
      go(executionHref(started.executionArn));
    } catch (e) {
      alertError(e, 'Starting the execution');
      problem.textContent = `${e.code}: ${e.message}`;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
