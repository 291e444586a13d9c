import { h } from "@/lib/dom";

/** A visible, announced error message. */
export function errorBanner(message: string, retry?: () => void): HTMLElement {
  return h(
    "div",
    { class: "error", role: "alert" },
    h("strong", {}, "Error: "),
    message,
    retry ? h("button", { type: "button", onclick: retry, class: "link" }, "Retry") : null,
  );
}

export function emptyState(message: string): HTMLElement {
  return h("p", { class: "empty" }, message);
}

export function toast(message: string, kind: "info" | "error" = "info"): void {
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  document.body.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 3000);
}
