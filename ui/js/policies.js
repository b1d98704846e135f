// Policies: the stored list, and one policy's editor — validated as you
// type (`POST /policies/check`), explained (what the engine would do now),
// applied as a new version, its versions compared with the text and
// rolled back to. Readers read and explain; only admins apply and roll back.

import * as api from "./api.js";
import { h, fill, when, ask, toast, unavailable, every } from "./dom.js";
import { createTable } from "./table.js";
import { codeEditor } from "./editor.js";
import { lineDiff, diffStats, hunks } from "./diff.js";

/** What "New policy" starts from: valid as it stands, every part named. */
export const SAMPLE = `# A new policy. It is stored under its name; every Apply keeps a version.
name = "new-policy"
description = "Consolidate hosts that idle, relieve hosts that run hot"

[scope]
kind = "datacenter"    # or "pool", "virtual-server" (with name = …), "hosts"

[thresholds.cpu]
upper = 0.9     # a host above this sheds load
lower = 0.3     # a host below this may be drained

[observation]
window = 12
k = 2
n = 3

[migration]
max_concurrent = 4
hysteresis = 0.05
`;

export function render(main, ctx) {
  if (ctx.name) return editorPage(main, ctx, ctx.name);
  if (ctx.query.has("new")) return editorPage(main, ctx, null);
  return listPage(main, ctx);
}

/** `[scope]` of a policy text, in words ("datacenter", "pool batch"). */
export function scopeOf(text) {
  const m = /^\s*\[scope\][^\n]*\n([\s\S]*?)(?=^\s*\[|$(?![\s\S]))/m.exec(text || "");
  if (!m) return "datacenter";
  const body = m[1];
  const get = (k) => {
    const r = new RegExp(`^\\s*${k}\\s*=\\s*(?:"([^"]*)"|(\\[[^\\]]*\\]))`, "m").exec(body);
    return r ? (r[1] ?? r[2]) : null;
  };
  const kind = get("kind") || "datacenter";
  const name = get("name");
  const labels = get("labels");
  return [kind, name, labels].filter(Boolean).join(" ");
}

function descriptionOf(text) {
  const m = /^\s*description\s*=\s*"([^"]*)"/m.exec(text || "");
  return m ? m[1] : "";
}

function listPage(main, { signal, canWrite }) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  fill(main,
    h("h1", {}, "Policies"),
    h("p", { class: "muted small" }, "The policy engine runs every stored policy's active version each round."),
    canWrite ? h("div", { class: "actions" },
      h("a", { class: "button", id: "new-policy", href: "#/policies?new=1" }, "New policy")) : null,
    h("section", { class: "panel" }, body));
  const table = createTable({
    search: (p) => `${p.name} ${scopeOf(p.text)} ${descriptionOf(p.text)}`,
    placeholder: "policy name or scope…",
    columns: [
      { key: "name", label: "Name", render: (p) => h("a", { href: `#/policies/${encodeURIComponent(p.name)}` }, p.name) },
      { key: "version", label: "Active version", num: true },
      { key: "scope", label: "Scope", value: (p) => scopeOf(p.text), render: (p) => scopeOf(p.text) },
      { key: "description", label: "Description", wide: true, wrap: true, value: (p) => descriptionOf(p.text), render: (p) => descriptionOf(p.text) },
      { key: "applied_at", label: "Applied", render: (p) => `${when(p.applied_at)}${p.applied_by ? " by " + p.applied_by : ""}` },
    ],
    empty: "No stored policies: the manager runs its built-in default.",
  });
  (async () => {
    try {
      table.setRows(await api.get("/policies", { signal }));
      fill(body, table.el);
    } catch (e) {
      if (!signal.aborted) fill(body, unavailable("policies", e));
    }
  })();
}

