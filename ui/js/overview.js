// The overview: hosts with health, allocation and use now, utilization
// over the last hour (the manager's metrics history: the data centre and
// the busiest hosts, updated live), the data-centre and service pools,
// virtual servers laid out on hosts, alerts, recent events (streamed). Every
// section loads on its own, so one missing endpoint does not blank the page.

import * as api from "./api.js";
import { h, fill, state, barline, bar, mib, num, when, unavailable, every } from "./dom.js";
import { createTable } from "./table.js";
import { utilChart } from "./charts.js";
import { follow } from "./stream.js";
import { alertsFrom } from "./alerts.js";

/** Host pools are named `host/<host>`. */
export function hostLoads(pools) {
  const m = new Map();
  for (const p of pools || []) {
    if (p.kind === "host") m.set(p.name.replace(/^host\//, ""), p);
  }
  return m;
}

/** Per-host allocation from the VM list (when there are no pools). */
export function loadsFromVms(vms) {
  const m = new Map();
  for (const v of vms) {
    const l = m.get(v.host) || { allocated: { vcpus: 0, memory_mib: 0 }, vms: 0 };
    l.allocated.vcpus += v.vcpus || 0;
    l.allocated.memory_mib += v.memory_mib || 0;
    l.vms += 1;
    m.set(v.host, l);
  }
  return m;
}

const pct = (a, b) => (b ? (100 * a) / b : 0);

export function render(main, { signal }) {
  const cards = h("div", { class: "cards", id: "summary" });
  const hostsBox = h("section", { class: "panel", id: "ov-hosts", "aria-labelledby": "ov-hosts-h" });
  const poolsBox = h("section", { class: "panel", id: "ov-pools", "aria-labelledby": "ov-pools-h" });
  const chartBox = h("div", { class: "chart", id: "ov-chart" },
    h("p", { class: "muted" }, "No samples yet: the manager samples every host's agent every few seconds."));
  const busyBox = h("div", { class: "small-charts", id: "ov-busy" });
  const utilBox = h("section", { class: "panel", id: "ov-util", "aria-labelledby": "ov-util-h" },
    h("h2", { id: "ov-util-h" }, "Data-centre utilization"), chartBox,
    h("h3", {}, "Busiest hosts (CPU now)"), busyBox);
  const vsBox = h("section", { class: "panel", id: "ov-vs", "aria-labelledby": "ov-vs-h" });
  const evBox = h("section", { class: "panel", id: "ov-events", "aria-labelledby": "ov-events-h" });
  // Announced politely to screen readers as alerts come and go.
  const alertBox = h("section", { class: "panel", id: "ov-alerts", "aria-labelledby": "ov-alerts-h", "aria-live": "polite" });
  const alertBody = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  fill(alertBox, h("h2", { id: "ov-alerts-h" }, "Alerts"), alertBody);
  const hostsBody = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const poolsBody = h("div");
  const vsBody = h("div");
  const evBody = h("div");
  fill(hostsBox, h("h2", { id: "ov-hosts-h" }, "Hosts"), hostsBody);
  fill(poolsBox, h("h2", { id: "ov-pools-h" }, "Pools"), poolsBody);
  fill(vsBox, h("h2", { id: "ov-vs-h" }, "Virtual servers"), vsBody);
  fill(evBox, h("h2", { id: "ov-events-h" }, "Recent events"), evBody);
  fill(main, h("h1", {}, "Overview"), cards, alertBox, utilBox,
    h("div", { class: "grid" }, hostsBox, poolsBox), h("div", { class: "grid" }, vsBox, evBox));

  const table = createTable({
    caption: "Allocated to VMs, of what the host has",
    pageSize: 10,
    state: { sort: "name" },
    columns: [
      { key: "name", label: "Host", render: (r) => h("a", { href: `#/vms?host=${encodeURIComponent(r.name)}` }, r.name) },
      { key: "health", label: "Health", render: (r) => state(r.health) },
      { key: "cpu", label: "vCPU", value: (r) => pct(r.vcpus, r.cap_vcpus), render: (r) => bar(r.vcpus, r.cap_vcpus, `${r.name} vCPU allocation`) },
      { key: "mem", label: "Memory", value: (r) => pct(r.mem, r.cap_mem), render: (r) => bar(r.mem, r.cap_mem, `${r.name} memory allocation`) },
      { key: "cpu_now", label: "CPU use", value: (r) => r.cpu_now ?? -1, render: (r) => (r.cpu_now == null ? "–" : bar(r.cpu_now, 100, `${r.name} CPU use now`)) },
      { key: "vms", label: "VMs", num: true },
    ],
  });
  let tableShown = false;

  // Utilization: the whole history once, then what is new each interval.
  const dcChart = utilChart(chartBox, { id: "ov-dc", label: "data centre" });
  const small = new Map(); // host → { box, chart }
  const now = new Map(); // host → { cpu_pct, memory_pct }
  let since = 0;
  let pollMs = 5000;
  async function loadMetrics() {
    let m;
    try { m = await api.get(`/metrics${since ? "?since=" + since : ""}`, { signal }); } catch (e) {
      if (!signal.aborted && !since) fill(chartBox, unavailable("metrics", e));
      return;
    }
    pollMs = Math.min(5000, Math.max(1000, 1000 * (m.interval_s || 5)));
    for (const x of m.hosts) now.set(x.name, x);
    const busy = m.busiest.map((b) => b.name);
    const same = busy.length === small.size && busy.every((n) => small.has(n));
    if (!since || !same) {
      if (since) { since = 0; return loadMetrics(); } // new busiest hosts: their whole history
      dcChart.set(m.datacenter);
      for (const { chart } of small.values()) chart.destroy();
      small.clear();
      fill(busyBox, m.busiest.map((b) => {
        const box = h("div", { class: "small-chart", "data-host": b.name });
        const chart = utilChart(box, { id: `ov-host-${b.name}`, height: 110, small: true, label: b.name });
        small.set(b.name, { box, chart });
        chart.set(b);
        return box;
      }));
      if (!m.busiest.length) fill(busyBox, h("p", { class: "muted" }, "No host has reported yet."));
    } else {
      dcChart.append(m.datacenter);
      for (const b of m.busiest) small.get(b.name).chart.append(b);
    }
    since = Math.max(since, dcChart.last(), ...[...small.values()].map((x) => x.chart.last()));
  }
  (async () => {
    while (!signal.aborted) {
      await loadMetrics();
      await new Promise((r) => { const t = setTimeout(r, pollMs); signal.addEventListener("abort", () => { clearTimeout(t); r(); }, { once: true }); });
    }
  })();

  async function loadHostsAndPools() {
    const [hosts, pools] = await Promise.allSettled([api.get("/hosts", { signal }), api.get("/pools", { signal })]);
    if (hosts.status === "rejected") { fill(hostsBody, unavailable("hosts", hosts.reason)); return; }
    seen.hosts = hosts.value;
    drawAlerts();
    let loads;
    if (pools.status === "fulfilled") {
      loads = hostLoads(pools.value);
    } else {
      const vms = await api.get("/vms", { signal }).catch(() => []);
      loads = loadsFromVms(vms);
    }
    const rows = hosts.value.map((x) => {
      const l = loads.get(x.name);
      const cap = (l && (l.allowed || l.capacity)) || x.capacity || {};
      return {
        name: x.name, health: x.health,
        vcpus: l ? l.allocated.vcpus : 0, cap_vcpus: cap.vcpus || 0,
        mem: l ? l.allocated.memory_mib : 0, cap_mem: cap.memory_mib || 0,
        vms: l ? l.vms : 0,
        cpu_now: now.get(x.name)?.cpu_pct ?? null,
      };
    });
    table.setRows(rows);
    if (!tableShown) { fill(hostsBody, table.el); tableShown = true; }

    const up = hosts.value.filter((x) => x.health === "Up").length;
    const vmCount = rows.reduce((s, r) => s + r.vms, 0);
    const dc = pools.status === "fulfilled" ? pools.value.find((p) => p.kind === "datacenter") : null;
    const total = dc && (dc.allowed || dc.capacity);
    fill(cards,
      card(`${up} / ${hosts.value.length}`, "hosts up", "hosts-up"),
      card(num(dc ? dc.vms : vmCount), "virtual machines", "vm-count"),
      card(total ? `${Math.round(pct(dc.allocated.vcpus, total.vcpus))}%` : "–", "vCPU allocated"),
      card(total ? `${Math.round(pct(dc.allocated.memory_mib, total.memory_mib))}%` : "–", "memory allocated"));

    if (pools.status === "rejected") {
      fill(poolsBody, unavailable("pools", pools.reason));
      return;
    }
    const shown = pools.value.filter((p) => p.kind !== "host");
    fill(poolsBody, shown.length ? shown.map((p) => {
      const lim = p.allowed || p.capacity;
      const cap = p.capacity && p.allowed ? `physical ${num(p.capacity.vcpus)} vCPU, ${mib(p.capacity.memory_mib)}` : null;
      return h("div", { class: "pool", "data-pool": p.name },
        h("h3", {}, p.name, " ", h("span", { class: "muted" }, `${p.kind === p.name ? "" : p.kind + " · "}${num(p.vms)} VMs`)),
        barline("vCPU", p.allocated.vcpus, lim ? lim.vcpus : 0),
        barline("memory", p.allocated.memory_mib, lim ? lim.memory_mib : 0, mib),
        h("p", { class: "muted small" }, "allocated / may be allocated",
          cap ? ` · ${cap}` : "",
          p.reservation ? ` · reserved ${p.reservation.vcpus} vCPU, ${mib(p.reservation.memory_mib)}` : ""));
    }) : h("p", { class: "muted" }, "No pools."));
  }

  async function loadVs() {
    let list;
    try { list = await api.get("/vs", { signal }); } catch (e) { fill(vsBody, unavailable("virtual servers", e)); return; }
    seen.vs = list;
    drawAlerts();
    if (!list.length) { fill(vsBody, h("p", { class: "muted" }, "No virtual servers.")); return; }
    fill(vsBody, list.map((v) => {
      const byHost = new Map();
      for (const n of v.nodes || []) byHost.set(n.host, [...(byHost.get(n.host) || []), n]);
      return h("div", { class: "vs", "data-vs": v.name },
        h("h3", {}, v.name, " ", h("span", { class: "muted" },
          `${(v.nodes || []).length}/${v.desired} nodes${v.bind ? " · front end " + v.bind : ""}`)),
        h("div", { class: "vs-map" }, [...byHost.entries()].map(([host, nodes]) =>
          h("div", { class: "vs-host" }, h("div", { class: "h" }, host),
            nodes.map((n) => h("a", { class: "chip", href: `#/vms/${encodeURIComponent(n.vm)}` }, n.vm))))));
    }));
  }

  // Alerts: what the other sections read, looked at together.
  const seen = { hosts: null, vs: [], events: [] };
  function drawAlerts() {
    if (!seen.hosts) return;
    const list = alertsFrom(seen);
    fill(alertBody, list.length ? h("ul", { class: "alerts" }, list.slice(0, 10).map((a) =>
      h("li", { class: `sev-${a.severity}`, "data-alert": a.subject },
        h("strong", {}, a.severity === "error" ? "Error" : "Warning"), " ",
        h("a", { href: a.href }, a.subject), ": ", a.text))) :
      h("p", { class: "muted", id: "no-alerts" }, "Nothing needs attention."));
  }

  // Events: the newest from the log whenever the stream (re)opens, then
  // each new one as it is streamed.
  let events = [];
  async function loadEvents() {
    let list;
    try { list = await api.get("/events", { signal }); } catch (e) { fill(evBody, unavailable("events", e)); return; }
    events = Array.isArray(list) ? list : list.events || [];
    drawEvents();
  }
  function addEvent(e) {
    if (events.some((x) => x.id === e.id)) return;
    events.push(e);
    if (events.length > 100) events = events.slice(-100);
    drawEvents();
  }
  function drawEvents() {
    seen.events = events;
    drawAlerts();
    const items = events.slice().sort((a, b) => (a.id < b.id ? 1 : -1)).slice(0, 12);
    fill(evBody, items.length ? h("ol", { class: "events" }, items.map((e) => h("li", { "data-event": e.id },
      h("span", { class: "muted" }, when(e.at)),
      h("span", { class: `sev-${e.severity}` }, h("strong", {}, e.kind), " ", e.subject, ": ", e.message)))) :
      h("p", { class: "muted" }, "No events yet."));
  }

  const loadAll = () => Promise.all([loadHostsAndPools(), loadVs()]);
  loadAll();
  every(5000, loadAll, signal);
  loadEvents();
  follow("events", "events/stream", { type: "event", onMessage: addEvent, onOpen: loadEvents, poll: loadEvents, pollMs: 5000, signal });
  const onResize = () => { dcChart.resize(); for (const { chart } of small.values()) chart.resize(); };
  window.addEventListener("resize", onResize);
  return () => {
    window.removeEventListener("resize", onResize);
    dcChart.destroy();
    for (const { chart } of small.values()) chart.destroy();
  };
}

function card(n, label, id) {
  return h("div", { class: "card", id }, h("div", { class: "n" }, n), h("div", { class: "l" }, label));
}
