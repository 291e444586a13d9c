/**
 * The annotator workspace: opens a case (coarse level at once, full level streamed in), shows
 * three orthogonal views and a 3D render, paints structures, autosaves changed regions, submits.
 */
import { ApiError } from "@/lib/api-client";
import { h, clear } from "@/lib/dom";
import { errorBanner, toast } from "@/components/error-banner";
import { progressBar } from "@/components/progress-bar";
import { getCase } from "@/features/annotate/api/get-case";
import { getDraft, getDraftData } from "@/features/annotate/api/get-draft";
import { putDraftData } from "@/features/annotate/api/put-draft-data";
import { getPrediction } from "@/features/annotate/api/get-prediction";
import { readLabelImage, readLevel } from "@/features/annotate/api/read-volume";
import { submitLabel } from "@/features/annotate/api/submit-label";
import { LabelStore } from "@/features/annotate/stores/label-store";
import { PRESETS, defaultPreset, type WindowPreset } from "@/features/annotate/stores/window-presets";
import { SHORTCUTS, TOOL_KEYS, VIEW_KEYS } from "@/features/annotate/components/shortcuts";
import { uncertaintyFromProbability } from "@/features/annotate/stores/uncertainty";
import { Viewer } from "@/features/annotate/viewer/niivue-adapter";
import type { Structure, Tool, VolumeData } from "@/features/annotate/viewer/types";
import { env } from "@/config/env";
import type { Case, CasePrediction, Project } from "@/types/domain";

/** Above this many voxels the 3D render starts switched off (software WebGL draws it slowly). */
const RENDER_3D_MAX_VOXELS = 256 ** 3;

export interface WorkspaceOptions {
  project: Project;
  caseId: number;
  preset?: string;
  onNext: () => void;
  onViewState: (state: Record<string, string | number | undefined>) => void;
}

type SaveState = { kind: "saved" | "dirty" | "saving" | "local" | "error"; text: string };

const TOOLS: { id: Tool; label: string }[] = [
  { id: "navigate", label: "Navigate" },
  { id: "brush", label: "Brush" },
  { id: "eraser", label: "Eraser" },
  { id: "fill", label: "Fill outline" },
  { id: "smart", label: "Smart grow" },
];

export interface WorkspaceHandle {
  el: HTMLElement;
  destroy(): void;
}

