// Utilization charts (uPlot): CPU and memory percent over time, from the
// manager's metrics history (`t` in Unix ms, values in percent, null where
// nothing was measured). Each chart is in `window.vineCharts` by id.

import uPlot from "../vendor/uplot/uPlot.esm.js";

window.vineCharts = window.vineCharts || {};

const CPU = "#3d8f57";
const MEM = "#1a73e8";

/**
 * A chart in `box` (replacing its content once there are two points):
 * `set(series)` draws a whole series, `append(series)` adds newer points,
 * keeping at most `keep`. `series` is `{t, cpu_pct, memory_pct}`.
 */
export function utilChart(box, { id, height = 180, small = false, keep = 720, label = "" }) {
  const data = [[], [], []];
  let plot = null;
  const width = () => Math.max(small ? 200 : 260, box.clientWidth || (small ? 240 : 400));

  function draw() {
    if (data[0].length < 2) return; // one point makes no line (and no sane time axis)
    if (!plot) {
      box.replaceChildren();
      const css = getComputedStyle(document.documentElement);
      const axis = { stroke: css.getPropertyValue("--muted").trim(), grid: { stroke: css.getPropertyValue("--line").trim() } };
      plot = new uPlot({
        width: width(), height,
        title: small ? label : undefined,
        legend: { show: !small },
        // At least the last 20 s, so that the first two points do not
        // stretch over the whole axis.
        scales: { x: { time: true, range: (u, min, max) => [Math.min(min, max - 20), max] }, y: { range: [0, 100] } },
        axes: [
          { ...axis, ...(small ? { size: 28, values: (u, vals) => vals.map(hhmm) } : {}) },
          { ...axis, size: 50, values: (u, vals) => vals.map((v) => `${v}%`) },
        ],
        series: [{ label: "time" },
          { label: "CPU %", stroke: CPU, width: 2, spanGaps: false },
          { label: "memory %", stroke: MEM, width: 2, spanGaps: false }],
      }, data, box);
      box.dataset.points = String(data[0].length);
      window.vineCharts[id] = plot;
    } else {
      plot.setData(data);
      if (Math.abs(plot.width - width()) > 4) plot.setSize({ width: width(), height });
    }
    box.dataset.points = String(data[0].length);
  }

  function push(s) {
    const last = data[0].length ? data[0][data[0].length - 1] : -Infinity;
    (s.t || []).forEach((t, i) => {
      if (t / 1000 <= last) return;
      data[0].push(t / 1000);
      data[1].push(s.cpu_pct[i]);
      data[2].push(s.memory_pct[i]);
    });
    const extra = data[0].length - keep;
    if (extra > 0) data.forEach((a) => a.splice(0, extra));
  }

  return {
    set(s) { data.forEach((a) => { a.length = 0; }); push(s); draw(); },
    append(s) { push(s); draw(); },
    /** Unix ms of the newest point (0 when none). */
    last() { return data[0].length ? data[0][data[0].length - 1] * 1000 : 0; },
    resize() { if (plot) plot.setSize({ width: width(), height }); },
    destroy() { if (plot) { plot.destroy(); if (window.vineCharts[id] === plot) delete window.vineCharts[id]; } },
  };
}

/** `12:34` for Unix seconds. */
function hhmm(secs) {
  return new Date(secs * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** `"42%"` or `"–"`. */
export function pctText(v) {
  return v === null || v === undefined ? "–" : `${Math.round(v)}%`;
}
