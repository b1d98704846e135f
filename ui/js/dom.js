// Small DOM helpers. Text always goes in as text (never as HTML), so
// names from the API cannot inject markup.

/** `h("a", {href: "#/"}, "text", child)`; `on*` attributes become listeners. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces `el`'s children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A VM's state as a word: "Running", or "Other(5)". */
export function stateName(s) {
  if (typeof s === "string") return s;
  if (s && typeof s === "object") {
    const [k, v] = Object.entries(s)[0] || ["unknown", ""];
    return `${k}(${v})`;
  }
  return "Unknown";
}

/** A state badge. `job` marks job states (running is amber there). */
export function state(s, job = false) {
  const name = stateName(s);
  const key = name.toLowerCase().replace(/[^a-z]/g, "");
  return h("span", { class: `state state-${key}${job ? " is-job" : ""}` }, name.replace(/_/g, " "));
}

export function mib(n) {
  if (n === null || n === undefined) return "–";
  const fmt = (x) => x.toFixed(x % 1 ? 1 : 0);
  if (n >= 1024 * 1024) return `${fmt(n / (1024 * 1024))} TiB`;
  return n >= 1024 ? `${fmt(n / 1024)} GiB` : `${n} MiB`;
}

export function num(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en");
}

export function when(ms) {
  if (!ms) return "–";
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

/** An allocation bar: `used` of `total`, labelled for screen readers. */
export function bar(used, total, label) {
  const pct = total > 0 ? (100 * used) / total : 0;
  const fill = h("span");
  fill.style.width = `${Math.min(100, pct).toFixed(1)}%`;
  const cls = pct > 100 ? "bar over" : pct >= 85 ? "bar high" : "bar";
  return h("div", {
    class: cls,
    role: "meter",
    "aria-label": label,
    "aria-valuemin": 0,
    "aria-valuemax": total || 0,
    "aria-valuenow": used || 0,
    "aria-valuetext": `${Math.round(pct)}% (${used} of ${total})`,
  }, fill);
}

/** A labelled bar line: "vCPU [=====   ] 6 / 8". */
export function barline(label, used, total, fmt = num) {
  return h("div", { class: "barline" },
    h("span", {}, label),
    bar(used, total, label),
    h("span", { class: "v" }, `${fmt(used)} / ${total ? fmt(total) : "–"}`));
}

/** A short message that goes away by itself. */
export function toast(text, bad = false) {
  const box = document.getElementById("toasts");
  const t = h("div", { class: bad ? "toast bad" : "toast" }, text);
  box.append(t);
  setTimeout(() => t.remove(), 6000);
}

/** A section whose body shows an error instead of failing the page. */
export function unavailable(what, err) {
  const why = err && err.status === 404 ? "not available from this manager yet" : (err && err.message) || String(err);
  return h("p", { class: "muted" }, `${what}: ${why}`);
}

/**
 * A modal dialog (native <dialog>: focus is trapped and Escape closes it).
 * Resolves with the submitted form's data, or null when cancelled.
 */
export function ask({ title, body = [], confirm = "OK", danger = false }) {
  return new Promise((resolve) => {
    const form = h("form", { method: "dialog" },
      h("h2", {}, title),
      body,
      h("div", { class: "actions" },
        h("button", { type: "submit", value: "ok", class: danger ? "danger" : "" }, confirm),
        h("button", { type: "button", class: "quiet", onclick: () => dlg.close("cancel") }, "Cancel")));
    const dlg = h("dialog", { "aria-label": title }, form);
    let result = null;
    form.addEventListener("submit", (e) => {
      if (!form.reportValidity()) { e.preventDefault(); return; }
      result = Object.fromEntries(new FormData(form).entries());
    });
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(dlg.returnValue === "ok" ? result : null);
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** A labelled input for dialogs and forms. */
export function field(label, attrs) {
  const id = `f-${attrs.name}-${Math.random().toString(36).slice(2, 8)}`;
  return [h("label", { for: id }, label), h("input", { id, ...attrs })];
}

/** A labelled select of [value, text] pairs. */
export function choice(label, name, options, value) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const sel = h("select", { id, name }, options.map(([v, t]) => h("option", { value: v }, t)));
  if (value !== undefined) sel.value = value;
  return [h("label", { for: id }, label), sel];
}

/** Runs `f` every `ms` while the page is shown and the tab visible. */
export function every(ms, f, signal) {
  let t = null;
  const tick = async () => {
    if (signal.aborted) return;
    if (!document.hidden) {
      try { await f(); } catch { /* the page shows its own errors */ }
    }
    if (!signal.aborted) t = setTimeout(tick, ms);
  };
  t = setTimeout(tick, ms);
  signal.addEventListener("abort", () => clearTimeout(t), { once: true });
}
