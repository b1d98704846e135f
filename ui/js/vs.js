// Virtual servers: the list (nodes, front-end address, health), "New
// virtual server" from a node template, and one virtual server's page —
// each node with its host and health, scale and delete (admins), every
// change a job followed live.

import * as api from "./api.js";
import { h, fill, mib, when, ask, field, choice, toast, unavailable, every } from "./dom.js";
import { createTable } from "./table.js";
import { jobPanel } from "./jobwatch.js";

export function render(main, ctx) {
  return ctx.name ? vsPage(main, ctx) : listPage(main, ctx);
}

const HEALTH_WORDS = {
  up: "up", down: "down", unchecked: "not checked yet", maintenance: "maintenance",
  no_address: "no address yet", not_serving: "not serving", no_front_end: "no front end", unknown: "unknown",
};

/** A node's or front end's health as a badge (`state-up`, `state-down`, …). */
function badge(word, key) {
  return h("span", { class: `state vs-${key}` }, word);
}

function healthBadge(health) {
  return badge(HEALTH_WORDS[health] || health, health);
}

/** The front end in words: its address and whether HAProxy serves it. */
function frontEnd(fe) {
  const words = {
    serving: "serving", pending: "not on the balancer yet", removing: "being removed",
    none: "no front end", unknown: "balancer not answering",
  };
  return [fe.address ? h("code", {}, fe.address) : h("span", { class: "muted" }, "no address"), " ",
    badge(words[fe.state] || fe.state, `fe-${fe.state}`)];
}

/** "2 up, 1 not serving" */
function healthSummary(vs) {
  if (!vs.nodes.length) return "no nodes";
  const n = new Map();
  for (const x of vs.nodes) n.set(x.health, (n.get(x.health) || 0) + 1);
  return [...n.entries()].map(([k, c]) => `${c} ${HEALTH_WORDS[k] || k}`).join(", ");
}

/** What a page says about the load balancer, judged from the servers shown. */
function balancerNote(list) {
  if (!list.length) {
    return h("p", { class: "muted small", id: "vs-balancer", "data-balancer": "no-servers" },
      "Whether a load balancer (HAProxy) fronts virtual servers shows here once there is one.");
  }
  const none = list.find((v) => v.front_end.state === "none");
  if (none) {
    return h("p", { class: "notice", id: "vs-balancer", "data-balancer": "none" },
      h("strong", {}, "No front end. "), none.front_end.detail || "There is no load balancer: the nodes run, nothing balances them.");
  }
  if (list.some((v) => v.front_end.state === "unknown")) {
    const u = list.find((v) => v.front_end.state === "unknown");
    return h("p", { class: "notice", id: "vs-balancer", "data-balancer": "unknown" },
      h("strong", {}, "The load balancer does not answer: "), u.front_end.detail || "");
  }
  return h("p", { class: "muted small", id: "vs-balancer", "data-balancer": "haproxy" },
    "Front ends by HAProxy: each virtual server's address balances over its nodes.");
}

