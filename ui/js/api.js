// The REST API as the console uses it: the session cookie authenticates
// (the browser sends it), every change carries the session's CSRF token.

let me = null;

/** An error answer of the API (an RFC 9457 problem body when it has one). */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

const listeners = new Set();
/** `f()` runs when a call finds the session gone (401). */
export function onLoggedOut(f) { listeners.add(f); }

async function call(method, path, body, opts = {}) {
  // The marker header keeps the server from answering 401 with a Basic
  // challenge, which would make the browser pop up its own dialog.
  const headers = { "X-Requested-With": "vine-console", Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && me && me.csrf) headers["X-CSRF-Token"] = me.csrf;
  const r = await fetch("/api/v1" + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal: opts.signal,
  });
  if (r.status === 204) return null;
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!r.ok) {
    if (r.status === 401 && path !== "/session" && me) {
      me = null;
      for (const f of listeners) f();
    }
    throw new ApiError(r.status, data);
  }
  return data;
}

export const get = (path, opts) => call("GET", path, undefined, opts);
export const post = (path, body) => call("POST", path, body === undefined ? {} : body);
export const del = (path) => call("DELETE", path);

/** Logs in; the session's user, role and CSRF token. */
export async function login(user, password) {
  me = await call("POST", "/session", { user, password });
  return me;
}

/** The current session, or null when there is none. */
export async function whoami() {
  try {
    me = await get("/session");
  } catch (e) {
    if (e.status === 401) { me = null; return null; }
    throw e;
  }
  return me;
}

export async function logout() {
  try { await del("/session"); } finally { me = null; }
}

export function user() { return me; }
/** Readers see no action buttons (the API refuses them anyway). */
export function canWrite() { return !!me && me.role === "admin"; }

/** `/vms/<name>` with the name encoded. */
export function path(...segs) {
  return "/" + segs.map(encodeURIComponent).join("/");
}