function editorPage(main, { signal, canWrite }, name) {
  const title = h("h1", { id: "policy-title" }, name || "New policy");
  const meta = h("p", { class: "muted small", id: "policy-meta" }, name ? "Loading…" : "Edit the sample; its `name` line names the policy.");
  const err = h("p", { class: "error", role: "alert", id: "policy-error" });
  const status = h("p", { class: "check-status", id: "policy-check", "aria-live": "polite" });
  const versionsBox = h("div", { id: "policy-versions" }, name ? h("p", { class: "muted" }, "Loading…") : h("p", { class: "muted" }, "None yet: Apply stores version 1."));
  const diffBox = h("div", { id: "policy-diff" },
    h("p", { class: "muted" }, name ? "Press Compare on a version to see how it differs from the text in the editor." : "Nothing to compare with yet."));
  const explainBox = h("div", { id: "policy-explain", "aria-live": "polite" });
  const roundsBox = h("div", { id: "policy-rounds" });
  const editor = codeEditor({
    id: "policy-text", label: "Policy (TOML)", value: name ? "" : SAMPLE,
    readOnly: !canWrite, onInput: () => { changed(); scheduleCheck(); },
  });
  const applyBtn = canWrite ? h("button", { type: "button", id: "policy-apply", "data-action": "apply", onclick: apply }, "Apply") : null;
  const revertBtn = canWrite ? h("button", { type: "button", class: "quiet", id: "policy-revert", onclick: revert, disabled: true }, "Undo edits") : null;
  // Explain changes nothing: readers may ask it too (the API lets them).
  const explainBtn = h("button", { type: "button", class: "quiet", id: "policy-explain-btn", onclick: explain }, "Explain");

  fill(main,
    h("p", {}, h("a", { href: "#/policies" }, "← Policies")),
    title, meta, err,
    h("div", { class: "policy-grid" },
      h("section", { class: "panel", "aria-labelledby": "pe-h" },
        h("h2", { id: "pe-h" }, canWrite ? "Edit" : "Text"),
        editor.el,
        canWrite ? status : h("p", { class: "muted small" }, "Readers see and explain the text; admins edit and apply it."),
        h("div", { class: "actions" }, applyBtn, explainBtn, revertBtn),
        explainBox),
      h("div", {},
        h("section", { class: "panel", "aria-labelledby": "pv-h" }, h("h2", { id: "pv-h" }, "Versions"), versionsBox),
        h("section", { class: "panel", "aria-labelledby": "pd-h" }, h("h2", { id: "pd-h" }, "Changes"), diffBox),
        name ? h("section", { class: "panel", "aria-labelledby": "pr-h" }, h("h2", { id: "pr-h" }, "What it did lately"),
          h("p", { class: "muted small" }, "The policy loop's rounds that changed something or found hosts out of bounds."), roundsBox) : null)));

  let active = null; // the stored active version
  let versions = [];
  let problems = [];
  let checkSeq = 0;
  let checkTimer = null;
  let diffFrom = null; // the version the diff panel compares with
  signal.addEventListener("abort", () => clearTimeout(checkTimer), { once: true });

  const dirty = () => (active ? editor.value() !== active.text : true);
  // Closing or reloading the tab with unapplied edits asks first.
  const guard = (e) => { if (canWrite && (name ? dirty() : editor.value() !== SAMPLE)) e.preventDefault(); };
  window.addEventListener("beforeunload", guard);
  signal.addEventListener("abort", () => window.removeEventListener("beforeunload", guard), { once: true });

  function changed() {
    if (revertBtn) revertBtn.disabled = !active || !dirty();
    if (applyBtn) applyBtn.disabled = problems.length > 0 || (!!active && !dirty());
    if (diffFrom !== null) drawDiff();
  }

  function scheduleCheck() {
    if (!canWrite) return;
    clearTimeout(checkTimer);
    status.textContent = "Checking…";
    status.className = "check-status muted";
    checkTimer = setTimeout(check, 300);
  }

  async function check() {
    const seq = ++checkSeq;
    let r;
    try {
      r = await api.post("/policies/check", { text: editor.value(), origin: name || "new policy" });
    } catch (e) {
      if (seq !== checkSeq || signal.aborted) return;
      status.textContent = `Cannot check: ${e.message}`;
      status.className = "check-status error";
      return;
    }
    if (seq !== checkSeq || signal.aborted) return; // typed on since
    problems = r.problems || [];
    editor.setProblems(problems);
    status.textContent = problems.length
      ? `${problems.length} problem${problems.length > 1 ? "s" : ""}: fix ${problems.length > 1 ? "them" : "it"} to apply.`
      : `No problems${r.name ? ` (policy ${r.name})` : ""}.`;
    status.className = problems.length ? "check-status error" : "check-status ok";
    status.dataset.state = problems.length ? "invalid" : "valid";
    changed();
  }

  async function load(replaceText) {
    if (!name) { if (canWrite) check(); changed(); return; }
    try {
      [active, versions] = await Promise.all([
        api.get(api.path("policies", name), { signal }),
        api.get(api.path("policies", name, "versions"), { signal }),
      ]);
      err.textContent = "";
    } catch (e) {
      if (signal.aborted) return;
      err.textContent = e.status === 404 ? `There is no policy named ${name}.` : `Cannot load the policy: ${e.message}`;
      fill(versionsBox);
      return;
    }
    fill(meta, `Active: version ${active.version}, ${active.note}, ${when(active.applied_at)}`,
      active.applied_by ? ` by ${active.applied_by}` : "", ` · scope ${scopeOf(active.text)}`);
    if (replaceText) {
      editor.setValue(active.text);
      problems = [];
      editor.setProblems([]);
      if (canWrite) { status.textContent = "No problems."; status.className = "check-status ok"; status.dataset.state = "valid"; }
    }
    drawVersions();
    changed();
  }

  function drawVersions() {
    const newest = versions.length ? versions[versions.length - 1].version : 0;
    fill(versionsBox, h("ol", { class: "versions", reversed: true },
      [...versions].reverse().map((v) => h("li", { "data-version": v.version, class: v.version === newest ? "active" : "" },
        h("div", {}, h("strong", {}, `v${v.version}`), v.version === newest ? h("span", { class: "chip" }, "active") : null,
          " ", h("span", { class: "muted" }, `${v.note} · ${when(v.applied_at)}${v.applied_by ? " · " + v.applied_by : ""}`)),
        h("div", { class: "actions" },
          h("button", {
            type: "button", class: "quiet", "data-diff": v.version,
            "aria-pressed": diffFrom === v.version ? "true" : "false",
            onclick: () => { diffFrom = v.version; drawVersions(); drawDiff(); },
          }, "Compare"),
          canWrite && v.version !== newest ? h("button", {
            type: "button", class: "quiet", "data-rollback": v.version, onclick: () => rollback(v),
          }, "Roll back…") : null)))));
  }

  function drawDiff() {
    const v = versions.find((x) => x.version === diffFrom);
    if (!v) { fill(diffBox); return; }
    const steps = lineDiff(v.text, editor.value());
    const { added, removed } = diffStats(steps);
    const against = dirty() ? "the text in the editor" : `the active version (v${active.version})`;
    const hs = hunks(steps);
    fill(diffBox,
      h("p", { class: "small", id: "diff-summary" }, `Version ${v.version} → ${against}: `,
        h("span", { class: "diff-add-n" }, `+${added}`), " ", h("span", { class: "diff-del-n" }, `−${removed}`),
        added + removed === 0 ? " (the same text)" : ""),
      hs.map((hunk) => h("div", { class: "diff" }, hunk.map((s) => h("div", {
        class: `dl ${s.op}`,
        "aria-label": `${s.op === "add" ? "added" : s.op === "del" ? "removed" : "unchanged"} line`,
      },
      h("span", { class: "n" }, s.a ?? ""), h("span", { class: "n" }, s.b ?? ""),
      h("span", { class: "mark" }, s.op === "add" ? "+" : s.op === "del" ? "−" : " "),
      h("span", { class: "t" }, s.text))))));
  }

  async function apply() {
    applyBtn.disabled = true;
    try {
      const v = await api.post("/policies", { text: editor.value(), origin: name || "new policy" });
      toast(`${v.name}: version ${v.version} applied`);
      if (v.name !== name) { location.hash = `#/policies/${encodeURIComponent(v.name)}`; return; }
      await load(true);
      editor.textarea.focus(); // the pressed button is disabled now
    } catch (e) {
      if (e.problem && Array.isArray(e.problem.problems)) {
        problems = e.problem.problems;
        editor.setProblems(problems);
      }
      toast(`Cannot apply: ${e.message}`, true);
      changed();
    }
  }

  function revert() {
    if (!active) return;
    editor.setValue(active.text);
    scheduleCheck();
    changed();
    editor.textarea.focus();
  }

  async function rollback(v) {
    const ok = await ask({
      title: `Roll ${name} back to version ${v.version}?`, confirm: "Roll back", danger: true,
      body: [h("p", {}, `Version ${v.version}'s text becomes the active policy again, stored as version ${versions[versions.length - 1].version + 1}. The engine uses it from its next round.`),
        dirty() ? h("p", { class: "error" }, "Your unapplied edits in the editor are replaced.") : null],
    });
    if (!ok) return;
    try {
      const nv = await api.post(api.path("policies", name, "rollback"), { version: v.version });
      toast(`${name}: rolled back to version ${v.version} (now version ${nv.version})`);
      await load(true);
      editor.textarea.focus(); // the pressed button is gone with the old list
    } catch (e) {
      toast(`Cannot roll back: ${e.message}`, true);
    }
  }

  async function explain() {
    explainBtn.disabled = true;
    fill(explainBox, h("p", { class: "muted" }, "Asking the engine…"));
    const body = name && !dirty() ? { name } : { text: editor.value() };
    try {
      const r = await api.post("/policies/explain", body);
      fill(explainBox, h("h3", {}, "What the engine would do now"), explanation(r));
      explainBox.dataset.state = "answered";
    } catch (e) {
      explainBox.dataset.state = "error";
      let why;
      // No such route: 404 "no such resource", or 405 where the route
      // `/policies/{name}` takes the path.
      if ((e.status === 404 && /no such resource/.test(e.message)) || e.status === 405) why = "this manager cannot explain policies yet (POST /api/v1/policies/explain is not there).";
      else if (e.status === 403) why = "this manager lets only admins explain (it predates readers' explain).";
      else if (e.problem && Array.isArray(e.problem.problems)) { why = "the text has problems; fix them first."; editor.setProblems(e.problem.problems); }
      else why = e.message;
      fill(explainBox, h("p", { class: "error", id: "explain-error" }, `Cannot explain: ${why}`));
    } finally {
      explainBtn.disabled = false;
    }
  }

  load(true);
  if (name) {
    recentRounds(roundsBox, name, signal);
    every(15000, () => recentRounds(roundsBox, name, signal), signal);
  }
}

