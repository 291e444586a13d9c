import { h } from "@/lib/dom";

/** An accessible progress bar; fraction in [0, 1]. */
export function progressBar(fraction: number, label: string): HTMLElement {
  const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
  return h(
    "div",
    { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct), "aria-label": label },
    h("div", { class: "progress-fill", style: { width: `${pct}%` } }),
    h("span", { class: "progress-text" }, `${label} ${pct}%`),
  );
}
