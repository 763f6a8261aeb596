/**
 * The users service's JSON API (JSend bodies), as the page needs it.
 *
 * Every failure becomes a ServiceError whose message can be shown to a person:
 * the service's own message when it sent one, otherwise what went wrong.
 */

export const NETWORK_FAILURE =
  'Could not reach the users service. Check your connection and try again.';

export class ServiceError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ServiceError';
  }
}

/** Return the service's base URL: VITE_USERS_SERVICE_URL, or '' for the page's origin. */
export function usersServiceUrl(env = import.meta.env) {
  return (env.VITE_USERS_SERVICE_URL ?? '').trim().replace(/\/+$/, '');
}

const BASE_URL = usersServiceUrl();

/** Return every user, in the service's order. */
export async function getUsers({ signal } = {}) {
  const body = await request('/users', { signal });
  return body.data.users;
}

/** Add a user and return the service's confirmation message. */
export async function addUser({ username, email }) {
  const body = await request('/users', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, email }),
  });
  return body.message;
}

async function request(path, options) {
  let response;
  try {
    response = await fetch(`${BASE_URL}${path}`, {
      ...options,
      headers: { Accept: 'application/json', ...options.headers },
    });
  } catch (error) {
    // An aborted request is the caller's doing, not a failure to report.
    if (error?.name === 'AbortError') throw error;
    throw new ServiceError(NETWORK_FAILURE);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok || body?.status !== 'success') {
    throw new ServiceError(describeFailure(response, body));
  }
  return body;
}

function describeFailure(response, body) {
  if (typeof body?.message === 'string' && body.message) {
    return body.detail ? `${body.message} ${body.detail}` : body.message;
  }
  return `The users service answered with an error (HTTP ${response.status}).`;
}
