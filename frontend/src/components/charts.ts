import { svg } from "@/lib/dom";

export interface Bar {
  label: string;
  value: number;
}

/** A horizontal bar chart (SVG) with the values written out; max defaults to the largest value. */
export function barChart(bars: Bar[], opts: { max?: number; format?: (v: number) => string; title: string }): SVGElement {
  const fmt = opts.format ?? ((v: number) => v.toFixed(2));
  const max = opts.max ?? Math.max(1e-9, ...bars.map((b) => b.value));
  const rowH = 22;
  const w = 360;
  const labelW = 110;
  const root = svg("svg", { viewBox: `0 0 ${w} ${rowH * bars.length + 4}`, role: "img", "aria-label": opts.title, class: "chart" });
  bars.forEach((b, i) => {
    const y = i * rowH + 2;
    const bw = Math.max(1, ((w - labelW - 60) * Math.max(0, b.value)) / max);
    root.append(
      svg("text", { x: labelW - 6, y: y + 14, "text-anchor": "end", class: "chart-label" }, b.label),
      svg("rect", { x: labelW, y: y + 3, width: bw, height: rowH - 8, class: "chart-bar", rx: 2 }),
      svg("text", { x: labelW + bw + 4, y: y + 14, class: "chart-value" }, fmt(b.value)),
    );
  });
  return root;
}

/** A line chart of (x, y) points, one series per name. */
export function lineChart(series: { name: string; points: [number, number][] }[], title: string): SVGElement {
  const w = 360;
  const hgt = 160;
  const pad = 30;
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(1e-9, ...ys)];
  const sx = (x: number) => pad + ((x - x0) / Math.max(1e-9, x1 - x0)) * (w - 2 * pad);
  const sy = (y: number) => hgt - pad + -((y - y0) / Math.max(1e-9, y1 - y0)) * (hgt - 2 * pad);
  const root = svg("svg", { viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": title, class: "chart" });
  root.append(svg("line", { x1: pad, y1: hgt - pad, x2: w - pad, y2: hgt - pad, class: "axis" }));
  root.append(svg("line", { x1: pad, y1: pad, x2: pad, y2: hgt - pad, class: "axis" }));
  root.append(svg("text", { x: 2, y: pad, class: "chart-value" }, y1.toFixed(2)));
  root.append(svg("text", { x: 2, y: hgt - pad, class: "chart-value" }, y0.toFixed(2)));
  series.forEach((s, i) => {
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    root.append(svg("path", { d, class: `series s${i % 4}`, fill: "none" }));
    s.points.forEach((p) => root.append(svg("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.5, class: `dot s${i % 4}` })));
    root.append(svg("text", { x: w - pad, y: 12 + i * 12, "text-anchor": "end", class: `legend s${i % 4}` }, s.name));
  });
  return root;
}

/** A histogram of values in [lo, hi] with n bins. */
export function histogram(values: number[], title: string, lo = 0, hi = 1, n = 10): SVGElement {
  const counts = new Array(n).fill(0);
  for (const v of values) counts[Math.min(n - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * n)))]++;
  const w = 360;
  const hgt = 130;
  const max = Math.max(1, ...counts);
  const bw = (w - 20) / n;
  const root = svg("svg", { viewBox: `0 0 ${w} ${hgt + 16}`, role: "img", "aria-label": title, class: "chart" });
  counts.forEach((c, i) => {
    const bh = (c / max) * (hgt - 14);
    root.append(svg("rect", { x: 10 + i * bw, y: hgt - bh, width: bw - 2, height: bh, class: "chart-bar" }));
    if (c) root.append(svg("text", { x: 10 + i * bw + bw / 2, y: hgt - bh - 2, "text-anchor": "middle", class: "chart-value" }, String(c)));
  });
  root.append(svg("text", { x: 10, y: hgt + 13, class: "chart-value" }, lo.toFixed(1)));
  root.append(svg("text", { x: w - 10, y: hgt + 13, "text-anchor": "end", class: "chart-value" }, hi.toFixed(1)));
  return root;
}

/** A histogram already binned by the server: bins are edges (n+1), counts n. */
export function binnedHistogram(bins: number[], counts: number[], title: string): SVGElement {
  const values: number[] = [];
  counts.forEach((c, i) => { for (let k = 0; k < c; k++) values.push((bins[i] + bins[i + 1]) / 2); });
  return histogram(values, title, bins[0], bins[bins.length - 1], counts.length);
}
