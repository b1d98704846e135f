// One VM: its settings and state, its CPU and memory use over the last
// half hour (the manager's metrics history, updated live), the actions an
// admin may take (each a job followed live), and the jobs that touched it.

import * as api from "./api.js";
import { h, fill, state, stateName, mib, when, ask, field, choice, toast, unavailable, every } from "./dom.js";
import { jobPanel, describe } from "./jobwatch.js";
import { hostLoads } from "./overview.js";
import { utilChart, pctText } from "./charts.js";

/** Which power actions make sense in which state. */
const POWER = [
  { action: "start", label: "Start", when: ["Stopped"] },
  { action: "shutdown", label: "Shut down", when: ["Running"] },
  { action: "stop", label: "Force off", when: ["Running", "Paused", "ShuttingDown"], confirm: "Force off cuts power: the guest loses what it has not written." },
  { action: "pause", label: "Pause", when: ["Running"] },
  { action: "resume", label: "Resume", when: ["Paused"] },
  { action: "reboot", label: "Reboot", when: ["Running"] },
];

export function render(main, { name, signal, canWrite }) {
  const settings = h("dl", { class: "settings", id: "vm-settings" });
  const actions = h("div", { class: "actions", id: "vm-actions" });
  const jobsBox = h("div", { id: "vm-jobs" });
  const history = h("div", { id: "vm-history" });
  const err = h("p", { class: "error", role: "alert" });
  const chartBox = h("div", { class: "chart", id: "vm-chart" },
    h("p", { class: "muted" }, "No samples yet: the manager samples running VMs every few seconds."));
  const useNow = h("p", { class: "muted", id: "vm-use" });
  fill(main,
    h("p", {}, h("a", { href: "#/vms" }, "← Virtual machines")),
    h("h1", {}, name),
    err,
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "vm-s-h" }, h("h2", { id: "vm-s-h" }, "Settings and state"), settings,
        canWrite ? [h("h2", { class: "mt" }, "Actions"), actions] : null, jobsBox),
      h("section", { class: "panel", "aria-labelledby": "vm-h-h" }, h("h2", { id: "vm-h-h" }, "Jobs for this VM"), history)),
    h("section", { class: "panel", id: "vm-util", "aria-labelledby": "vm-u-h" },
      h("h2", { id: "vm-u-h" }, "Utilization"), useNow, chartBox));

  let vm = null;
  let gone = false;
  async function load() {
    try {
      vm = await api.get(api.path("vms", name), { signal });
      err.textContent = "";
    } catch (e) {
      if (signal.aborted) return;
      if (e.status === 404) { gone = true; err.textContent = `There is no VM named ${name} (any more).`; fill(settings); fill(actions); return; }
      err.textContent = `Cannot load the VM: ${e.message}`;
      return;
    }
    fill(settings,
      h("dt", {}, "State"), h("dd", { id: "vm-state" }, state(vm.state)),
      h("dt", {}, "Host"), h("dd", { id: "vm-host" }, h("a", { href: `#/vms?host=${encodeURIComponent(vm.host)}` }, vm.host)),
      h("dt", {}, "vCPUs"), h("dd", { id: "vm-vcpus" }, vm.vcpus ?? "–"),
      h("dt", {}, "Memory"), h("dd", { id: "vm-memory" }, mib(vm.memory_mib)),
      h("dt", {}, "UUID"), h("dd", {}, vm.uuid || "–"));
    if (canWrite) drawActions();
  }

  function drawActions() {
    const s = stateName(vm.state);
    fill(actions,
      POWER.map((p) => h("button", {
        type: "button", "data-action": p.action, disabled: !p.when.includes(s),
        class: p.confirm ? "danger" : "",
        onclick: () => power(p),
      }, p.label)),
      h("button", { type: "button", class: "quiet", "data-action": "resize", onclick: resize }, "Resize…"),
      h("button", { type: "button", class: "quiet", "data-action": "migrate", onclick: migrate }, "Migrate…"),
      h("button", { type: "button", class: "danger", "data-action": "delete", onclick: remove }, "Delete…"));
  }

  function follow(title, r, after) {
    jobsBox.prepend(jobPanel(r.job, {
      title, signal,
      onDone: (job) => {
        toast(`${title}: ${job.state}${job.error ? " — " + job.error : ""}`, job.state !== "succeeded");
        if (after) after(job); else load();
        loadHistory();
      },
    }));
  }

  async function submit(title, path, body, after) {
    try {
      follow(title, await (body === null ? api.del(path) : api.post(path, body)), after);
    } catch (e) {
      toast(`${title}: ${e.message}`, true);
    }
  }

  async function power(p) {
    if (p.confirm && !(await ask({ title: `${p.label} ${name}?`, body: [h("p", {}, p.confirm)], confirm: p.label, danger: true }))) return;
    submit(`${p.label.toLowerCase()} ${name}`, api.path("vms", name, "power"), { action: p.action });
  }

  async function resize() {
    const f = await ask({
      title: `Resize ${name}`, confirm: "Resize",
      body: [h("div", { class: "form-row" },
        h("div", {}, field("vCPUs", { name: "vcpus", type: "number", min: 1, value: vm.vcpus ?? 1, required: true })),
        h("div", {}, field("Memory (MiB)", { name: "memory_mib", type: "number", min: 64, step: 64, value: vm.memory_mib ?? 512, required: true })))],
    });
    if (!f) return;
    submit(`resize ${name}`, api.path("vms", name, "resize"), { vcpus: Number(f.vcpus), memory_mib: Number(f.memory_mib) });
  }

  async function migrate() {
    const [hosts, pools] = await Promise.all([api.get("/hosts").catch(() => []), api.get("/pools").catch(() => null)]);
    const loads = hostLoads(pools || []);
    const options = [["", "placement chooses"]];
    for (const x of hosts) {
      if (x.name === vm.host) continue;
      const l = loads.get(x.name);
      let note = x.health === "Up" ? "" : ` — ${x.health.toLowerCase()}`;
      if (l && l.allowed) {
        const freeC = l.allowed.vcpus - l.allocated.vcpus;
        const freeM = l.allowed.memory_mib - l.allocated.memory_mib;
        const fits = freeC >= (vm.vcpus || 0) && freeM >= (vm.memory_mib || 0);
        note += ` — ${fits ? "fits" : "does not fit"} (free ${freeC} vCPU, ${mib(freeM)})`;
      }
      options.push([x.name, x.name + note]);
    }
    const f = await ask({
      title: `Migrate ${name}`, confirm: "Migrate",
      body: [h("p", { class: "muted" }, `Now on ${vm.host}.`), choice("Destination", "to", options)],
    });
    if (!f) return;
    submit(`migrate ${name}`, api.path("vms", name, "migrate"), f.to ? { to: f.to } : {});
  }

  async function remove() {
    const ok = await ask({
      title: `Delete ${name}?`, confirm: "Delete", danger: true,
      body: [h("p", {}, `The VM is stopped and its definition removed from ${vm.host}. This cannot be undone.`)],
    });
    if (!ok) return;
    submit(`delete ${name}`, api.path("vms", name), null, (job) => {
      if (job.state === "succeeded") location.hash = "#/vms"; else load();
    });
  }

  async function loadHistory() {
    let jobs;
    try { jobs = await api.get("/jobs", { signal }); } catch (e) { fill(history, unavailable("jobs", e)); return; }
    const mine = jobs.filter((j) => {
      const p = j.params || {};
      return p.vm === name || (p.template && p.template.name === name);
    }).sort((a, b) => b.created_at - a.created_at).slice(0, 10);
    fill(history, mine.length ? h("ul", {}, mine.map((j) => h("li", {},
      when(j.created_at), " ", describe(j), " ", state(j.state, true), j.error ? h("span", { class: "error" }, ` ${j.error}`) : null))) :
      h("p", { class: "muted" }, "None."));
  }

  // The whole history once, then what is new, every VM interval.
  const chart = utilChart(chartBox, { id: "vm", keep: 240 });
  let pollMs = 5000;
  async function loadMetrics() {
    const since = chart.last();
    let m;
    try { m = await api.get(api.path("vms", name, "metrics") + (since ? `?since=${since}` : ""), { signal }); } catch (e) {
      if (!signal.aborted && !since && e.status !== 404) fill(chartBox, unavailable("metrics", e));
      return;
    }
    pollMs = Math.min(5000, Math.max(1000, 1000 * (m.interval_s || 5)));
    if (since) chart.append(m); else chart.set(m);
    const i = m.t.length - 1;
    if (i >= 0) useNow.textContent = `Now: CPU ${pctText(m.cpu_pct[i])}, memory ${pctText(m.memory_pct[i])} · a point every ${m.interval_s} s`;
  }
  (async () => {
    while (!signal.aborted && !gone) {
      await loadMetrics();
      await new Promise((r) => { const t = setTimeout(r, pollMs); signal.addEventListener("abort", () => { clearTimeout(t); r(); }, { once: true }); });
    }
  })();
  const onResize = () => chart.resize();
  window.addEventListener("resize", onResize);

  load();
  loadHistory();
  every(5000, () => (gone ? null : load()), signal);
  return () => { window.removeEventListener("resize", onResize); chart.destroy(); };
}
