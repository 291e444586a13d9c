/** The manager dashboard: progress, throughput, agreement, STAPLE per rater, low-agreement cases, learning (curve, models, policy, bias audit), jobs. */
import { ApiError } from "@/lib/api-client";
import { h, clear } from "@/lib/dom";
import { barChart, binnedHistogram, histogram, lineChart } from "@/components/charts";
import { emptyState, errorBanner, toast } from "@/components/error-banner";
import { progressBar } from "@/components/progress-bar";
import { adjudicate } from "@/features/dashboard/api/adjudicate";
import { getAgreement, type Agreement } from "@/features/dashboard/api/get-agreement";
import { getJobs } from "@/features/dashboard/api/get-jobs";
import { getStats, type ProjectStats } from "@/features/dashboard/api/get-stats";
import { learningPanels } from "@/features/dashboard/components/learning-panels";
import { raterOverlays } from "@/features/dashboard/components/rater-overlays";
import type { Job, Project } from "@/types/domain";

function panel(title: string, ...body: (Node | null)[]): HTMLElement {
  return h("section", { class: "panel card", "aria-label": title }, h("h2", {}, title), ...body);
}

function genericTable(rows: Record<string, unknown>[], caption: string): HTMLElement {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))].slice(0, 7);
  const fmt = (v: unknown) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));
  return h("table", { class: "table" }, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", {}, c.replace(/_/g, " "))))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...cols.map((c) => h("td", {}, fmt(r[c])))))));
}

function agreementTables(a: Agreement): HTMLElement {
  const raters = a.rater_names ?? a.raters ?? [];
  const structs = Object.entries(a.structures ?? {});
  const perStructure = genericTable(structs.map(([k, v]) => ({ structure: k, mean_dice: v.mean_pairwise_dice ?? v.mean_dice, fleiss_kappa: v.fleiss_kappa, krippendorff_alpha: v.krippendorff_alpha })),
    `Case mean Dice ${a.mean_dice?.toFixed(3) ?? "—"}${a.flagged ? " (flagged for adjudication)" : ""}`);
  const [, first] = structs[0] ?? [];
  const perRater = first ? genericTable(raters.map((r, i) => ({ rater: r, staple_sensitivity: first.staple_sensitivity?.[i], staple_specificity: first.staple_specificity?.[i], volume_mm3: first.volume_mm3?.[i] })), "Per rater (first structure)") : null;
  return h("div", {}, perStructure, perRater);
}

function jobsPanel(jobs: Job[]): HTMLElement {
  const running = jobs.filter((j) => !["succeeded", "failed", "cancelled", "done"].includes(String(j.status)));
  if (!running.length) return emptyState("No jobs running.");
  return h("ul", { class: "jobs" }, ...running.map((j) =>
    h("li", {}, h("div", {}, `${j.kind} #${j.id} · ${j.status}${j.message ? " · " + j.message : ""}`), progressBar(Number(j.progress ?? 0), String(j.kind)))));
}

