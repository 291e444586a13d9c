/**
 * The dashboard's active-learning panels, from GET /api/projects/{slug}/learning/: learning curve,
 * model versions (rollback), retraining policy (train / re-score) and the latest bias audit.
 */
import { ApiError } from "@/lib/api-client";
import { h } from "@/lib/dom";
import { errorBarChart, markedLineChart } from "@/components/charts";
import { emptyState, errorBanner, toast } from "@/components/error-banner";
import { getLearning, rollback, startScoring, updatePolicy } from "@/features/dashboard/api/learning";
import { startTraining } from "@/features/dashboard/api/train";
import type { AuditComparison, BiasAudit, LearningState, ModelVersion } from "@/types/domain";

const dice = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(3) : "—");
const date = (s: string | null | undefined) => (s ? new Date(s).toLocaleString() : "—");
const pval = (p: number | null | undefined) => (typeof p !== "number" ? "—" : p < 0.001 ? "< 0.001" : p.toFixed(3));

function section(title: string, key: string): HTMLElement {
  return h("section", { class: "panel card learning", "aria-label": title, "data-section": key }, h("h2", {}, title), h("p", { class: "muted" }, "Loading…"));
}

function fill(panel: HTMLElement, ...body: (Node | null)[]): void {
  panel.replaceChildren(panel.firstElementChild!, ...body.filter((n): n is Node => !!n));
}

function curveView(s: LearningState): Node {
  const points = s.curve.filter((p) => typeof p.val_dice === "number"); // segmenter points (PULASki's carry val GED)
  if (!points.length) return emptyState("No model has been trained yet: the learning curve starts with the first training.");
  const numberOf = new Map(s.models.map((m) => [m.id, m.number]));
  return markedLineChart(
    points.map((p) => ({ x: p.n_labelled, y: p.val_dice, marked: p.promoted,
      title: `model ${numberOf.get(p.model_version) ?? p.model_version}: val Dice ${dice(p.val_dice)} with ${p.n_labelled} labelled cases${p.promoted ? " (promoted)" : ""}` })),
    { title: "Learning curve: validation Dice against labelled cases", xLabel: "labelled cases", yLabel: "val Dice", markLabel: "promoted" },
  );
}

function modelsTable(models: ModelVersion[]): Node {
  if (!models.length) return emptyState("No model versions yet.");
  const rows = [...models].sort((a, b) => (a.kind === b.kind ? b.number - a.number : a.kind.localeCompare(b.kind)));
  const kinds = new Set(rows.map((m) => m.kind));
  return h("table", { class: "table models" },
    h("caption", {}, "Model versions (newest first)"),
    h("thead", {}, h("tr", {}, ...[kinds.size > 1 ? "kind" : null, "#", "status", "validation (Dice ↑, GED ↓)", "labelled cases", "promoted"].filter(Boolean).map((c) => h("th", {}, c)))),
    h("tbody", {}, ...rows.map((m) => h("tr", { "data-model": String(m.id) },
      kinds.size > 1 ? h("td", {}, m.kind) : null,
      h("td", {}, `m${m.number}`),
      h("td", {}, h("span", { class: `status-pill ${m.status}`, title: typeof m.metrics?.rejected_because === "string" ? m.metrics.rejected_because : null },
        m.status === "rejected" && typeof m.metrics?.rejected_because === "string" ? `${m.status}: ${m.metrics.rejected_because.split(":")[0]}` : m.status)),
      m.kind === "pulaski"
        ? h("td", { title: "generalised energy distance of 8 samples to the raters' masks, validation cases" },
          typeof m.metrics?.val_ged === "number" ? `GED ${m.metrics.val_ged.toFixed(3)}` : "–")
        : m.kind === "shape_dae"
        ? h("td", { title: "Dice of the reconstruction of corrupted validation labels with the clean ones" },
          typeof m.metrics?.val_denoise_dice === "number" ? `denoise ${dice(m.metrics.val_denoise_dice)}` : "–")
        : h("td", { title: typeof m.metrics?.train_val_dice === "number" ? `train-time val Dice ${dice(m.metrics.train_val_dice)}` : null }, dice(m.metrics?.val_dice)),
      h("td", {}, String(m.n_labelled_cases)),
      h("td", {}, date(m.promoted_at))))));
}

