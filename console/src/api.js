// The console's one way to the server: a Step Functions operation through
// POST /console/api/<Operation>, with the API's own input and answer. The custom header
// and the JSON content type are what the server's guard asks of every call (a page on
// another site cannot send them), see crates/api/src/console/guard.rs.

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** What the server says when a call needs a session: the page asks for a sign-in. */
export const SIGN_IN_NEEDED = 'Console request refused: sign in first';

let signedOut = () => {};

/** Called when a call finds the session gone (expired, or the key rotated). */
export function onSignedOut(handler) {
  signedOut = handler;
}

/** The sign-in's own calls: POST /console/auth/<action> (status, sign-in, sign-out). */
export function auth(action, input = {}) {
  return post(`/console/auth/${action}`, input);
}

export async function call(operation, input = {}) {
  try {
    return await post(`/console/api/${operation}`, input);
  } catch (e) {
    if (e.status === 403 && String(e.message).startsWith(SIGN_IN_NEEDED)) signedOut();
    throw e;
  }
}

async function post(path, input) {
  let response;
  try {
    response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Cairn-Console': '1' },
      body: JSON.stringify(input),
      credentials: 'same-origin',
    });
  } catch (e) {
    throw new ApiError('NetworkError', `Cairn did not answer: ${e.message}`, 0);
  }
  const text = await response.text();
  let body;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError('InvalidResponse', `Cairn answered something that is not JSON (HTTP ${response.status})`, response.status);
  }
  if (!response.ok) {
    const code = String(body.__type || 'Error').split('#').pop();
    throw new ApiError(code, body.message || body.Message || `HTTP ${response.status}`, response.status);
  }
  return body;
}

/** Every page of a listing: `member` is the list's name in the answer. */
export async function all(operation, input, member, max = 10000) {
  const items = [];
  let token;
  do {
    const page = await call(operation, { ...input, ...(token ? { nextToken: token } : {}) });
    items.push(...(page[member] || []));
    token = page.nextToken;
  } while (token && items.length < max);
  return items;
}
