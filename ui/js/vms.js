// The VM list (search, filter by host and state, sort, pages of 50: fast
// with 20,000 VMs) and the "New VM" dialog.

import * as api from "./api.js";
import { h, fill, state, stateName, mib, unavailable, ask, field, choice, toast, every } from "./dom.js";
import { createTable } from "./table.js";
import { jobPanel } from "./jobwatch.js";

export function render(main, { signal, query, setQuery, canWrite }) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const jobsBox = h("div", { id: "vm-jobs" });
  const newButton = canWrite ? h("button", { type: "button", id: "new-vm", onclick: () => createVm() }, "New VM") : null;
  fill(main, h("h1", {}, "Virtual machines"), h("div", { class: "actions" }, newButton), jobsBox,
    h("section", { class: "panel" }, body));

  const table = createTable({
    state: Object.fromEntries(query.entries()),
    onState: (s) => setQuery({ q: s.q, host: s.host, state: s.state, sort: s.sort === "name" ? "" : s.sort, dir: s.dir === 1 ? "" : s.dir, page: s.page || "" }),
    search: (r) => r.name,
    placeholder: "VM name…",
    filters: [
      { name: "host", label: "Host", options: (rows) => uniq(rows.map((r) => r.host)).map((x) => [x, x]), test: (r, v) => r.host === v },
      { name: "state", label: "State", options: (rows) => uniq(rows.map((r) => stateName(r.state))).map((x) => [x, x]), test: (r, v) => stateName(r.state) === v },
    ],
    columns: [
      { key: "name", label: "Name", render: (r) => h("a", { href: `#/vms/${encodeURIComponent(r.name)}` }, r.name) },
      { key: "host", label: "Host" },
      { key: "state", label: "State", value: (r) => stateName(r.state), render: (r) => state(r.state) },
      { key: "vcpus", label: "vCPUs", num: true, wide: true },
      { key: "memory_mib", label: "Memory", num: true, render: (r) => mib(r.memory_mib) },
    ],
  });
  if (query.get("dir")) table.state.dir = Number(query.get("dir")) || 1;
  if (query.get("page")) table.state.page = Number(query.get("page")) || 0;
  let shown = false;
  async function load() {
    try {
      const vms = await api.get("/vms", { signal });
      table.setRows(vms);
      if (!shown) { fill(body, table.el); shown = true; }
    } catch (e) {
      if (!signal.aborted) { fill(body, unavailable("virtual machines", e)); shown = false; }
    }
  }
  load();
  // A big list costs a few MB per refresh: refresh it less often.
  let last = Date.now();
  every(5000, async () => {
    const rows = table.size();
    if (Date.now() - last < (rows > 2000 ? 60000 : 15000)) return;
    last = Date.now();
    await load();
  }, signal);

  async function createVm() {
    const [hosts, pools] = await Promise.all([
      api.get("/hosts").catch(() => []),
      api.get("/pools").catch(() => []),
    ]);
    const form = await ask({
      title: "New VM",
      confirm: "Create",
      body: [
        field("Name", { name: "name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._-]{0,63}", autocomplete: "off", title: "letters, digits, . _ -" }),
        h("div", { class: "form-row" },
          h("div", {}, field("vCPUs", { name: "vcpus", type: "number", min: 1, max: 256, value: 1, required: true })),
          h("div", {}, field("Memory (MiB)", { name: "memory_mib", type: "number", min: 64, step: 64, value: 512, required: true }))),
        choice("Host", "host", [["", "placement chooses"], ...hosts.filter((x) => x.health === "Up").map((x) => [x.name, x.name])]),
        choice("Service pool", "pool", [["", "none (data centre)"], ...pools.filter((p) => p.kind === "service").map((p) => [p.name, p.name])]),
      ],
    });
    if (!form) return;
    const req = { template: { name: form.name, vcpus: Number(form.vcpus), memory_mib: Number(form.memory_mib) } };
    if (form.host) req.host = form.host;
    if (form.pool) req.pool = form.pool;
    try {
      const r = await api.post("/vms", req);
      jobsBox.prepend(jobPanel(r.job, {
        title: `create ${form.name}`,
        signal,
        onDone: (job) => {
          toast(`create ${form.name}: ${job.state}`, job.state !== "succeeded");
          load();
        },
      }));
    } catch (e) {
      toast(`Cannot create ${form.name}: ${e.message}`, true);
    }
  }
}

function uniq(xs) {
  return [...new Set(xs)].sort(new Intl.Collator("en", { numeric: true }).compare);
}