function auditView(audits: BiasAudit[]): Node[] {
  const a = audits[0];
  if (!a || !a.comparisons?.length) return [emptyState("No bias audit has run yet.")];
  const interval = (c: AuditComparison, t: boolean) => {
    const v = t ? c.true_delta : c.delta;
    const lo = t ? c.true_ci_low : c.ci_low;
    const hi = t ? c.true_ci_high : c.ci_high;
    return typeof v === "number" && typeof lo === "number" && typeof hi === "number" ? { value: v, lo, hi } : null;
  };
  const rows = a.comparisons.map((c) => ({
    label: `${c.attribute}: ${c.group_a} − ${c.group_b}`,
    est: interval(c, false) ?? { value: c.delta ?? 0, lo: c.delta ?? 0, hi: c.delta ?? 0 },
    alt: interval(c, true),
    note: `p ${pval(c.p_value)}${typeof c.true_p_value === "number" ? ` · true ${pval(c.true_p_value)}` : ""}`,
  }));
  const conf = Math.round((a.confidence ?? 0.95) * 100);
  return [
    h("p", { class: "muted" }, `Latest audit ${date(a.created_at)} · ${conf}% bootstrap CI (${a.n_boot} resamples) · permutation p-values (${a.n_perm})`),
    errorBarChart(rows, { title: "Bias audit: ΔDSC between groups", estLabel: "RCA-estimated ΔDSC", altLabel: "true ΔDSC", axisLabel: "ΔDSC (group a − group b)" }),
    h("table", { class: "table audit" },
      h("thead", {}, h("tr", {}, ...["attribute", "groups (n)", "mean DSC", "ΔDSC [CI]", "p", "true ΔDSC [CI]", "true p"].map((c) => h("th", {}, c)))),
      h("tbody", {}, ...a.comparisons.map((c) => {
        const t = interval(c, true);
        return h("tr", {},
          h("td", {}, c.attribute),
          h("td", {}, `${c.group_a} (${c.n_a}) vs ${c.group_b} (${c.n_b})`),
          h("td", {}, `${dice(c.mean_a)} / ${dice(c.mean_b)}`),
          h("td", {}, `${dice(c.delta)} [${dice(c.ci_low)}, ${dice(c.ci_high)}]`),
          h("td", {}, pval(c.p_value)),
          h("td", {}, t ? `${dice(t.value)} [${dice(t.lo)}, ${dice(t.hi)}]` : "—"),
          h("td", {}, pval(c.true_p_value)));
      }))),
  ];
}

export interface LearningPanels {
  panels: HTMLElement[];
  refresh(): Promise<void>;
  destroy(): void;
}

