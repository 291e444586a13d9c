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

export interface CurvePointMark {
  x: number;
  y: number;
  /** drawn as a larger ring (e.g. a promoted model) */
  marked?: boolean;
  title?: string;
}

/** A line chart of one series on a fixed y range (default 0–1), marked points ringed, axes labelled. */
export function markedLineChart(points: CurvePointMark[], opts: { title: string; xLabel: string; yLabel: string; yMin?: number; yMax?: number; markLabel?: string }): SVGElement {
  const w = 380;
  const hgt = 190;
  const [padL, padR, padT, padB] = [36, 12, 18, 32];
  const pts = [...points].sort((a, b) => a.x - b.x);
  const xs = pts.map((p) => p.x);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const [y0, y1] = [opts.yMin ?? 0, opts.yMax ?? 1];
  const sx = (x: number) => padL + ((x - x0) / (x1 - x0)) * (w - padL - padR);
  const sy = (y: number) => hgt - padB - ((Math.min(y1, Math.max(y0, y)) - y0) / (y1 - y0)) * (hgt - padT - padB);
  const root = svg("svg", { viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": opts.title, class: "chart" });
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const y = y0 + t * (y1 - y0);
    root.append(svg("line", { x1: padL, y1: sy(y), x2: w - padR, y2: sy(y), class: t === 0 ? "axis" : "grid" }),
      svg("text", { x: padL - 4, y: sy(y) + 3, "text-anchor": "end", class: "chart-value" }, y.toFixed(2)));
  }
  root.append(svg("line", { x1: padL, y1: padT, x2: padL, y2: hgt - padB, class: "axis" }));
  const xTicks = [...new Set(xs)].slice(0, 12);
  for (const x of xTicks) root.append(svg("text", { x: sx(x), y: hgt - padB + 12, "text-anchor": "middle", class: "chart-value" }, String(x)));
  root.append(svg("text", { x: (padL + w - padR) / 2, y: hgt - 4, "text-anchor": "middle", class: "chart-label" }, opts.xLabel));
  root.append(svg("text", { x: 4, y: 10, class: "chart-label" }, opts.yLabel));
  if (pts.length > 1) root.append(svg("path", { d: pts.map((p, j) => `${j ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" "), class: "series s0", fill: "none" }));
  for (const p of pts) {
    const dot = svg("circle", { cx: sx(p.x), cy: sy(p.y), r: p.marked ? 5 : 3, class: p.marked ? "dot marked" : "dot s0" });
    if (p.title) dot.append(svg("title", {}, p.title));
    root.append(dot);
  }
  if (pts.some((p) => p.marked)) {
    root.append(svg("circle", { cx: w - padR - 92, cy: 8, r: 4, class: "dot marked" }),
      svg("text", { x: w - padR - 84, y: 11, class: "chart-label" }, opts.markLabel ?? "marked"));
  }
  return root;
}

export interface Interval {
  value: number;
  lo: number;
  hi: number;
}

export interface ErrorBarRow {
  label: string;
  /** the main estimate (drawn first, solid) */
  est: Interval;
  /** a second estimate beside it (e.g. the true value), when known */
  alt?: Interval | null;
  note?: string;
}

/** A horizontal dot-and-whisker chart around a zero line: per row an estimate with its interval, and an optional second one. */
export function errorBarChart(rows: ErrorBarRow[], opts: { title: string; estLabel: string; altLabel: string; axisLabel: string }): SVGElement {
  const w = 460;
  const rowH = 34;
  const [labelW, noteW, padT, padB] = [120, 124, 20, 26];
  const hgt = padT + rows.length * rowH + padB;
  const ext = Math.max(0.05, ...rows.flatMap((r) => [r.est, r.alt].filter((i): i is Interval => !!i).flatMap((i) => [Math.abs(i.lo), Math.abs(i.hi), Math.abs(i.value)]).filter(Number.isFinite)));
  const lim = Math.ceil(ext * 20) / 20;
  const sx = (v: number) => labelW + ((Math.max(-lim, Math.min(lim, v)) + lim) / (2 * lim)) * (w - labelW - noteW);
  const root = svg("svg", { viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": opts.title, class: "chart error-bars" });
  root.append(svg("line", { x1: sx(0), y1: padT - 4, x2: sx(0), y2: hgt - padB, class: "axis zero" }));
  for (const v of [-lim, 0, lim]) root.append(svg("text", { x: sx(v), y: hgt - padB + 12, "text-anchor": "middle", class: "chart-value" }, (v > 0 ? "+" : "") + v.toFixed(2)));
  root.append(svg("text", { x: sx(0), y: hgt - 3, "text-anchor": "middle", class: "chart-label" }, opts.axisLabel));
  root.append(svg("circle", { cx: labelW, cy: 8, r: 3.5, class: "dot est" }), svg("text", { x: labelW + 7, y: 11, class: "chart-label" }, opts.estLabel),
    svg("rect", { x: labelW + 120, y: 4.5, width: 7, height: 7, class: "dot alt" }), svg("text", { x: labelW + 131, y: 11, class: "chart-label" }, opts.altLabel));
  const bar = (i: Interval, y: number, cls: string, title: string) => {
    const g = svg("g", { class: cls });
    g.append(svg("line", { x1: sx(i.lo), y1: y, x2: sx(i.hi), y2: y, class: "whisker" }),
      svg("line", { x1: sx(i.lo), y1: y - 4, x2: sx(i.lo), y2: y + 4, class: "whisker" }),
      svg("line", { x1: sx(i.hi), y1: y - 4, x2: sx(i.hi), y2: y + 4, class: "whisker" }),
      cls === "alt" ? svg("rect", { x: sx(i.value) - 3.5, y: y - 3.5, width: 7, height: 7, class: "dot alt" }) : svg("circle", { cx: sx(i.value), cy: y, r: 3.5, class: "dot est" }),
      svg("title", {}, title));
    return g;
  };
  rows.forEach((r, k) => {
    const y = padT + k * rowH + rowH / 2;
    root.append(svg("text", { x: labelW - 6, y: y + 3, "text-anchor": "end", class: "chart-label" }, r.label));
    const fmt = (i: Interval) => `${i.value >= 0 ? "+" : ""}${i.value.toFixed(3)} [${i.lo.toFixed(3)}, ${i.hi.toFixed(3)}]`;
    root.append(bar(r.est, r.alt ? y - 6 : y, "est", `${opts.estLabel}: ${fmt(r.est)}`));
    if (r.alt) root.append(bar(r.alt, y + 6, "alt", `${opts.altLabel}: ${fmt(r.alt)}`));
    if (r.note) root.append(svg("text", { x: w - noteW + 6, y: y + 3, class: "chart-value" }, r.note));
  });
  return root;
}
