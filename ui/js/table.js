// A table for long lists: search, filters, sort and pagination on the
// client. Only one page of rows is in the DOM, so 20,000 VMs render as
// fast as 50; sorting and filtering work on plain arrays.

import { h, fill } from "./dom.js";

/**
 * columns: [{ key, label, value?(row) (sort key), render?(row) (cell), num?, wide? }]
 * filters: [{ name, label, options(rows) -> [[value, text]], test(row, value) }]
 * search:  row -> text searched by the search box
 * state:   { q, sort, dir, page, [filter name]: value } (kept across refreshes)
 * onState: called with the state when the user changes it (to keep it in the URL)
 */
export function createTable({ caption, columns, filters = [], search, placeholder = "search…", pageSize = 50, state = {}, onState, empty = "Nothing here." }) {
  const st = { q: "", sort: columns[0].key, dir: 1, page: 0, ...state };
  let rows = [];
  const tbody = h("tbody");
  const status = h("span", { class: "muted", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "quiet", onclick: () => go(st.page - 1) }, "Previous");
  const next = h("button", { type: "button", class: "quiet", onclick: () => go(st.page + 1) }, "Next");
  const uid = Math.random().toString(36).slice(2, 8);

  const searchBox = search ? h("input", {
    type: "search", id: `q-${uid}`, value: st.q, placeholder, autocomplete: "off",
    oninput: (e) => { st.q = e.target.value; st.page = 0; changed(); },
  }) : null;
  const selects = filters.map((f) => h("select", {
    id: `f-${f.name}-${uid}`, name: f.name,
    onchange: (e) => { st[f.name] = e.target.value; st.page = 0; changed(); },
  }));

  const ths = columns.map((c) => {
    const th = h("th", { scope: "col", class: [c.num ? "num" : "", c.wide ? "wide-only" : ""].join(" ") },
      c.value === null ? c.label : h("button", { type: "button", class: "sort", onclick: () => sortBy(c.key) }, c.label));
    return th;
  });
  const table = h("table", {}, caption ? h("caption", { class: "muted" }, caption) : null,
    h("thead", {}, h("tr", {}, ths)), tbody);

  const el = h("div", { class: "ptable" },
    (search || filters.length) ? h("div", { class: "toolbar" },
      search ? h("div", {}, h("label", { for: `q-${uid}` }, "Search"), searchBox) : null,
      filters.map((f, i) => h("div", {}, h("label", { for: selects[i].id }, f.label), selects[i]))) : null,
    h("div", { class: "table-wrap" }, table),
    h("div", { class: "pager" }, prev, next, status));

  function sortBy(key) {
    if (st.sort === key) st.dir = -st.dir; else { st.sort = key; st.dir = 1; }
    changed();
  }
  function go(p) { st.page = p; changed(); }
  function changed() { render(); if (onState) onState({ ...st }); }

  function sortKey(c, r) {
    const v = c.value ? c.value(r) : r[c.key];
    return v === undefined || v === null ? "" : v;
  }
  const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

  function visible() {
    const q = st.q.trim().toLowerCase();
    let out = rows;
    if (q && search) out = out.filter((r) => search(r).toLowerCase().includes(q));
    for (const f of filters) {
      const v = st[f.name];
      if (v) out = out.filter((r) => f.test(r, v));
    }
    const col = columns.find((c) => c.key === st.sort) || columns[0];
    const keys = new Map(out.map((r) => [r, sortKey(col, r)]));
    out = out.slice().sort((a, b) => {
      const x = keys.get(a), y = keys.get(b);
      const c = typeof x === "number" && typeof y === "number" ? x - y : collator.compare(String(x), String(y));
      return c * st.dir;
    });
    return out;
  }

  function render() {
    const all = visible();
    const pages = Math.max(1, Math.ceil(all.length / pageSize));
    st.page = Math.min(Math.max(0, st.page), pages - 1);
    const start = st.page * pageSize;
    const page = all.slice(start, start + pageSize);
    fill(tbody, page.length ? page.map((r) => h("tr", {}, columns.map((c) => {
      const v = c.render ? c.render(r) : r[c.key];
      return h("td", { class: [c.num ? "num" : "", c.wide ? "wide-only" : "", c.wrap ? "wrap" : ""].join(" ") }, v);
    }))) : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, rows.length ? "No match." : empty)));
    ths.forEach((th, i) => {
      if (columns[i].key === st.sort) th.setAttribute("aria-sort", st.dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    prev.disabled = st.page === 0;
    next.disabled = st.page >= pages - 1;
    status.textContent = all.length
      ? `${(start + 1).toLocaleString("en")}–${(start + page.length).toLocaleString("en")} of ${all.length.toLocaleString("en")}` +
        (all.length !== rows.length ? ` (${rows.length.toLocaleString("en")} in all)` : "")
      : "";
  }

  // A refresh must not pull focus from under a keyboard user: while the
  // keyboard focus is in the rows (or a filter list), new data waits until
  // it leaves.
  let pending = false;
  el.addEventListener("focusout", (e) => {
    if (pending && !el.contains(e.relatedTarget)) { pending = false; setRows(rows); }
  });

  /** New data; search, filters, sort and page stay as they are. */
  function setRows(r) {
    rows = r || [];
    const focused = document.activeElement;
    const keyboard = focused && focused.matches(":focus-visible");
    if (keyboard && (tbody.contains(focused) || selects.includes(focused))) { pending = true; return; }
    filters.forEach((f, i) => {
      const sel = selects[i];
      const want = st[f.name] || "";
      fill(sel, h("option", { value: "" }, "all"), f.options(rows).map(([v, t]) => h("option", { value: v }, t)));
      sel.value = want;
      if (sel.value !== want) { // the option went away
        sel.append(h("option", { value: want }, want));
        sel.value = want;
      }
    });
    render();
  }

  return { el, setRows, state: st, size: () => rows.length };
}
