import { h } from "@/lib/dom";
import { emptyState } from "@/components/error-banner";
import type { Project } from "@/types/domain";

const MANAGING = new Set(["manager", "owner", "admin"]);

/** Cards of the user's projects with the actions their role allows. */
export function projectList(projects: Project[], isStaff: boolean): HTMLElement {
  if (!projects.length) return emptyState("You are not a member of any project yet. Ask a project manager to add you.");
  return h(
    "ul",
    { class: "project-list" },
    ...projects.map((p) => {
      const role = (p.role as string | null) ?? (isStaff ? "admin" : "");
      const manages = isStaff || MANAGING.has(role);
      return h(
        "li",
        { class: "card" },
        h("h2", {}, p.name),
        h("p", { class: "muted" }, `${p.case_count} cases · ${p.raters_per_case} raters per case${p.blinded ? " · blinded" : ""} · your role: ${role || "none"}`),
        h("div", { class: "actions" },
          h("a", { class: "button primary", href: `#/annotate/${p.slug}`, "data-action": "next-case" }, "Next case"),
          h("a", { class: "button", href: `#/queue/${p.slug}` }, "Queue"),
          manages ? h("a", { class: "button", href: `#/dashboard/${p.slug}` }, "Dashboard") : null),
      );
    }),
  );
}
