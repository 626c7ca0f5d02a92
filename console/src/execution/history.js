// Reading an execution's history: all of it, then only what is new.
import { call } from '../api.js';

/** Every event, in id order. */
export async function fullHistory(executionArn) {
  const events = [];
  let token;
  do {
    const page = await call('GetExecutionHistory', { executionArn, maxResults: 1000, ...(token ? { nextToken: token } : {}) });
    events.push(...page.events);
    token = page.nextToken;
  } while (token);
  return events;
}

/** The events after `lastId`, in id order: read newest first until `lastId` is reached. */
export async function eventsAfter(executionArn, lastId) {
  const fresh = [];
  let token;
  do {
    const page = await call('GetExecutionHistory', { executionArn, maxResults: 100, reverseOrder: true, ...(token ? { nextToken: token } : {}) });
    let reached = false;
    for (const event of page.events) {
      if (event.id <= lastId) { reached = true; break; }
      fresh.push(event);
    }
    token = reached ? undefined : page.nextToken;
  } while (token);
  return fresh.reverse();
}
