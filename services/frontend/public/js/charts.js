/* Small SVG charts drawn at their container's pixel width (redrawn on resize), so text keeps its size. */

import { svg } from "./util.js";

function widthOf(node) {
  return Math.max(240, Math.round(node.parentElement.clientWidth - 34) || 400);
}

/** Call `redraw` when `node`'s width changes by more than a few pixels (charts are drawn at pixel width). */
export function onWidthChange(node, redraw) {
  let lastWidth = 0;
  new ResizeObserver((entries) => {
    const w = Math.round(entries[0].contentRect.width);
    if (Math.abs(w - lastWidth) > 8) redraw();
    lastWidth = w;
  }).observe(node);
}

function text(x, y, value, attrs = {}) {
  const t = svg("text", { x, y, ...attrs });
  t.textContent = value;
  return t;
}

/**
 * A line over time. `points` are {t: Date, v: number, label: string}; y runs from 0 to `yMax`.
 * `threshold` draws a dashed line (an alert's level). The node gets data-points for tests and readers.
 */
export function lineChart(node, points, { yMax = 1, format = (v) => String(v), threshold = null, empty = "No data yet." } = {}) {
  const width = widthOf(node), height = 180, left = 46, right = 10, top = 10, bottom = 26;
  node.setAttribute("viewBox", `0 0 ${width} ${height}`);
  node.setAttribute("width", String(width));
  node.setAttribute("height", String(height));
  node.dataset.points = String(points.length);
  if (!points.length) {
    node.replaceChildren(text(width / 2, height / 2, empty, { "text-anchor": "middle", class: "muted-text" }));
    return;
  }
  const t0 = points[0].t.getTime(), t1 = points[points.length - 1].t.getTime();
  const x = (t) => left + (t1 > t0 ? ((t.getTime() - t0) / (t1 - t0)) * (width - left - right) : (width - left - right) / 2);
  const y = (v) => top + (1 - Math.min(yMax, Math.max(0, v)) / yMax) * (height - top - bottom);
  const nodes = [];
  for (const f of [0, 0.5, 1]) {
    nodes.push(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(f * yMax), y2: y(f * yMax) }));
    nodes.push(text(left - 6, y(f * yMax) + 4, format(f * yMax), { "text-anchor": "end" }));
  }
  if (threshold !== null) nodes.push(svg("line", { class: "threshold", x1: left, x2: width - right, y1: y(threshold), y2: y(threshold) }));
  nodes.push(svg("polyline", { class: "line", points: points.map((p) => `${x(p.t)},${y(p.v)}`).join(" ") }));
  for (const p of points) {
    const dot = svg("circle", { class: "dot", cx: x(p.t), cy: y(p.v), r: 3.5 });
    const title = svg("title");
    title.textContent = p.label;
    dot.append(title);
    nodes.push(dot);
  }
  const clock = (t) => t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  nodes.push(text(left, height - 6, clock(points[0].t)));
  if (t1 > t0) nodes.push(text(width - right, height - 6, clock(points[points.length - 1].t), { "text-anchor": "end" }));
  node.replaceChildren(...nodes);
}

/** Paired bars per class: a solid bar for `live` shares and a faint one for `training` shares. */
export function pairedBars(node, names, live, training, classIndex) {
  const width = widthOf(node), rowH = 40, labelW = 86, countW = 56;
  const barW = width - labelW - countW;
  node.setAttribute("viewBox", `0 0 ${width} ${names.length * rowH}`);
  node.setAttribute("width", String(width));
  node.setAttribute("height", String(names.length * rowH));
  const share = (counts, name) => {
    const total = Object.values(counts || {}).reduce((a, b) => a + b, 0);
    return total ? (counts[name] || 0) / total : 0;
  };
  node.replaceChildren(...names.map((name, i) => {
    const y = i * rowH, idx = classIndex(name);
    const a = share(live, name), b = share(training, name);
    const g = svg("g", { "data-label": name, "data-live": a.toFixed(4), "data-training": b.toFixed(4) });
    const title = svg("title");
    title.textContent = `${name}: ${(a * 100).toFixed(1)}% live, ${(b * 100).toFixed(1)}% in training`;
    g.append(title, text(0, y + 24, name),
      svg("rect", { class: `fill-${idx}`, x: labelW, y: y + 6, width: Math.max(a ? 2 : 0, a * barW), height: 14, rx: 3 }),
      svg("rect", { class: `fill-${idx} training`, x: labelW, y: y + 22, width: Math.max(b ? 2 : 0, b * barW), height: 10, rx: 3 }),
      text(width, y + 18, `${(a * 100).toFixed(0)}%`, { "text-anchor": "end" }));
    return g;
  }));
}
