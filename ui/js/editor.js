// A plain-text code editor: a <textarea> (so typing, undo, selection and
// screen readers work as everywhere) beside a gutter of line numbers that
// marks the lines with problems, and a list of the problems whose entries
// move the cursor to their line and column. Tab keeps moving the focus.

import { h, fill } from "./dom.js";

/**
 * label: the text area's label; value: its text; readOnly: no typing;
 * onInput(text): after each change. Returns { el, textarea, value(),
 * setValue(text), setProblems([{line, column, message, help}]), goTo(line, col) }.
 */
export function codeEditor({ id, label, value = "", readOnly = false, onInput }) {
  const listId = `${id}-problems`;
  const gutter = h("div", { class: "code-gutter", "aria-hidden": "true" });
  const textarea = h("textarea", {
    id, wrap: "off", spellcheck: "false", autocapitalize: "off", autocomplete: "off",
    rows: 16, readonly: readOnly, "aria-describedby": listId,
  });
  textarea.value = value;
  const list = h("ol", { class: "problems", id: listId, "aria-label": "Problems" });
  const el = h("div", { class: "code-editor" },
    h("label", { for: id }, label),
    h("div", { class: "code" }, gutter, textarea),
    list);

  let problems = [];
  let lines = -1;

  function drawGutter(force = false) {
    const n = Math.max(1, textarea.value.split("\n").length);
    if (n === lines && !force) return;
    lines = n;
    const bad = new Map();
    for (const p of problems) {
      if (p.line > 0) bad.set(p.line, [...(bad.get(p.line) || []), p.message]);
    }
    const rows = [];
    for (let i = 1; i <= n; i++) {
      const msgs = bad.get(i);
      rows.push(h("div", { class: msgs ? "ln bad" : "ln", title: msgs ? msgs.join("\n") : null, "data-line": i }, String(i)));
    }
    // Room for the text area's horizontal scroll bar at the very end.
    rows.push(h("div", { class: "ln" }, "\u00a0"));
    fill(gutter, rows);
    gutter.scrollTop = textarea.scrollTop;
  }

  textarea.addEventListener("scroll", () => { gutter.scrollTop = textarea.scrollTop; });
  textarea.addEventListener("input", () => {
    drawGutter();
    if (onInput) onInput(textarea.value);
  });

  /** Puts the cursor at `line`:`column` (1-based) and shows that line. */
  function goTo(line, column = 1) {
    const all = textarea.value.split("\n");
    const l = Math.min(Math.max(1, line), all.length);
    let offset = 0;
    for (let i = 0; i < l - 1; i++) offset += all[i].length + 1;
    offset += Math.min(Math.max(0, column - 1), all[l - 1].length);
    textarea.focus();
    textarea.setSelectionRange(offset, offset);
    const lh = parseFloat(getComputedStyle(textarea).lineHeight) || 20;
    const top = (l - 1) * lh;
    if (top < textarea.scrollTop || top > textarea.scrollTop + textarea.clientHeight - 2 * lh) {
      textarea.scrollTop = Math.max(0, top - 3 * lh);
    }
  }

  function setProblems(ps) {
    problems = ps || [];
    textarea.setAttribute("aria-invalid", problems.length ? "true" : "false");
    fill(list, problems.map((p) => h("li", { class: "problem" },
      p.line > 0
        ? h("button", {
          type: "button", class: "link at", "data-line": p.line, "data-column": p.column,
          onclick: () => goTo(p.line, p.column),
        }, `line ${p.line}:${p.column}`)
        : h("span", { class: "at" }, "whole file"),
      " ", h("span", { class: "msg" }, p.message),
      p.help ? h("div", { class: "help muted" }, p.help) : null)));
    drawGutter(true);
  }

  function setValue(text) {
    textarea.value = text;
    drawGutter(true);
  }

  drawGutter(true);
  return { el, textarea, value: () => textarea.value, setValue, setProblems, goTo };
}
