// The console's shell: who is logged in, the top bar, and hash routing
// (`#/`, `#/hosts`, `#/vms?host=…`, `#/vms/<name>`, `#/jobs`, `#/vs/<name>`,
// `#/policies/<name>`, `#/login`).
// Each page's render(main, ctx) may return a function that stops it
// (polls, long-polls); ctx.signal is aborted when the page is left.

import * as api from "./api.js";
import { toast } from "./dom.js";
import * as login from "./login.js";
import * as overview from "./overview.js";
import * as hosts from "./hosts.js";
import * as vms from "./vms.js";
import * as vm from "./vm.js";
import * as jobs from "./jobs.js";
import * as policies from "./policies.js";
import * as vs from "./vs.js";

// Problems a user would otherwise not see: script errors and whatever the
// page's security policy blocked. Shown, and kept for the browser tests.
window.vineProblems = [];
function problem(text) {
  window.vineProblems.push(text);
  toast(text, true);
}
window.addEventListener("error", (e) => problem(`script error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => {
  if (e.reason && e.reason.name === "AbortError") return; // a page left mid-request
  problem(`script error: ${(e.reason && e.reason.message) || e.reason}`);
});
document.addEventListener("securitypolicyviolation", (e) =>
  problem(`blocked by the security policy: ${e.violatedDirective} ${e.blockedURI}`));

const main = document.getElementById("main");
const top = document.getElementById("top");
let leave = null;

/** `#/vms/web-1?x=1` → { parts: ["vms", "web-1"], query: URLSearchParams }. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [p, q] = raw.split("?");
  return {
    parts: p.split("/").filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(q || ""),
  };
}

/** Changes the query part of the current route without re-rendering. */
function setQuery(values) {
  const { parts } = parseHash();
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== "" && v !== undefined && v !== null) q.set(k, v);
  const s = q.toString();
  history.replaceState(null, "", `#/${parts.map(encodeURIComponent).join("/")}${s ? "?" + s : ""}`);
}

function showShell() {
  const me = api.user();
  top.hidden = !me;
  if (me) document.getElementById("who").textContent = `${me.user} (${me.role})`;
}

async function route() {
  if (leave) { leave(); leave = null; }
  const ctrl = new AbortController();
  const { parts, query } = parseHash();
  const name = parts[0] || "overview";
  const me = api.user();
  if (!me && name !== "login") {
    sessionStorage.setItem("vine.after", location.hash || "#/");
    location.hash = "#/login";
    return;
  }
  showShell();
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const ctx = { query, signal: ctrl.signal, setQuery, canWrite: api.canWrite() };
  let stop;
  try {
    if (name === "login") {
      stop = login.render(main, {
        after: () => {
          const to = sessionStorage.getItem("vine.after") || "#/";
          sessionStorage.removeItem("vine.after");
          location.hash = to === "#/login" ? "#/" : to;
        },
      });
    } else if (name === "overview") stop = overview.render(main, ctx);
    else if (name === "hosts") stop = hosts.render(main, ctx);
    else if (name === "vms" && parts[1]) stop = vm.render(main, { ...ctx, name: parts[1] });
    else if (name === "vms") stop = vms.render(main, ctx);
    else if (name === "jobs") stop = jobs.render(main, ctx);
    else if (name === "policies") stop = policies.render(main, { ...ctx, name: parts[1] });
    else if (name === "vs") stop = vs.render(main, { ...ctx, name: parts[1] });
    else {
      main.replaceChildren();
      main.append(Object.assign(document.createElement("h1"), { textContent: "Not found" }));
    }
  } catch (e) {
    toast(`This page failed: ${e.message}`, true);
  }
  document.title = `vine · ${name}`;
  leave = () => { ctrl.abort(); if (typeof stop === "function") stop(); };
  // Screen readers start at the new page, unless the page chose a field.
  if (!main.contains(document.activeElement) || document.activeElement === main) main.focus({ preventScroll: true });
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api.logout(); } catch { /* logged out anyway */ }
  showShell();
  location.hash = "#/login";
});

api.onLoggedOut(() => {
  toast("Your session has ended; log in again.", true);
  showShell();
  sessionStorage.setItem("vine.after", location.hash);
  location.hash = "#/login";
});

window.addEventListener("hashchange", route);

(async () => {
  try {
    await api.whoami();
  } catch (e) {
    toast(`Cannot reach the manager: ${e.message}`, true);
  }
  route();
})();
