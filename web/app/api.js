// The client of the public JSON API: cookies carry the session (the browser
// keeps them; this script never sees a session token), the only secret held
// here is the CSRF token, echoed in X-CSRF-Token on every write. A 401 is
// answered by one POST /auth/refresh and one retry.

/** Where the API lives: `?api=` in the page's address, else the
 *  `<meta name="tozalash-api">` of the page, else this origin. */
export const API_BASE = (() => {
  const fromQuery = new URLSearchParams(location.search).get('api');
  const meta = document.querySelector('meta[name="tozalash-api"]');
  const base = fromQuery || (meta && meta.content) || '';
  return base.replace(/\/+$/, '') + '/api/v1';
})();

let csrfToken = null;

/** The CSRF token: the last one an answer carried, else the readable cookie
 *  (only there when the page is on the API's own host). */
function csrf() {
  if (csrfToken) return csrfToken;
  const cookie = document.cookie.split('; ').find((c) => c.startsWith('csrf_token='));
  return cookie ? decodeURIComponent(cookie.slice('csrf_token='.length)) : null;
}

/** An API error: the problem+json body, with its `code` and field `errors`. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || 'network';
    this.errors = Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
let refreshing = null;

async function send(method, path, body, headers) {
  const init = { method, credentials: 'include', headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const token = csrf();
  if (UNSAFE.has(method) && token) init.headers['X-CSRF-Token'] = token;
  let response;
  try {
    response = await fetch(API_BASE + path, init);
  } catch (e) {
    throw new ApiError(0, { code: 'network', detail: String(e) });
  }
  const fresh = response.headers.get('X-CSRF-Token');
  if (fresh) csrfToken = fresh;
  return response;
}

async function decode(response) {
  if (response.status === 204 || response.status === 202 && !response.headers.get('Content-Type')) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** POST /auth/refresh once for every caller waiting on it; true when the
 *  session was renewed. */
export function refresh() {
  if (!refreshing) {
    refreshing = send('POST', '/auth/refresh')
      .then((r) => r.ok)
      .catch(() => false)
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

const NO_RETRY = ['/auth/login', '/auth/refresh', '/auth/logout', '/auth/signup'];

/** Calls the API; JSON in, JSON out; throws ApiError. */
export async function api(method, path, body, headers = {}) {
  let response = await send(method, path, body, headers);
  if (response.status === 401 && !NO_RETRY.includes(path) && await refresh()) {
    response = await send(method, path, body, headers);
  }
  return decode(response);
}

/** On load: the CSRF token of the session the cookies hold, if any. */
export async function loadCsrf() {
  try {
    const response = await send('GET', '/auth/csrf');
    if (response.ok) {
      const data = await response.json().catch(() => null);
      const token = response.headers.get('X-CSRF-Token') || (data && (data.csrfToken || data.token));
      if (token) csrfToken = token;
    }
  } catch { /* no session yet */ }
}

export function forgetCsrf() { csrfToken = null; }

/** A random Idempotency-Key (works outside secure contexts too). */
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