function listPage(main, { signal, canWrite }) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const note = h("div");
  const jobsBox = h("div", { id: "vs-jobs" });
  fill(main, h("h1", {}, "Virtual servers"),
    h("p", { class: "muted small" }, "A virtual server is a set of nodes (VMs), each on its own host, behind one front-end address."),
    canWrite ? h("div", { class: "actions" }, h("button", { type: "button", id: "new-vs", onclick: () => create() }, "New virtual server")) : null,
    note, jobsBox, h("section", { class: "panel" }, body));

  const table = createTable({
    search: (v) => `${v.name} ${v.nodes.map((n) => `${n.vm} ${n.host}`).join(" ")}`,
    placeholder: "name, node or host…",
    columns: [
      { key: "name", label: "Name", render: (v) => h("a", { href: `#/vs/${encodeURIComponent(v.name)}` }, v.name) },
      { key: "nodes", label: "Nodes", num: true, value: (v) => v.nodes.length, render: (v) => `${v.nodes.filter((n) => n.state === "ready").length} / ${v.desired}` },
      { key: "front", label: "Front end", value: (v) => v.front_end.address || "", render: (v) => frontEnd(v.front_end) },
      { key: "health", label: "Health", wrap: true, value: (v) => healthSummary(v), render: (v) => healthSummary(v) },
      { key: "hosts", label: "Hosts", wide: true, wrap: true, value: (v) => v.nodes.map((n) => n.host).join(", "), render: (v) => v.nodes.map((n) => n.host).join(", ") || "–" },
      { key: "job", label: "Busy", wide: true, value: (v) => v.job || "", render: (v) => (v.deleting ? "deleting" : v.job ? "a job is working on it" : "") },
    ],
    empty: "No virtual servers yet.",
  });
  let shown = false;
  async function load() {
    try {
      const list = await api.get("/vs", { signal });
      table.setRows(list);
      fill(note, balancerNote(list));
      if (!shown) { fill(body, table.el); shown = true; }
    } catch (e) {
      if (!signal.aborted) { fill(body, unavailable("virtual servers", e)); shown = false; }
    }
  }
  load();
  every(4000, load, signal);

  async function create() {
    const pools = await api.get("/pools").catch(() => []);
    const form = await ask({
      title: "New virtual server",
      confirm: "Create",
      body: [
        field("Name", { name: "name", required: true, pattern: "[A-Za-z][A-Za-z0-9_-]{0,47}", autocomplete: "off", title: "a letter, then letters, digits, _ or -; nodes are named <name>-<n>" }),
        h("div", { class: "form-row" },
          h("div", {}, field("Nodes", { name: "nodes", type: "number", min: 1, max: 64, value: 2, required: true })),
          h("div", {}, field("vCPUs per node", { name: "vcpus", type: "number", min: 1, max: 256, value: 1, required: true })),
          h("div", {}, field("Memory per node (MiB)", { name: "memory_mib", type: "number", min: 64, step: 64, value: 256, required: true }))),
        field("Disk image (optional)", { name: "image", autocomplete: "off", placeholder: "/var/lib/vine/images/web.qcow2" }),
        choice("Service pool", "pool", [["", "none (data centre)"], ...pools.filter((p) => p.kind === "service").map((p) => [p.name, p.name])]),
        h("p", { class: "muted small" }, "Each node goes on a host of its own."),
      ],
    });
    if (!form) return;
    const template = { vcpus: Number(form.vcpus), memory_mib: Number(form.memory_mib) };
    if (form.image) template.disks = [{ path: form.image, device: "vda" }];
    const req = { name: form.name, template, nodes: Number(form.nodes) };
    if (form.pool) req.pool = form.pool;
    try {
      const r = await api.post("/vs", req);
      jobsBox.prepend(jobPanel(r.job, {
        title: `create ${form.name}`, signal,
        onDone: (job) => { toast(`create ${form.name}: ${job.state}${job.error ? " — " + job.error : ""}`, job.state !== "succeeded"); load(); },
      }));
      load();
    } catch (e) {
      toast(`Cannot create ${form.name}: ${e.message}`, true);
    }
  }
}