export function dashboard(project: Project): { el: HTMLElement; destroy(): void } {
  const body = h("div", { class: "dash-grid" }, h("p", { class: "muted" }, "Loading statistics…"));
  const jobsBox = h("div", {});
  const el = h("div", { class: "dashboard" },
    h("div", { class: "dash-head" }, h("h1", {}, `${project.name}: dashboard`),
      h("a", { href: "#learning" , onclick: (ev: Event) => { ev.preventDefault(); learning.panels[0].scrollIntoView({ behavior: "smooth" }); } }, "Models and learning ↓")),
    body);
  let timer: number | null = null;
  const learning = learningPanels(project.slug, () => void refreshJobs());

  async function refreshJobs(): Promise<void> {
    try {
      const jobs = (await getJobs()).filter((j) => !j.project || j.project === project.slug);
      jobsBox.replaceChildren(jobsPanel(jobs));
    } catch (e) {
      jobsBox.replaceChildren(errorBanner(`Jobs: ${(e as Error).message}`));
    }
  }

  function lowAgreementRow(c: { case_id: number; mean_dice: number; name?: string }): HTMLElement {
    const detail = h("div", { class: "low-detail" });
    const open = h("button", { type: "button", "aria-expanded": "false", onclick: async () => {
      if (open.getAttribute("aria-expanded") === "true") { open.setAttribute("aria-expanded", "false"); clear(detail); return; }
      open.setAttribute("aria-expanded", "true");
      detail.replaceChildren(h("p", { class: "muted" }, "Loading raters' labels…"));
      const [overlays, agreement] = await Promise.all([
        raterOverlays(c.case_id),
        getAgreement(c.case_id).then(agreementTables,
          (e) => errorBanner(`Agreement: ${(e as Error).message}`)),
      ]);
      const method = h("select", { "aria-label": "Adjudication method" }, h("option", { value: "staple" }, "STAPLE"), h("option", { value: "majority" }, "Majority vote"));
      const adj = h("button", { type: "button", class: "primary", onclick: async () => {
        adj.disabled = true;
        try { await adjudicate(c.case_id, method.value as "staple" | "majority"); toast(`Case ${c.case_id} adjudicated (${method.value}).`); }
        catch (e) { toast(`Adjudication failed: ${(e as Error).message}`, "error"); }
        finally { adj.disabled = false; }
      } }, "Adjudicate");
      detail.replaceChildren(overlays, agreement, h("div", { class: "actions" }, method, adj));
    } }, "Show raters");
    return h("li", {}, h("div", { class: "row" }, h("span", {}, `${c.name ?? "Case " + c.case_id} · mean Dice ${c.mean_dice.toFixed(3)}`), open), detail);
  }

  function renderStats(s: ProjectStats): void {
    const p = s.progress;
    const ad = s.agreement_distribution;
    const distChart = !ad ? null
      : Array.isArray(ad) ? (ad.length ? histogram(ad.map((d) => (typeof d === "number" ? d : d.mean_dice ?? 0)), "Histogram of per-case mean Dice") : null)
      : ad.counts.some((c) => c > 0) ? binnedHistogram(ad.bins, ad.counts, "Histogram of per-case mean Dice") : null;
    const overTime = (s.agreement_over_time ?? []).map((r, i) => [i, r.mean_dice] as [number, number]);
    const labelled = p ? (p.labelled ?? p.closed ?? 0) : 0;
    body.replaceChildren(
      panel("Progress",
        p ? h("div", {}, progressBar(p.total ? labelled / p.total : 0, "Done"),
          h("p", {}, `${labelled} of ${p.total} cases done · ${p.in_progress ?? 0} in progress · ${p.new ?? "?"} new · ${p.assignments_open ?? "?"} open assignments`),
          h("a", { href: `#/queue/${project.slug}` }, "Open the queue")) : emptyState("No progress figures yet.")),
      panel("Throughput per rater",
        s.throughput?.length ? barChart(s.throughput.map((t) => ({ label: t.rater, value: t.cases_per_hour })), { title: "Cases per hour per rater", format: (v) => `${v.toFixed(1)}/h` }) : emptyState("No submissions yet.")),
      panel("Agreement distribution (mean Dice per case)",
        distChart ?? emptyState("No case has two submitted labels yet."),
        overTime.length > 1 ? lineChart([{ name: "mean Dice per day", points: overTime }], "Agreement over time") : null),
      panel("Per-rater STAPLE sensitivity / specificity",
        s.per_rater?.length ? genericTable(s.per_rater as unknown as Record<string, unknown>[], "Estimated by STAPLE against the consensus") : emptyState("STAPLE has not run yet.")),
      panel("Low-agreement cases",
        s.low_agreement?.length ? h("ul", { class: "low-list" }, ...s.low_agreement.map(lowAgreementRow)) : emptyState("No case is below the agreement threshold.")),
      ...learning.panels,
      panel("Running jobs", jobsBox),
    );
  }

  async function load(): Promise<void> {
    try {
      renderStats(await getStats(project.slug));
    } catch (e) {
      const msg = e instanceof ApiError && e.status === 404 ? "Statistics are not available from the server yet." : `Could not load statistics: ${(e as Error).message}`;
      body.replaceChildren(errorBanner(msg, () => void load()), ...learning.panels, panel("Running jobs", jobsBox));
    }
    await refreshJobs();
  }
  void load();
  timer = window.setInterval(() => void refreshJobs(), 3000);
  return { el, destroy: () => { if (timer) clearInterval(timer); learning.destroy(); } };
}
