// The jobs list, live: the list once, then every change as the server
// streams it (`/jobs/stream`; polling every 2 s when the stream cannot be
// used). Filter by kind and state, cancel what has not finished (admins).

import * as api from "./api.js";
import { h, fill, state, when, toast, unavailable } from "./dom.js";
import { createTable } from "./table.js";
import { describe, isFinal } from "./jobwatch.js";
import { follow } from "./stream.js";

const STATES = ["queued", "running", "retrying", "succeeded", "failed", "cancelled"];
/** Jobs kept in the page (the newest); the API lists 500 at a time. */
const KEEP = 2000;

export function render(main, { signal, query, setQuery, canWrite }) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  fill(main, h("h1", {}, "Jobs"), h("section", { class: "panel" }, body));
  const columns = [
    { key: "created_at", label: "Created", render: (j) => when(j.created_at) },
    { key: "what", label: "What", value: (j) => describe(j), render: (j) => describe(j) },
    { key: "state", label: "State", render: (j) => state(j.state, true) },
    { key: "progress", label: "Progress", num: true, render: (j) => `${j.progress}%` },
    { key: "note", label: "Note", wrap: true, render: (j) => (j.error ? h("span", { class: "error" }, j.error) : j.note || "") },
    { key: "owner", label: "By", wide: true },
    { key: "id", label: "Id", wide: true },
  ];
  if (canWrite) {
    columns.push({
      key: "cancel", label: "", value: null,
      render: (j) => (isFinal(j) || j.cancel_requested ? "" : h("button", {
        type: "button", class: "quiet", "data-cancel": j.id,
        onclick: async (e) => {
          e.target.disabled = true;
          try { await api.post(api.path("jobs", j.id, "cancel")); toast(`cancel requested: ${describe(j)}`); load(); } catch (err) { toast(`Cannot cancel: ${err.message}`, true); e.target.disabled = false; }
        },
      }, "Cancel")),
    });
  }
  const table = createTable({
    state: { sort: "created_at", dir: -1, ...Object.fromEntries(query.entries()) },
    onState: (s) => setQuery({ q: s.q, kind: s.kind, state: s.state }),
    search: (j) => `${describe(j)} ${j.id} ${j.owner || ""}`,
    filters: [
      { name: "kind", label: "Kind", options: (rows) => [...new Set(rows.map((j) => j.kind))].sort().map((k) => [k, k]), test: (j, v) => j.kind === v },
      { name: "state", label: "State", options: () => STATES.map((s) => [s, s]), test: (j, v) => j.state === v },
    ],
    columns,
    empty: "No jobs yet.",
  });
  let shown = false;
  const jobs = new Map();
  /** Keeps the newer of two versions of a job (by revision). */
  function put(j) {
    const old = jobs.get(j.id);
    if (!old || old.revision <= j.revision) jobs.set(j.id, j);
  }
  function show() {
    let list = [...jobs.values()];
    if (list.length > KEEP) {
      list = list.sort((a, b) => b.created_at - a.created_at).slice(0, KEEP);
      jobs.clear();
      for (const j of list) jobs.set(j.id, j);
    }
    table.setRows(list);
    if (!shown) { fill(body, table.el); shown = true; }
  }
  // The first list shows at once; after that, bursts of changes redraw once.
  let queued = false;
  function draw() {
    if (!shown) { show(); return; }
    if (queued) return;
    queued = true;
    setTimeout(() => { queued = false; if (!signal.aborted) show(); }, 50);
  }
  async function load() {
    try {
      for (const j of await api.get("/jobs", { signal })) put(j);
      draw();
    } catch (e) {
      if (!signal.aborted) { fill(body, unavailable("jobs", e)); shown = false; }
    }
  }
  // The list at once, and again whenever the stream (re)opens: what
  // changed in between is then not missed.
  load();
  follow("jobs", "jobs/stream", { type: "job", onMessage: (j) => { put(j); draw(); }, onOpen: load, poll: load, pollMs: 2000, signal });
}