const OUTCOME = { done: "done", failed: "failed", skipped: "skipped", "dry-run": "not sent (dry run)" };
const OUTCOME_CLASS = { done: "vs-fe-serving", failed: "vs-down", skipped: "vs-fe-pending", "dry-run": "vs-fe-none" };

/**
 * The engine's answer (`POST /policies/explain`, shaped as an audit
 * round, with what it looked at): one round, or a list of them.
 */
export function explanation(r) {
  const rounds = Array.isArray(r) ? r : Array.isArray(r && r.rounds) ? r.rounds : [r];
  if (!rounds.length) return h("p", { class: "muted" }, "No policy applies now.");
  return rounds.map((x) => roundView(x, false));
}

/** One round: what the engine found and the commands it gave, with why. */
function roundView(x, audit) {
  const hosts = (label, xs) => (xs && xs.length ? h("li", {}, `${label}: ${xs.join(", ")}`) : null);
  const cmds = x.commands || [];
  const seen = x.hosts === undefined ? null
    : `Looked at ${x.hosts} host${x.hosts === 1 ? "" : "s"} (${x.hosts_reporting ?? "?"} reporting) and ${x.vms ?? "?"} VMs.`;
  return h("div", { class: "round" },
    h("p", { class: "small", id: audit ? null : "explain-seen" },
      audit ? [h("strong", {}, when(x.at)), ` · round ${x.round} · v${x.version}${x.dry_run ? " · dry run" : ""}. `]
        : x.policy ? [h("strong", {}, x.policy), x.version ? ` v${x.version}` : " (the editor's text)", ". "] : null,
      seen),
    (x.warnings || []).map((w) => h("p", { class: "notice small" }, w)),
    h("ul", { class: "small" },
      hosts("Overloaded hosts", x.hot), hosts("Underloaded hosts", x.cold),
      hosts("Held (data not trusted)", x.held), hosts("No move relieves", x.unresolved),
      (x.notes || []).map((n) => h("li", { class: "muted" }, n))),
    cmds.length
      ? h("ol", { class: "commands", id: audit ? null : "explain-commands" }, cmds.map((c) => h("li", {},
        h("code", {}, c.what),
        audit || c.outcome === "skipped" ? [" ", h("span", { class: `state ${OUTCOME_CLASS[c.outcome] || ""}` },
          audit ? OUTCOME[c.outcome] || c.outcome : "would be skipped")] : null,
        c.reason ? h("div", { class: "muted small" }, c.reason) : null,
        c.error ? h("div", { class: "error small" }, c.error) : null)))
      : h("p", { class: "muted", id: audit ? null : "explain-none" },
        audit ? "No command." : "No command: the engine would change nothing now."));
}

/** What the policy loop did lately under this policy, newest first. */
export async function recentRounds(box, name, signal) {
  let rounds;
  try {
    rounds = await api.get(`/policies/audit?n=5&policy=${encodeURIComponent(name)}`, { signal });
  } catch (e) {
    if (!signal.aborted) fill(box, unavailable("recent rounds", e));
    return;
  }
  fill(box, rounds.length ? [...rounds].reverse().map((x) => roundView(x, true))
    : h("p", { class: "muted" }, "No round of this policy has done anything yet."));
}
