// Following a job live: long-poll `GET /jobs/{id}?wait=<revision>`, which
// answers as soon as the job changes (or after a while with no change).

import * as api from "./api.js";
import { h, fill, state } from "./dom.js";

const FINAL = new Set(["succeeded", "failed", "cancelled"]);
export const isFinal = (job) => FINAL.has(job.state);

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  if (signal) signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

/** Calls `onUpdate(job)` on every change until the job is final; returns it. */
export async function watchJob(id, onUpdate, signal) {
  let rev = null;
  let failures = 0;
  for (;;) {
    if (signal && signal.aborted) return null;
    let job;
    try {
      job = await api.get(api.path("jobs", id) + (rev === null ? "" : `?wait=${rev}`), { signal });
      failures = 0;
    } catch (e) {
      if (signal && signal.aborted) return null;
      if (e.status === 404 || e.status === 401 || ++failures > 5) throw e;
      await sleep(1000 * failures, signal);
      continue;
    }
    const changed = job.revision !== rev;
    if (changed) onUpdate(job);
    if (isFinal(job)) return job;
    // A server that does not hold the request open would have us spin.
    if (!changed) await sleep(1000, signal);
    rev = job.revision;
  }
}

/** What a job is doing, in words. */
export function describe(job) {
  const p = job.params || {};
  const what = p.vm || p.name || (p.template && p.template.name) || p.host || "";
  return `${job.kind}${what ? " " + what : ""}`;
}

/**
 * A live progress box for job `id`. `onDone(job)` runs once it is final.
 * The box stays (with the outcome) until the page changes.
 */
export function jobPanel(id, { title, onDone, signal } = {}) {
  const bar = h("progress", { max: 100, value: 0, "aria-label": `${title || id} progress` });
  const st = h("span", {}, "queued");
  const note = h("div", { class: "note" });
  const box = h("div", { class: "job", "data-job": id, "aria-live": "polite" },
    h("div", {}, h("strong", {}, title || id), " · ", st, " · ", h("a", { href: "#/jobs" }, id)),
    bar, note);
  watchJob(id, (job) => {
    bar.value = job.progress || (isFinal(job) ? 100 : 0);
    fill(st, state(job.state, true));
    box.dataset.state = job.state;
    note.textContent = job.error ? `error: ${job.error}` : (job.note || job.step || "");
    note.className = job.error && job.state === "failed" ? "note error" : "note";
  }, signal).then((job) => { if (job && onDone) onDone(job); })
    .catch((e) => { note.textContent = `cannot follow the job: ${e.message}`; note.className = "note error"; });
  return box;
}
