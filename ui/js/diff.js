// A line diff: the longest common subsequence of two texts' lines, as
// the steps that turn the old text into the new one. Pure (no DOM), so a
// test can import it on its own. Policy files are a few hundred lines:
// the quadratic table is small, and the common head and tail are cut off
// first so a one-line change costs almost nothing.

/**
 * `lineDiff(a, b)` → [{ op: "same" | "del" | "add", text, a?: line, b?: line }]
 * with 1-based line numbers in the old text (`a`) and the new one (`b`).
 * Deletions come before additions where lines were replaced.
 */
export function lineDiff(oldText, newText) {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);

  // lcs[i][j]: the LCS length of x[i..] and y[j..] (one flat array).
  const w = y.length + 1;
  const lcs = new Uint32Array((x.length + 1) * w);
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      lcs[i * w + j] = x[i] === y[j]
        ? lcs[(i + 1) * w + j + 1] + 1
        : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }

  const out = [];
  for (let k = 0; k < head; k++) out.push({ op: "same", text: a[k], a: k + 1, b: k + 1 });
  let i = 0, j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      out.push({ op: "same", text: x[i], a: head + i + 1, b: head + j + 1 });
      i++; j++;
    } else if (j >= y.length || (i < x.length && lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])) {
      out.push({ op: "del", text: x[i], a: head + i + 1 });
      i++;
    } else {
      out.push({ op: "add", text: y[j], b: head + j + 1 });
      j++;
    }
  }
  for (let k = tail; k > 0; k--) {
    out.push({ op: "same", text: a[a.length - k], a: a.length - k + 1, b: b.length - k + 1 });
  }
  return out;
}

/** How many lines were added and removed. */
export function diffStats(steps) {
  let added = 0, removed = 0;
  for (const s of steps) {
    if (s.op === "add") added++;
    else if (s.op === "del") removed++;
  }
  return { added, removed };
}

/**
 * The steps grouped into hunks with `context` unchanged lines around each
 * change (as `diff -u` shows them); unchanged stretches between hunks are
 * left out. [] when the texts are equal.
 */
export function hunks(steps, context = 3) {
  const changed = steps.map((s) => s.op !== "same");
  const keep = steps.map((_, k) => {
    for (let d = -context; d <= context; d++) if (changed[k + d]) return true;
    return false;
  });
  const out = [];
  let cur = null;
  steps.forEach((s, k) => {
    if (!keep[k]) { cur = null; return; }
    if (!cur) { cur = []; out.push(cur); }
    cur.push(s);
  });
  return out;
}

/** Lines of a text; a final newline does not make an empty last line. */
function splitLines(text) {
  if (!text) return [];
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
