// What needs an administrator now, worked out from what the overview
// already reads: hosts that do not answer or are in maintenance, virtual
// servers short of nodes or without a working front end, and warnings and
// errors logged in the last hour. Pure, so the browser test can call it.

const HOUR_MS = 3600 * 1000;

/**
 * The alerts for `hosts`, `vs` (virtual servers) and `events`, most
 * severe first: `[{ severity: "error"|"warning", subject, text, href }]`.
 */
export function alertsFrom({ hosts = [], vs = [], events = [], now = Date.now() }) {
  const out = [];
  for (const x of hosts) {
    // A host the manager powered off (or is powering off or waking) is
    // silent on purpose.
    if (x.health === "Unreachable" && (!x.power || x.power === "On")) {
      out.push({ severity: "error", subject: x.name, href: `#/hosts`,
        text: `agent does not answer${x.last_error ? ": " + x.last_error : ""}` });
    }
    if (x.maintenance) {
      out.push({ severity: "warning", subject: x.name, href: `#/hosts`,
        text: "in maintenance: nothing new is placed here (vine host maintenance NAME off)" });
    }
  }
  for (const v of vs) {
    const ready = (v.nodes || []).filter((n) => n.state === "ready").length;
    if (ready < v.desired) {
      out.push({ severity: "warning", subject: v.name, href: `#/vs/${encodeURIComponent(v.name)}`,
        text: `${ready} of ${v.desired} nodes ready` });
    }
    const fe = v.front_end || {};
    if (fe.state && fe.state !== "serving" && fe.state !== "none") {
      out.push({ severity: "error", subject: v.name, href: `#/vs/${encodeURIComponent(v.name)}`,
        text: `front end ${fe.state.replace(/_/g, " ")}${fe.detail ? ": " + fe.detail : ""}` });
    }
  }
  for (const e of events) {
    if (e.severity !== "warning" && e.severity !== "error") continue;
    // `at` is Unix milliseconds.
    if (Number.isFinite(e.at) && now - e.at > HOUR_MS) continue;
    out.push({ severity: e.severity, subject: e.subject, text: `${e.kind}: ${e.message}`, at: e.at, href: "#/jobs" });
  }
  const rank = { error: 0, warning: 1 };
  return out.sort((a, b) => rank[a.severity] - rank[b.severity]);
}
