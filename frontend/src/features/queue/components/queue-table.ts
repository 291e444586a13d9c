import { h } from "@/lib/dom";
import { emptyState } from "@/components/error-banner";
import type { Case } from "@/types/domain";

/** The project's cases in queue order, each with an "Open" link into the workspace. */
export function queueTable(slug: string, cases: Case[]): HTMLElement {
  if (!cases.length) return emptyState("No cases are visible to you in this project. Use “Next case” to get one assigned.");
  return h(
    "table",
    { class: "table" },
    h("caption", {}, "Cases, highest priority first"),
    h("thead", {}, h("tr", {}, h("th", {}, "Case"), h("th", {}, "Status"), h("th", {}, "Priority"), h("th", {}, "Size (x×y×z)"), h("th", {}, ""))),
    h("tbody", {}, ...cases.map((c) => {
      const s = (c.volume?.shape as unknown as number[] | undefined) ?? [];
      return h("tr", {},
        h("td", {}, c.name),
        h("td", {}, h("span", { class: `pill ${c.status}` }, String(c.status))),
        h("td", {}, Number(c.priority ?? 0).toFixed(2)),
        h("td", {}, s.length ? `${s[2]}×${s[1]}×${s[0]}` : "—"),
        h("td", {}, h("a", { class: "button", href: `#/annotate/${slug}?case=${c.id}`, "data-case": String(c.id) }, "Open")));
    })),
  );
}
