// Server-sent events from the API (`/jobs/stream`, `/events/stream`),
// with polling as the fallback. The open streams are in
// `window.vineStreams` (by name), for the browser tests and for anyone
// wondering why the page is live.

import { every } from "./dom.js";

window.vineStreams = window.vineStreams || {};

/** Errors in a row (without an open between) before we poll instead. */
const GIVE_UP_AFTER = 3;

/**
 * Follows `/api/v1/<path>`: `onMessage(data)` for each message of `type`,
 * `onOpen()` each time the stream (re)opens — the caller reloads what it
 * shows then, so what happened while it was away is not lost. When the
 * browser has no EventSource or the stream keeps failing, `poll()` runs
 * every `pollMs` instead. Everything stops when `signal` aborts.
 */
export function follow(name, path, { type, onMessage, onOpen, poll, pollMs = 2000, signal }) {
  let polling = false;
  function fallBack(why) {
    if (polling || signal.aborted) return;
    polling = true;
    window.vineStreams[name] = { readyState: -1, polling: true, why };
    poll();
    every(pollMs, poll, signal);
  }
  if (typeof EventSource !== "function") { fallBack("no EventSource"); return; }
  const es = new EventSource("/api/v1/" + path, { withCredentials: true });
  window.vineStreams[name] = es;
  let failures = 0;
  es.addEventListener(type, (e) => {
    let data;
    try { data = JSON.parse(e.data); } catch { return; }
    onMessage(data);
  });
  es.onopen = () => { failures = 0; if (onOpen) onOpen(); };
  es.onerror = () => {
    if (signal.aborted) return;
    // CLOSED: the browser gave up (an HTTP error such as 401); otherwise
    // it reconnects by itself with Last-Event-ID, unless that keeps failing.
    const closed = es.readyState === EventSource.CLOSED;
    if (closed || ++failures >= GIVE_UP_AFTER) {
      es.close();
      fallBack(closed ? "refused" : "failing");
    }
  };
  signal.addEventListener("abort", () => {
    es.close();
    if (window.vineStreams[name] === es) delete window.vineStreams[name];
  }, { once: true });
}
