// The jobs list, live: filter by kind and state, cancel what has not
// finished (admins).

import * as api from "./api.js";
import { h, fill, state, when, toast, unavailable, every } from "./dom.js";
import { createTable } from "./table.js";
import { describe, isFinal } from "./jobwatch.js";

const STATES = ["queued", "running", "retrying", "succeeded", "failed", "cancelled"];

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
  async function load() {
    try {
      table.setRows(await api.get("/jobs", { signal }));
      if (!shown) { fill(body, table.el); shown = true; }
    } catch (e) {
      if (!signal.aborted) { fill(body, unavailable("jobs", e)); shown = false; }
    }
  }
  load();
  every(2000, load, signal);
}
