// The hosts list: health, power, agent, capacity, allocation, use now (the
// manager's metrics history) and the last error.

import * as api from "./api.js";
import { h, fill, state, bar, mib, unavailable, every } from "./dom.js";
import { createTable } from "./table.js";
import { hostLoads, loadsFromVms } from "./overview.js";

export function render(main, { signal, query, setQuery }) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  fill(main, h("h1", {}, "Hosts"), h("section", { class: "panel" }, body));
  const pct = (a, b) => (b ? a / b : 0);
  const table = createTable({
    state: Object.fromEntries(query.entries()),
    onState: (s) => setQuery({ q: s.q, health: s.health }),
    search: (r) => `${r.name} ${r.url}`,
    filters: [{
      name: "health", label: "Health",
      options: () => [["Up", "Up"], ["Unreachable", "Unreachable"], ["Unknown", "Unknown"]],
      test: (r, v) => r.health === v,
    }],
    columns: [
      { key: "name", label: "Name", render: (r) => h("a", { href: `#/vms?host=${encodeURIComponent(r.name)}` }, r.name) },
      { key: "health", label: "Health", render: (r) => state(r.health) },
      // Off is the manager's doing (host.power), not a fault.
      { key: "power", label: "Power", render: (r) => state(r.power || "On") },
      { key: "vms", label: "VMs", num: true },
      { key: "cpu", label: "vCPU allocated", value: (r) => pct(r.vcpus, r.cap.vcpus),
        render: (r) => h("span", {}, bar(r.vcpus, r.cap.vcpus || 0, `${r.name} vCPU`), ` ${r.vcpus} / ${r.cap.vcpus ?? "–"}`) },
      { key: "mem", label: "Memory allocated", value: (r) => pct(r.mem, r.cap.memory_mib),
        render: (r) => h("span", {}, bar(r.mem, r.cap.memory_mib || 0, `${r.name} memory`), ` ${mib(r.mem)} / ${mib(r.cap.memory_mib)}`) },
      { key: "cpu_now", label: "CPU use", value: (r) => r.cpu_now ?? -1,
        render: (r) => (r.cpu_now == null ? "–" : h("span", {}, bar(r.cpu_now, 100, `${r.name} CPU use`), ` ${Math.round(r.cpu_now)}%`)) },
      { key: "mem_now", label: "Memory use", value: (r) => r.mem_now ?? -1,
        render: (r) => (r.mem_now == null ? "–" : h("span", {}, bar(r.mem_now, 100, `${r.name} memory use`), ` ${Math.round(r.mem_now)}%`)) },
      { key: "url", label: "Agent", wide: true },
      { key: "last_error", label: "Last error", wide: true, wrap: true, render: (r) => h("span", { class: "error" }, r.last_error || "") },
    ],
  });
  let shown = false;
  async function load() {
    const [hosts, pools, metrics] = await Promise.allSettled([api.get("/hosts", { signal }), api.get("/pools", { signal }),
      api.get("/metrics?top=0&since=" + (Date.now() - 1000), { signal })]);
    if (hosts.status === "rejected") { fill(body, unavailable("hosts", hosts.reason)); shown = false; return; }
    const loads = pools.status === "fulfilled" ? hostLoads(pools.value)
      : loadsFromVms(await api.get("/vms", { signal }).catch(() => []));
    const now = new Map(metrics.status === "fulfilled" ? metrics.value.hosts.map((x) => [x.name, x]) : []);
    table.setRows(hosts.value.map((x) => {
      const l = loads.get(x.name);
      return {
        ...x,
        cap: (l && (l.allowed || l.capacity)) || x.capacity || {},
        vcpus: l ? l.allocated.vcpus : 0,
        mem: l ? l.allocated.memory_mib : 0,
        vms: l ? l.vms : 0,
        cpu_now: now.get(x.name)?.cpu_pct ?? null,
        mem_now: now.get(x.name)?.memory_pct ?? null,
      };
    }));
    if (!shown) { fill(body, table.el); shown = true; }
  }
  load();
  every(10000, load, signal);
}