export function workspace(opts: WorkspaceOptions): WorkspaceHandle {
  const structures = (opts.project.label_schema as unknown as Structure[]) ?? [];
  const canvas = h("canvas", { id: "viewer-canvas", tabindex: "0", "aria-label": "Image views: axial, coronal, sagittal and 3D render" });
  const status = h("div", { class: "status-line", role: "status" }, "Opening case…");
  const loadArea = h("div", { class: "load-area" });
  const errors = h("div", { class: "errors" });
  const saveBadge = h("span", { class: "save-badge", role: "status", "aria-live": "polite" });
  const title = h("h2", { class: "case-title" }, `Case ${opts.caseId}`);
  const shortcutsPanel = h(
    "aside",
    { class: "shortcuts", "aria-label": "Keyboard shortcuts" },
    h("h3", {}, "Keyboard"),
    h("dl", {}, ...SHORTCUTS.flatMap((s) => [h("dt", {}, h("kbd", {}, s.keys)), h("dd", {}, s.label)])),
  );

  let viewer: Viewer | null = null;
  let store: LabelStore | null = null;
  let caseData: Case | null = null;
  let revision: number | null = null;
  let saveTimer: number | null = null;
  let saving: Promise<void> | null = null;
  let destroyed = false;
  let tool: Tool = "brush";
  let structure = structures[0]?.value ?? 1;
  let penSize = 3;
  let presetId: WindowPreset["id"] = (opts.preset as WindowPreset["id"]) || "lung";
  let prediction: CasePrediction | null = null;
  let uncertainty: VolumeData | null = null;
  let uncertaintyOn = false;
  let uncertaintyBusy = false;
  let render3D = true;

  const setSave = (s: SaveState) => {
    saveBadge.className = `save-badge ${s.kind}`;
    saveBadge.textContent = s.text;
  };

  // --- toolbar -------------------------------------------------------------------------------
  const toolButtons = TOOLS.map((t) =>
    h("button", { type: "button", class: "tool", "data-tool": t.id, "aria-pressed": "false", title: `${t.label} (${TOOL_KEYS[t.id]})`, onclick: () => chooseTool(t.id) },
      t.label, " ", h("kbd", {}, TOOL_KEYS[t.id])),
  );
  const structButtons = structures.map((s, i) =>
    h("button", { type: "button", class: "structure", "data-value": String(s.value), "aria-pressed": "false", title: `${s.name} (${i + 1})`, onclick: () => chooseStructure(s.value) },
      h("span", { class: "swatch", style: { background: s.color } }), s.name, " ", h("kbd", {}, String(i + 1))),
  );
  const sizeInput = h("input", { type: "range", min: "1", max: "30", value: String(penSize), id: "pen-size", "aria-label": "Brush size in voxels" });
  const sizeOut = h("output", { for: "pen-size" }, String(penSize));
  sizeInput.addEventListener("input", () => setPenSize(Number(sizeInput.value)));
  const presetButtons = PRESETS.map((p) =>
    h("button", { type: "button", class: "preset", "data-preset": p.id, "aria-pressed": "false", onclick: () => choosePreset(p.id) }, p.label, " ", h("kbd", {}, p.key)),
  );
  const NO_PREDICTION = "no prediction yet";
  const uncertaintyBtn = h("button", { type: "button", class: "toggle", id: "toggle-uncertainty", "aria-pressed": "false", disabled: true,
    title: "Loading…", onclick: () => void toggleUncertainty() }, "Uncertainty ", h("kbd", {}, VIEW_KEYS.uncertainty));
  // a disabled button gets no pointer events in some browsers: the wrapper carries the tooltip too
  const uncertaintyWrap = h("span", { class: "toggle-wrap", title: "Loading…" }, uncertaintyBtn);
  const render3DBtn = h("button", { type: "button", class: "toggle", id: "toggle-3d", "aria-pressed": "true",
    title: `3D render on / off (${VIEW_KEYS.render3D}); slow with software WebGL`, onclick: () => setRender3D(!render3D) }, "3D render ", h("kbd", {}, VIEW_KEYS.render3D));
  const undoBtn = h("button", { type: "button", onclick: () => undo(), disabled: true, title: "Undo (Ctrl+Z)" }, "Undo");
  const redoBtn = h("button", { type: "button", onclick: () => redo(), disabled: true, title: "Redo (Ctrl+Shift+Z)" }, "Redo");
  const submitBtn = h("button", { type: "button", class: "primary", id: "submit", onclick: () => submit(), disabled: true, title: "Submit (Ctrl+Enter)" }, "Submit → next case");

  const toolbar = h(
    "div",
    { class: "toolbar", role: "toolbar", "aria-label": "Annotation tools" },
    h("fieldset", {}, h("legend", {}, "Tool"), ...toolButtons),
    h("fieldset", {}, h("legend", {}, "Structure"), ...(structButtons.length ? structButtons : [h("span", { class: "muted" }, "No structures in the project schema")])),
    h("fieldset", {}, h("legend", {}, "Brush"), sizeInput, sizeOut, h("kbd", {}, "[ ]")),
    h("fieldset", {}, h("legend", {}, "Window"), ...presetButtons),
    h("fieldset", {}, h("legend", {}, "View"), uncertaintyWrap, render3DBtn),
    h("fieldset", {}, h("legend", {}, "Edit"), undoBtn, redoBtn),
  );

  const el = h(
    "section",
    { class: "workspace", "aria-label": "Annotation workspace" },
    h("header", { class: "ws-head" }, title, status, loadArea, h("div", { class: "toolbar-end" }, saveBadge, submitBtn)),
    errors,
    toolbar,
    h("div", { class: "ws-body" }, h("div", { class: "canvas-wrap" }, canvas), shortcutsPanel),
  );

  const showError = (msg: string, retry?: () => void) => {
    clear(errors);
    errors.append(errorBanner(msg, retry));
  };

  function reflect(): void {
    toolButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.tool === tool)));
    structButtons.forEach((b) => b.setAttribute("aria-pressed", String(Number(b.dataset.value) === structure)));
    presetButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.preset === presetId)));
    uncertaintyBtn.setAttribute("aria-pressed", String(uncertaintyOn));
    render3DBtn.setAttribute("aria-pressed", String(render3D));
    undoBtn.disabled = !store?.canUndo;
    redoBtn.disabled = !store?.canRedo;
  }

  function chooseTool(t: Tool): void {
    tool = t;
    viewer?.setTool(t, structure);
    reflect();
  }
  function chooseStructure(v: number): void {
    structure = v;
    if (tool === "eraser" || tool === "navigate") tool = "brush";
    viewer?.setTool(tool, structure);
    reflect();
  }
  function setPenSize(n: number): void {
    penSize = Math.max(1, Math.min(30, n));
    sizeInput.value = String(penSize);
    sizeOut.textContent = String(penSize);
    viewer?.setPenSize(penSize);
  }
  function choosePreset(id: WindowPreset["id"]): void {
    presetId = id;
    applyWindow();
    opts.onViewState({ preset: id });
    reflect();
  }
  function windowFor(id: WindowPreset["id"]): { center: number; width: number } | undefined {
    const p = PRESETS.find((x) => x.id === id);
    if (p?.center !== undefined && p.width !== undefined) return { center: p.center, width: p.width };
    return viewer?.autoWindow() ?? undefined;
  }
  function applyWindow(): void {
    const w = windowFor(presetId);
    if (w) viewer?.setWindow(w.center, w.width);
  }
  function setUncertaintyAvailability(enabled: boolean, tip: string): void {
    uncertaintyBtn.disabled = !enabled;
    uncertaintyBtn.title = tip;
    uncertaintyWrap.title = tip;
    uncertaintyBtn.dataset.available = String(enabled);
  }
  async function toggleUncertainty(): Promise<void> {
    if (!viewer || !caseData?.volume || !prediction || uncertaintyBtn.disabled || uncertaintyBusy) return;
    uncertaintyBusy = true;
    try {
      if (uncertaintyOn) {
        await viewer.setHeatOverlay(null);
        uncertaintyOn = false;
      } else {
        if (!uncertainty) {
          status.textContent = "Loading the model's probability map…";
          const prob = await readLabelImage(caseData.id, caseData.volume, prediction.probability_label);
          uncertainty = { ...prob, dtype: "uint8", data: uncertaintyFromProbability(prob.data, prediction.probability_scale || 255) };
        }
        if (destroyed) return;
        await viewer.setHeatOverlay(uncertainty, { opacity: 0.6, colormap: "warm" });
        uncertaintyOn = true;
      }
    } catch (e) {
      toast(`Could not show the uncertainty map (${prediction.probability_label}): ${(e as Error).message}`, "error");
    } finally {
      uncertaintyBusy = false;
      if (caseData?.volume && !destroyed) status.textContent = volumeStatus(caseData);
      reflect();
    }
  }
  function setRender3D(on: boolean): void {
    render3D = on;
    viewer?.setRender3D(on);
    reflect();
  }
  function volumeStatus(c: Case): string {
    const vol = c.volume!;
    const shape = vol.shape as unknown as number[];
    return `${shape[2]}×${shape[1]}×${shape[0]} voxels · ${(vol.spacing as unknown as number[]).map((x) => x.toFixed(2)).join("×")} mm`;
  }
  function undo(): void {
    const e = store?.undo();
    if (e) { viewer?.applyValues(e.ras, e.before); scheduleSave(); }
    reflect();
  }
  function redo(): void {
    const e = store?.redo();
    if (e) { viewer?.applyValues(e.ras, e.after); scheduleSave(); }
    reflect();
  }

  // --- saving --------------------------------------------------------------------------------
  function scheduleSave(): void {
    if (revision === null) {
      setSave({ kind: "local", text: "Not saved: drafts unavailable" });
      return;
    }
    setSave({ kind: "dirty", text: "Unsaved changes" });
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = window.setTimeout(() => void saveNow(), env.autosaveDelayMs);
  }

  async function saveNow(): Promise<void> {
    if (saveTimer) { clearTimeout(saveTimer); saveTimer = null; }
    if (saving) await saving;
    if (!store || revision === null || !caseData) return;
    const dirty = store.takeDirty();
    if (!dirty) return;
    const caseId = caseData.id;
    saving = (async () => {
      setSave({ kind: "saving", text: "Saving…" });
      performance.mark("autosave-start");
      try {
        try {
          revision = await putDraftData(caseId, dirty.box, dirty.bytes, revision!);
        } catch (e) {
          const cur = (e as ApiError).body as { current?: { revision?: number } } | null;
          if (!(e instanceof ApiError && e.status === 409 && typeof cur?.current?.revision === "number")) throw e;
          // The draft moved on elsewhere (another tab): our region wins, on top of the newer revision.
          toast(`Draft was changed elsewhere (revision ${cur.current.revision}); your edits were saved on top.`, "error");
          revision = await putDraftData(caseId, dirty.box, dirty.bytes, cur.current.revision);
        }
        performance.mark("autosave-end");
        performance.measure("autosave", "autosave-start", "autosave-end");
        setSave(store!.dirty ? { kind: "dirty", text: "Unsaved changes" } : { kind: "saved", text: `Saved (revision ${revision})` });
        clear(errors);
      } catch (e) {
        store!.markDirty(dirty.box);
        setSave({ kind: "error", text: "Save failed" });
        showError(`Could not save your edits: ${(e as Error).message}. They are kept here; retrying in 5 s.`, () => void saveNow());
        saveTimer = window.setTimeout(() => void saveNow(), 5000);
      }
    })();
    await saving;
    saving = null;
  }

  async function submit(): Promise<void> {
    if (!caseData || revision === null) {
      showError("Submitting needs the draft API, which the server does not offer (yet).");
      return;
    }
    submitBtn.disabled = true;
    try {
      await saveNow();
      if (store?.dirty) throw new Error("the last edits are not saved yet");
      const r = await submitLabel(caseData.id, revision);
      toast(`Submitted version ${r.version.number} of ${caseData.name}.`);
      (window as unknown as { __concord: Record<string, unknown> }).__concord.lastSubmitted = r.version;
      opts.onNext();
    } catch (e) {
      showError(`Submit failed: ${(e as Error).message}`);
      submitBtn.disabled = false;
    }
  }

  // --- keyboard ------------------------------------------------------------------------------
  function onKey(ev: KeyboardEvent): void {
    const t = ev.target as HTMLElement;
    if (t && (t.tagName === "INPUT" && (t as HTMLInputElement).type !== "range" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    const k = ev.key;
    const mod = ev.ctrlKey || ev.metaKey;
    if (mod && k.toLowerCase() === "z") { ev.preventDefault(); ev.shiftKey ? redo() : undo(); return; }
    if (mod && k.toLowerCase() === "y") { ev.preventDefault(); redo(); return; }
    if (mod && k.toLowerCase() === "s") { ev.preventDefault(); void saveNow(); return; }
    if (mod && k === "Enter") { ev.preventDefault(); void submit(); return; }
    if (mod || ev.altKey) return;
    const toolKey = (Object.entries(TOOL_KEYS) as [Tool, string][]).find(([, key]) => key.toLowerCase() === k.toLowerCase());
    if (toolKey) { chooseTool(toolKey[0]); return; }
    const preset = PRESETS.find((p) => p.key.toLowerCase() === k.toLowerCase());
    if (preset) { choosePreset(preset.id); return; }
    if (k.toLowerCase() === VIEW_KEYS.uncertainty.toLowerCase()) { void toggleUncertainty(); return; }
    if (k.toLowerCase() === VIEW_KEYS.render3D.toLowerCase()) { setRender3D(!render3D); return; }
    if (/^[1-9]$/.test(k) && structures[Number(k) - 1]) { chooseStructure(structures[Number(k) - 1].value); return; }
    if (k === "[") { setPenSize(penSize - 1); return; }
    if (k === "]") { setPenSize(penSize + 1); return; }
    if (k === "PageUp" || k === "PageDown") { ev.preventDefault(); viewer?.moveSlice(2, k === "PageUp" ? 1 : -1); return; }
    if (k === "?") shortcutsPanel.classList.toggle("hidden");
  }
  document.addEventListener("keydown", onKey);
  const onUnload = (ev: BeforeUnloadEvent) => {
    if (store?.dirty) { void saveNow(); ev.preventDefault(); }
  };
  window.addEventListener("beforeunload", onUnload);

  // --- opening -------------------------------------------------------------------------------
  async function open(): Promise<void> {
    performance.clearMarks();
    performance.mark("case-open");
    const debug = { state: "opening", viewer: null as Viewer | null, store: null as LabelStore | null, revision: () => revision, lastSubmitted: null as unknown,
      prediction: () => prediction, uncertaintyShown: () => uncertaintyOn, render3D: () => render3D };
    (window as unknown as { __concord: unknown }).__concord = debug;
    // WebGL setup runs while the case and its coarse level are fetched
    viewer = new Viewer(canvas);
    debug.viewer = viewer;
    const attached = viewer.attach().then(() => null, (e: Error) => e);
    try {
      caseData = await getCase(opts.caseId);
      performance.mark("case-fetched");
    } catch (e) {
      status.textContent = "";
      showError(e instanceof ApiError && e.status === 404 ? `Case ${opts.caseId} does not exist or is not assigned to you.` : `Could not open case ${opts.caseId}: ${(e as Error).message}`);
      debug.state = "error";
      return;
    }
    const vol = caseData.volume;
    title.textContent = `${caseData.name} · ${opts.project.name}`;
    if (!vol) {
      showError("This case has no image volume yet (ingest may still be running).");
      debug.state = "error";
      return;
    }
    if (!opts.preset) presetId = defaultPreset(vol.modality);
    const predictionP = getPrediction(caseData.id).then(
      (p) => ({ p, error: null as string | null }),
      (e: Error) => ({ p: null, error: e.message }));
    render3D = (vol.shape as unknown as number[]).reduce((n, x) => n * x, 1) <= RENDER_3D_MAX_VOXELS;
    if (!render3D) render3DBtn.title = `3D render is off for volumes above 256³ voxels (slow with software WebGL); ${VIEW_KEYS.render3D} turns it on`;
    reflect();
    const levels = vol.levels ?? 1;
    const coarseP = readLevel(caseData.id, vol, Math.max(0, levels - 1));
    coarseP.catch(() => undefined);
    const attachError = await attached;
    if (attachError) {
      showError(`This browser cannot show 3D images (WebGL2 is needed): ${attachError.message}`);
      debug.state = "error";
      return;
    }
    viewer.setRender3D(render3D);
    try {
      status.textContent = "Loading preview…";
      const coarse = await coarseP;
      performance.mark("coarse-fetched");
      if (destroyed) return;
      await viewer.loadVolume(coarse, windowFor(presetId));
      if (presetId === "auto") applyWindow();
      requestAnimationFrame(() => {
        performance.mark("first-slice");
        debug.state = "first-slice";
      });
      if (levels > 1) {
        status.textContent = "Streaming full resolution…";
        const full = await readLevel(caseData.id, vol, 0, (done, total) => {
          clear(loadArea);
          if (done < total) loadArea.append(progressBar(done / total, "Full resolution"));
          else performance.mark("full-chunks-arrived");
        });
        performance.mark("full-fetched");
        if (destroyed) return;
        clear(loadArea);
        await viewer.loadVolume(full, windowFor(presetId));
        if (presetId === "auto") applyWindow();
      }
      performance.mark("full-res");
    } catch (e) {
      showError(`Could not load the image: ${(e as Error).message}`, () => void open());
      debug.state = "error";
      return;
    }
    // label layer: the draft (which starts from the pre-segmentation, if any)
    const shape = vol.shape as unknown as [number, number, number];
    let initial: Uint8Array | undefined;
    try {
      const draft = await getDraft(caseData.id);
      initial = await getDraftData(caseData.id);
      revision = draft.revision;
      setSave({ kind: "saved", text: `Saved (revision ${revision})` });
      submitBtn.disabled = false;
    } catch (e) {
      revision = null;
      const why = e instanceof ApiError && e.status === 404 ? "the server has no draft for you on this case" : (e as Error).message;
      setSave({ kind: "local", text: "Local only" });
      clear(errors);
      errors.append(h("div", { class: "notice", role: "status" }, h("strong", {}, "Review mode: "),
        `edits on this case are not saved (${why}). You can still look and paint.`));
    }
    try {
      store = new LabelStore(shape, initial);
    } catch (e) {
      showError(`The draft does not fit the image: ${(e as Error).message}`);
      store = new LabelStore(shape);
    }
    debug.store = store;
    viewer.setLabelLayer(store.data, structures);
    viewer.setPenSize(penSize);
    viewer.setTool(tool, structure);
    viewer.onEdit((edit) => {
      store!.record(edit);
      scheduleSave();
      reflect();
    });
    store.subscribe(reflect);
    status.textContent = volumeStatus(caseData);
    const pred = await predictionP;
    if (destroyed) return;
    prediction = pred.p;
    if (prediction) {
      const sc = prediction.scores ?? {};
      const extra = [typeof sc.mc_entropy === "number" ? `MC entropy ${sc.mc_entropy.toFixed(3)}` : "", typeof sc.ood_mahalanobis === "number" ? `OOD ${sc.ood_mahalanobis.toFixed(2)}` : ""].filter(Boolean).join(", ");
      setUncertaintyAvailability(true, `Uncertainty of model m${prediction.model_number} (1 − |2p − 1|)${extra ? ": " + extra : ""}${caseData.presegmentation_label ? "; the draft started from its pre-segmentation" : ""} (${VIEW_KEYS.uncertainty})`);
    } else {
      setUncertaintyAvailability(false, pred.error ? `prediction unavailable: ${pred.error}` : NO_PREDICTION);
    }
    debug.state = "ready";
    reflect();
    canvas.focus();
  }
  void open();

  return {
    el,
    destroy() {
      destroyed = true;
      if (store?.dirty) void saveNow();
      document.removeEventListener("keydown", onKey);
      window.removeEventListener("beforeunload", onUnload);
      viewer?.destroy();
    },
  };
}