/** The learning panels; they load themselves and refresh while a training runs. `onJob` hears of started jobs. */
export function learningPanels(slug: string, onJob: () => void): LearningPanels {
  const curve = section("Learning curve", "learning-curve");
  const models = section("Model versions and retraining", "models");
  const audit = section("Bias audit", "bias-audit");
  let state: LearningState | null = null;
  let timer: number | null = null;
  let busy = false;

  async function act(label: string, fn: () => Promise<string>): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      toast(await fn());
      onJob();
      await refresh();
    } catch (e) {
      toast(`${label} failed: ${(e as Error).message}`, "error");
    } finally {
      busy = false;
    }
  }

  function policyForm(s: LearningState): HTMLElement {
    const cron = h("input", { type: "text", name: "retrain_cron", value: s.policy.retrain_cron ?? "", placeholder: "e.g. 0 2 * * *", size: 14, "aria-label": "Retrain schedule (cron)" });
    const afterN = h("input", { type: "number", name: "retrain_after_consensus", min: "0", value: String(s.policy.retrain_after_consensus ?? 0), style: { width: "6em" }, "aria-label": "Retrain after N new consensus labels" });
    const save = h("button", { type: "submit" }, "Save policy");
    return h("form", { class: "policy-form", "aria-label": "Retraining policy", onsubmit: (ev: Event) => {
      ev.preventDefault();
      const n = Number(afterN.value);
      if (!Number.isInteger(n) || n < 0) { toast("“After N labels” must be a whole number ≥ 0.", "error"); return; }
      void act("Saving the policy", async () => {
        await updatePolicy(slug, { retrain_cron: cron.value.trim(), retrain_after_consensus: n });
        return "Retraining policy saved.";
      });
    } },
    h("label", {}, "Schedule (cron, empty = off)", cron),
    h("label", {}, "After N new consensus labels (0 = off)", afterN),
    save);
  }

  /** The stored training settings no longer fit the volumes imported since they were set (a training would fail). */
  function trainConfigProblem(s: LearningState): HTMLElement[] {
    const problem = s.policy.train_config_problem;
    if (!problem) return [];
    const stored = JSON.stringify(s.policy.train_config);
    const reset = h("button", { type: "button", id: "reset-train-config", onclick: () => {
      if (!window.confirm(`Drop the stored training settings ${stored} and train with the defaults for these volumes?`)) return;
      void act("Resetting the training settings", async () => {
        await updatePolicy(slug, { train_config: {} });
        return "Training settings reset: the defaults for this project's volumes apply.";
      });
    } }, "Use the defaults for these volumes");
    return [h("div", { class: "error", role: "alert", id: "train-config-problem" },
      h("p", {}, `The training settings no longer fit this project's volumes (a training would fail): ${problem.replace(/\.$/, "")}.`),
      h("p", {}, `Stored: ${stored}. Drop them, or set train_config again (PATCH /api/projects/${slug}/learning/).`),
      reset)];
  }

  /** How the queue is ordered: strategy, score combination, weights, batch (the server validates). */
  function acquisitionForm(s: LearningState): HTMLElement {
    const a = s.policy.acquisition;
    const select = (name: string, label: string, value: string, options: [string, string][]) =>
      h("label", {}, label, h("select", { name, "aria-label": label },
        ...options.map(([v, text]) => h("option", { value: v, ...(v === value ? { selected: "" } : {}) }, text))));
    const strategy = select("strategy", "Strategy", a.strategy, [["uncertainty_diversity", "Uncertain, diverse batch"],
      ["uncertainty", "Most uncertain"], ["diversity", "Most diverse"], ["typical", "Typical, diverse (few labels)"], ["random", "Random"]]);
    const method = select("method", "Combine scores by", a.method, [["weighted", "weighted sum of ranks"], ["borda", "Borda rank aggregation"]]);
    const names: [string, string][] = [["mc_entropy", "MC-dropout entropy"], ["tta_variance", "TTA variance"], ["ood_mahalanobis", "OOD distance"], ["pulaski_ged", "PULASki sample diversity"], ["anatomical", "Anatomical (shape prior)"]];
    const weights = names.map(([k, label]) => h("input", { type: "number", name: `w-${k}`, min: "0", step: "0.1", value: String(a.weights[k] ?? 0),
      style: { width: "5em" }, "aria-label": `Weight of ${label}` }));
    const batch = h("input", { type: "number", name: "batch", min: "1", value: String(a.batch), style: { width: "5em" }, "aria-label": "Batch size" });
    return h("form", { class: "policy-form", id: "acquisition-form", "aria-label": "Acquisition policy", onsubmit: (ev: Event) => {
      ev.preventDefault();
      const w = Object.fromEntries(names.map(([k], i) => [k, Number((weights[i] as HTMLInputElement).value)]));
      const next = { strategy: (strategy.querySelector("select") as HTMLSelectElement).value,
        method: (method.querySelector("select") as HTMLSelectElement).value, weights: w, batch: Number((batch as HTMLInputElement).value) };
      void act("Saving the acquisition policy", async () => {
        await updatePolicy(slug, { acquisition: next as LearningState["policy"]["acquisition"] });
        return "Acquisition policy saved; it orders the queue at the next scoring.";
      });
    } },
    strategy, method,
    ...names.map(([, label], i) => h("label", {}, `Weight: ${label}`, weights[i])),
    h("label", {}, "Batch", batch),
    h("button", { type: "submit" }, "Save acquisition policy"));
  }

  function render(s: LearningState): void {
    fill(curve, curveView(s));
    const job = s.training_job;
    const running = job ? h("p", { class: "notice", role: "status" }, `Training job #${job.id} · ${job.status}${job.message ? " · " + job.message : ""}`) : null;
    const pending = s.pending.length ? h("p", { class: "muted" }, `Training requested: ${s.pending.join(", ")}`) : null;
    const promoted = s.models.some((m) => m.kind === "segmenter" && m.status === "promoted");
    const train = h("button", { type: "button", class: "primary", id: "retrain", disabled: !!job, title: job ? "a training job is running" : "Train a new segmenter on the current consensus labels",
      onclick: () => void act("Training", async () => `Training job ${(await startTraining(slug, "segmenter")).id} started.`) }, "Train now");
    const trainPulaski = h("button", { type: "button", id: "train-pulaski", disabled: !!job,
      title: job ? "a training job is running" : "Train PULASki on every rater's masks (its sample diversity becomes an acquisition score)",
      onclick: () => void act("Training PULASki", async () => `PULASki training job ${(await startTraining(slug, "pulaski")).id} started.`) }, "Train PULASki");
    const trainShape = h("button", { type: "button", id: "train-shape-prior", disabled: !!job,
      title: job ? "a training job is running" : "Train the shape prior (denoising autoencoder) on the consensus labels: anatomically-aware uncertainty",
      onclick: () => void act("Training the shape prior", async () => `Shape-prior training job ${(await startTraining(slug, "shape_dae")).id} started.`) }, "Train shape prior");
    const score = h("button", { type: "button", id: "rescore", title: "Recompute uncertainty / OOD scores and refill the queue",
      onclick: () => void act("Re-scoring", async () => `Scoring job ${(await startScoring(slug)).id} started.`) }, "Re-score cases");
    const back = h("button", { type: "button", id: "rollback", disabled: !promoted, title: promoted ? "Retire the promoted segmenter and promote the previous one" : "no promoted model to roll back",
      onclick: () => {
        if (!window.confirm("Roll back to the previous segmenter model?")) return;
        void act("Rollback", async () => `Rolled back: model m${(await rollback(slug, "segmenter")).number} is promoted.`);
      } }, "Rollback");
    fill(models, running, pending, modelsTable(s.models), h("div", { class: "actions" }, train, trainPulaski, trainShape, score, back), h("h3", {}, "Retraining policy"), ...trainConfigProblem(s), policyForm(s),
      h("h3", {}, "Acquisition policy (queue order)"), acquisitionForm(s));
    fill(audit, ...auditView(s.audits));
  }

  async function refresh(): Promise<void> {
    try {
      state = await getLearning(slug);
      render(state);
    } catch (e) {
      const msg = e instanceof ApiError && e.status === 403 ? "Model management is for project managers."
        : e instanceof ApiError && e.status === 404 ? "The server has no active-learning endpoint yet."
        : `Could not load the learning state: ${(e as Error).message}`;
      for (const p of [curve, models, audit]) fill(p, errorBanner(msg, () => void refresh()));
    }
    if (timer) clearTimeout(timer);
    timer = state && (state.training_job || state.pending.length) ? window.setTimeout(() => void refresh(), 5000) : null;
  }

  void refresh();
  return { panels: [curve, models, audit], refresh, destroy: () => { if (timer) clearTimeout(timer); } };
}