function vsPage(main, { name, signal, canWrite }) {
  const settings = h("dl", { class: "settings", id: "vs-settings" });
  const nodesBox = h("div", { id: "vs-nodes" });
  const scaleBtn = h("button", { type: "button", "data-action": "scale", onclick: () => scale() }, "Scale…");
  const deleteBtn = h("button", { type: "button", class: "danger", "data-action": "delete", onclick: () => remove() }, "Delete…");
  // Built once: a refresh must not take the focus from under the keyboard.
  const actions = h("div", { class: "actions", id: "vs-actions" }, scaleBtn, deleteBtn);
  const jobsBox = h("div", { id: "vs-jobs" });
  const repairs = h("div", { id: "vs-repairs" });
  const note = h("div");
  const err = h("p", { class: "error", role: "alert" });
  fill(main,
    h("p", {}, h("a", { href: "#/vs" }, "← Virtual servers")),
    h("h1", {}, name), err, note,
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "vs-s-h" }, h("h2", { id: "vs-s-h" }, "Settings"), settings,
        canWrite ? [h("h2", { class: "mt" }, "Actions"), actions] : null, jobsBox),
      h("section", { class: "panel", "aria-labelledby": "vs-n-h" }, h("h2", { id: "vs-n-h" }, "Nodes"), nodesBox,
        h("h2", { class: "mt" }, "Repairs"), repairs)));

  let vs = null;
  let gone = false;
  async function load() {
    try {
      vs = await api.get(api.path("vs", name), { signal });
      err.textContent = "";
    } catch (e) {
      if (signal.aborted) return;
      if (e.status === 404) { gone = true; err.textContent = `There is no virtual server named ${name} (any more).`; fill(settings); fill(actions); fill(nodesBox); return; }
      err.textContent = `Cannot load the virtual server: ${e.message}`;
      return;
    }
    fill(note, balancerNote([vs]));
    const t = vs.template || {};
    fill(settings,
      h("dt", {}, "Nodes"), h("dd", { id: "vs-count" }, `${vs.nodes.filter((n) => n.state === "ready").length} ready of ${vs.desired} wanted`),
      h("dt", {}, "Front end"), h("dd", { id: "vs-front" }, frontEnd(vs.front_end)),
      vs.front_end.detail && vs.front_end.state !== "none" ? [h("dt", {}, "Why"), h("dd", {}, vs.front_end.detail)] : null,
      h("dt", {}, "Each node"), h("dd", {}, `${t.vcpus ?? "–"} vCPU, ${mib(t.memory_mib)}`,
        (t.disks || []).length ? `, disk ${t.disks.map((d) => d.path).join(", ")}` : ""),
      h("dt", {}, "Pool"), h("dd", {}, vs.pool || "data centre"),
      vs.node_port ? [h("dt", {}, "Node port"), h("dd", {}, vs.node_port)] : null,
      h("dt", {}, "Now"), h("dd", { id: "vs-busy" }, vs.deleting ? "being deleted" : vs.job ? h("a", { href: "#/jobs" }, `job ${vs.job} is working on it`) : "idle"));
    if (!nodesBox.contains(document.activeElement)) fill(nodesBox, vs.nodes.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Node", "Host", "Address", "State", "Health", "Sessions"].map((x, i) =>
        h("th", { scope: "col", class: i === 5 ? "num wide-only" : i === 2 ? "wide-only" : "" }, x)))),
      h("tbody", {}, vs.nodes.map((n) => h("tr", { "data-node": n.vm },
        h("td", {}, h("a", { href: `#/vms/${encodeURIComponent(n.vm)}` }, n.vm)),
        h("td", { class: "node-host" }, n.host),
        h("td", { class: "wide-only" }, n.addr || "–"),
        h("td", {}, n.state),
        h("td", { class: "node-health" }, healthBadge(n.health)),
        h("td", { class: "num wide-only" }, n.sessions ?? "–")))))) : h("p", { class: "muted" }, "No nodes."));
    fill(repairs, (vs.repairs || []).length ? h("ul", {}, vs.repairs.slice(-10).reverse().map((r) =>
      h("li", {}, `${when(r.at)} ${r.node} on ${r.host}: ${r.reason}`))) : h("p", { class: "muted" }, "None."));
    scaleBtn.disabled = deleteBtn.disabled = vs.deleting;
  }

  function follow(title, r, after) {
    jobsBox.prepend(jobPanel(r.job, {
      title, signal,
      onDone: (job) => {
        toast(`${title}: ${job.state}${job.error ? " — " + job.error : ""}`, job.state !== "succeeded");
        if (after) after(job); else load();
      },
    }));
    load();
  }

  async function scale() {
    const f = await ask({
      title: `Scale ${name}`, confirm: "Scale",
      body: [field("Nodes", { name: "nodes", type: "number", min: 1, max: 64, value: vs.desired, required: true }),
        h("p", { class: "muted small" }, "Growing adds nodes on hosts it does not use yet; shrinking takes the newest nodes off the front end, then destroys them.")],
    });
    if (!f) return;
    try {
      follow(`scale ${name} to ${f.nodes}`, await api.post(api.path("vs", name, "scale"), { nodes: Number(f.nodes) }));
    } catch (e) {
      toast(`Cannot scale ${name}: ${e.message}`, true);
    }
  }

  async function remove() {
    const ok = await ask({
      title: `Delete ${name}?`, confirm: "Delete", danger: true,
      body: [h("p", {}, `The front end goes first, then all ${vs.nodes.length} nodes are destroyed. This cannot be undone.`)],
    });
    if (!ok) return;
    try {
      follow(`delete ${name}`, await api.del(api.path("vs", name)), (job) => {
        if (job.state === "succeeded") location.hash = "#/vs"; else load();
      });
    } catch (e) {
      toast(`Cannot delete ${name}: ${e.message}`, true);
    }
  }

  load();
  every(3000, () => (gone ? null : load()), signal);
}
