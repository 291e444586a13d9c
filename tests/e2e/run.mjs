#!/usr/bin/env node
// Concord end-to-end tests: real Chromium (playwright-core) against a real Django server.
// Usage: node tests/e2e/run.mjs   (or: cd frontend && npm run test:e2e)
// Env: E2E_BASE_URL (use a running server instead of starting one), E2E_STRICT=1 (a missing
// annotation API fails instead of skipping), E2E_ONLY=substring (run matching flows).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(process.env.E2E_REPO_ROOT ?? join(here, "..", ".."));
const frontend = join(here, "..", "..", "frontend");
const require = createRequire(join(frontend, "package.json"));
const { chromium } = require("playwright-core");
const artifacts = join(here, "..", "..", "artifacts", "e2e");
const PASSWORD = process.env.E2E_PASSWORD ?? "concord-demo";
const log = (...a) => console.error("[e2e]", ...a);

class Skip extends Error {}

// ---------------------------------------------------------------- API helpers (node side)
function makeApi(baseUrl) {
  const tokens = {};
  async function call(user, path, { method = "GET", json, raw = false } = {}) {
    if (!tokens[user]) {
      const r = await fetch(`${baseUrl}/api/auth/token/`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: user, password: PASSWORD }) });
      if (!r.ok) throw new Error(`token for ${user}: HTTP ${r.status}`);
      tokens[user] = (await r.json()).token;
    }
    const headers = { Authorization: `Token ${tokens[user]}` };
    if (json !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(baseUrl + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
    const body = raw ? new Uint8Array(await r.arrayBuffer()) : await r.text().then((t) => { try { return JSON.parse(t); } catch { return t; } });
    return { status: r.status, body, headers: r.headers };
  }
  return call;
}

// ---------------------------------------------------------------- browser helpers
async function newPage(browser, name) {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  // RGBA pixels of a base64 PNG (a screenshot), decoded in the page: the pixel checks below use it
  await ctx.addInitScript(() => {
    window.__pngPixels = async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = img.width; c.height = img.height;
      const g = c.getContext("2d");
      g.drawImage(img, 0, 0);
      return g.getImageData(0, 0, c.width, c.height).data;
    };
  });
  const page = await ctx.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error" && !/favicon|Failed to load resource/.test(m.text())) page.errors.push(m.text()); });
  page.shot = async (label) => {
    const path = join(artifacts, `${name}-${label}.png`);
    await page.screenshot({ path });
    return path;
  };
  return page;
}

async function login(page, baseUrl, user) {
  await page.goto(`${baseUrl}/#/login`);
  await page.fill("#username", user);
  await page.fill("#password", PASSWORD);
  await page.click("form.login button[type=submit]");
  await page.waitForSelector(".project-list, .empty", { timeout: 15_000 });
}

async function waitWorkspace(page, states = ["ready"], timeout = 60_000) {
  await page.waitForFunction((s) => window.__concord && (s.includes(window.__concord.state) || window.__concord.state === "error"), states, { timeout });
  const state = await page.evaluate(() => window.__concord.state);
  if (state === "error") {
    const msg = await page.locator(".errors").innerText().catch(() => "");
    throw new Error(`workspace failed to open: ${msg}`);
  }
}

/** Fraction of canvas pixels that differ from the background, and luminance spread, from a screenshot. */
async function canvasStats(page, selector = "#viewer-canvas") {
  const png = await page.locator(selector).screenshot();
  return page.evaluate(async (b64) => {
    const d = await window.__pngPixels(b64);
    const bg = [d[0], d[1], d[2]];
    let differ = 0, sum = 0, sum2 = 0;
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) {
      const l = 0.3 * d[i] + 0.59 * d[i + 1] + 0.11 * d[i + 2];
      sum += l; sum2 += l * l;
      if (Math.abs(d[i] - bg[0]) + Math.abs(d[i + 1] - bg[1]) + Math.abs(d[i + 2] - bg[2]) > 30) differ++;
    }
    const mean = sum / n;
    return { nonBackground: differ / n, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) };
  }, png.toString("base64"));
}

/** Fraction of pixels in a page rectangle (CSS px) that differ between two screenshots of it. */
async function changedFraction(page, clip, before) {
  const after = await page.screenshot({ clip });
  return page.evaluate(async ([a, b]) => {
    const [x, y] = [await window.__pngPixels(a), await window.__pngPixels(b)];
    let n = 0;
    for (let i = 0; i < x.length; i += 4) if (Math.abs(x[i] - y[i]) + Math.abs(x[i + 1] - y[i + 1]) + Math.abs(x[i + 2] - y[i + 2]) > 30) n++;
    return n / (x.length / 4);
  }, [before.toString("base64"), after.toString("base64")]);
}

/** The on-screen rectangle (CSS px) of one NiiVue tile: 0 axial, 1 coronal, 2 sagittal. */
async function tileRect(page, axCorSag) {
  return page.evaluate((want) => {
    const nv = window.__concord.viewer.nv;
    const canvas = document.getElementById("viewer-canvas");
    const r = canvas.getBoundingClientRect();
    const scale = r.width / canvas.width;
    const t = nv.screenSlices.find((s) => s.axCorSag === want);
    const [l, tp, w, h] = t.leftTopWidthHeight;
    return { x: r.left + l * scale, y: r.top + tp * scale, w: w * scale, h: h * scale };
  }, axCorSag);
}

async function paintStroke(page) {
  const t = await tileRect(page, 0);
  const y = t.y + t.h * 0.5;
  await page.mouse.move(t.x + t.w * 0.35, y);
  await page.mouse.down();
  for (let i = 1; i <= 12; i++) await page.mouse.move(t.x + t.w * (0.35 + (0.3 * i) / 12), y + (i % 2));
  await page.mouse.up();
}

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

// ---------------------------------------------------------------- flows
const flows = [];
const flow = (name, fn) => flows.push({ name, fn });
const shared = {};

async function annotationApi(ctx) {
  if (shared.annotationApi === undefined) {
    const r = await ctx.api("annotator1", "/api/cases/0/draft/");
    // a missing route answers Django's HTML 404; a missing case answers the API's JSON 404
    shared.annotationApi = !(r.status === 404 && typeof r.body === "string");
  }
  if (!shared.annotationApi) {
    if (process.env.E2E_STRICT) throw new Error("the annotation API (/api/cases/{id}/draft/) is not routed");
    throw new Skip("the annotation API (/api/cases/{id}/draft/ ...) is not on this server yet");
  }
}

flow("login shows the user's projects", async ({ browser, baseUrl }) => {
  const page = await newPage(browser, "login");
  await page.goto(`${baseUrl}/`);
  await page.fill("#username", "annotator1");
  await page.fill("#password", "wrong-password");
  await page.click("form.login button[type=submit]");
  await page.waitForSelector(".login .error");
  expect(/wrong username or password/i.test(await page.locator(".login .error").innerText()), "a wrong password shows a clear message");
  await login(page, baseUrl, "annotator1");
  const text = await page.locator(".project-list").innerText();
  expect(/Demo/.test(text), `project list shows the demo project, got: ${text.slice(0, 200)}`);
  await page.shot("projects");
});

flow("manager opens a case from the queue; views and 3D render are drawn", async ({ browser, baseUrl }) => {
  const page = await newPage(browser, "open-case");
  await login(page, baseUrl, process.env.E2E_VIEWER_USER ?? "manager");
  await page.goto(`${baseUrl}/#/queue/demo`);
  await page.waitForSelector("a[data-case]", { timeout: 15_000 });
  await page.locator("a[data-case]").first().click();
  await waitWorkspace(page, ["first-slice", "ready"]);
  const marks = await page.evaluate(() => {
    const m = (n) => performance.getEntriesByName(n)[0]?.startTime;
    return { open: m("case-open"), first: m("first-slice") };
  });
  expect(marks.open !== undefined && marks.first !== undefined, "performance marks case-open and first-slice exist");
  await waitWorkspace(page, ["ready"]);
  const st = await canvasStats(page);
  log(`canvas: ${(st.nonBackground * 100).toFixed(1)}% non-background, luminance std ${st.std.toFixed(1)}; first slice after ${(marks.first - marks.open).toFixed(0)} ms`);
  expect(st.nonBackground > 0.15 && st.std > 10, `views are not blank (${JSON.stringify(st)})`);
  // window presets change the picture
  await page.keyboard.press("b");
  await page.waitForTimeout(300);
  const bone = await canvasStats(page);
  expect(Math.abs(bone.std - st.std) > 0.5, "the bone window changes the rendering");
  expect((await page.getAttribute("button[data-preset=bone]", "aria-pressed")) === "true", "bone preset is shown as active");
  expect(/preset=bone/.test(page.url()), "window preset is kept in the URL");
  await page.shot("views");
  expect(!page.errors.length, `no page errors: ${page.errors.join(" | ")}`);
});

flow("tools: brush, eraser, fill outline, smart grow, undo — by keyboard", async ({ browser, baseUrl }) => {
  const page = await newPage(browser, "tools");
  await login(page, baseUrl, process.env.E2E_VIEWER_USER ?? "manager");
  await page.goto(`${baseUrl}/#/annotate/demo?case=1&preset=lung`);
  await waitWorkspace(page);
  const count = () => page.evaluate(() => window.__concord.store.count());
  const t = await tileRect(page, 0);
  const at = (fx, fy) => [t.x + t.w * fx, t.y + t.h * fy];
  async function drag(points) {
    await page.mouse.move(...at(...points[0]));
    await page.mouse.down();
    for (const p of points.slice(1)) await page.mouse.move(...at(...p), { steps: 4 });
    await page.mouse.up();
  }
  await page.keyboard.press("d");
  expect((await page.getAttribute("button[data-tool=brush]", "aria-pressed")) === "true", "D selects the brush");
  const c0 = await count();
  // the painted voxels must reach the screen (the drawing texture is updated box by box)
  const band = { x: t.x + t.w * 0.24, y: t.y + t.h * 0.3 - 1, width: t.w * 0.12, height: 3 };
  const crosshair = (w) => page.evaluate((w) => { const nv = window.__concord.viewer.nv; nv.opts.crosshairWidth = w; nv.drawScene(); }, w);
  await crosshair(0); // the pen moves the crosshair onto the stroke: hide it while comparing pixels
  const bandBefore = await page.screenshot({ clip: band });
  await drag([[0.2, 0.3], [0.4, 0.3]]);
  const c1 = await count();
  expect(c1 > c0, `brush paints (${c0} -> ${c1})`);
  await crosshair(0);
  const shown = await changedFraction(page, band, bandBefore);
  await crosshair(1);
  expect(shown > 0.5, `the stroke is drawn on the axial view (${(shown * 100).toFixed(0)}% of its pixels changed)`);
  await page.keyboard.press("e");
  await page.keyboard.press("]");
  await page.keyboard.press("]");
  await drag([[0.18, 0.3], [0.42, 0.3]]);
  const c2 = await count();
  expect(c2 < c1, `eraser removes (${c1} -> ${c2})`);
  await page.keyboard.press("f");
  await drag([[0.6, 0.2], [0.75, 0.2], [0.75, 0.35], [0.6, 0.35], [0.6, 0.2]]);
  const c3 = await count();
  expect(c3 - c2 > 100, `fill outline fills the inside (${c2} -> ${c3})`);
  await page.keyboard.press("g");
  await page.mouse.move(...at(0.3, 0.55));
  await page.mouse.down();
  await page.mouse.up();
  await page.waitForTimeout(300);
  const c4 = await count();
  expect(c4 > c3, `smart grow adds a region (${c3} -> ${c4})`);
  await page.shot("after-tools");
  await page.keyboard.press("Control+z");
  expect((await count()) === c3, "Ctrl+Z undoes the smart grow");
  await page.click("button:has-text('Redo')");
  expect((await count()) === c4, "the Redo button redoes it");
  expect(!page.errors.length, `no page errors: ${page.errors.join(" | ")}`);
});

flow("annotator: next case → paint → autosave → submit → stored label has the painted voxels", async (ctx) => {
  await annotationApi(ctx);
  const { browser, baseUrl, api } = ctx;
  const page = await newPage(browser, "annotate");
  await login(page, baseUrl, "annotator1");
  await page.click("[data-action=next-case]");
  await waitWorkspace(page);
  const caseId = Number(new URL(page.url().replace("#/", "")).searchParams.get("case") ?? page.url().match(/case=(\d+)/)?.[1]);
  const rev0 = await page.evaluate(() => window.__concord.revision());
  const before = await page.evaluate(() => window.__concord.store.count());
  await paintStroke(page);
  const painted = await page.evaluate(() => window.__concord.store.count());
  expect(painted > before, `the stroke painted voxels (${before} → ${painted})`);
  await page.waitForFunction((r) => window.__concord.revision() > r && !window.__concord.store.dirty, rev0, { timeout: 15_000 });
  const autosave = await page.evaluate(() => performance.getEntriesByName("autosave").map((e) => e.duration));
  log(`autosave round trips: ${autosave.map((d) => d.toFixed(0)).join(", ")} ms`);
  // the draft on the server already has the stroke
  const draft = await api("annotator1", `/api/cases/${caseId}/draft/data/`, { raw: true });
  expect(draft.status === 200, `draft data readable (HTTP ${draft.status})`);
  const draftCount = draft.body.reduce((n, v) => n + (v ? 1 : 0), 0);
  expect(draftCount === painted, `server draft has the painted voxels (${draftCount} vs ${painted})`);
  // undo/redo round trip
  await page.keyboard.press("Control+z");
  expect((await page.evaluate(() => window.__concord.store.count())) === before, "undo removes the stroke");
  await page.keyboard.press("Control+Shift+z");
  expect((await page.evaluate(() => window.__concord.store.count())) === painted, "redo puts it back");
  await page.shot("painted");
  await page.click("#submit");
  await page.waitForFunction(() => window.__concord?.lastSubmitted || document.querySelector(".errors .error"), null, { timeout: 20_000 });
  const version = await page.evaluate(() => window.__concord?.lastSubmitted);
  expect(version?.id, `submit answered a version (${await page.locator(".errors").innerText().catch(() => "")})`);
  const stored = await api("annotator1", `/api/labels/${version.id}/data/`, { raw: true });
  expect(stored.status === 200, `version data readable by its rater (HTTP ${stored.status})`);
  const storedCount = stored.body.reduce((n, v) => n + (v ? 1 : 0), 0);
  expect(storedCount === painted, `stored version has the painted voxels (${storedCount} vs ${painted})`);
  shared.first = { caseId, versionId: version.id };
  await page.waitForTimeout(500);
  await page.shot("after-submit");
});

flow("two raters submit the same case; the manager sees its agreement", async (ctx) => {
  await annotationApi(ctx);
  const { browser, baseUrl, api } = ctx;
  expect(shared.first, "needs the previous flow's submitted case");
  const page = await newPage(browser, "second-rater");
  await login(page, baseUrl, "annotator2");
  await page.click("[data-action=next-case]");
  await waitWorkspace(page);
  let caseId = Number(page.url().match(/case=(\d+)/)?.[1]);
  // the queue may hand annotator2 another case first; open annotator1's case when it is assigned
  if (caseId !== shared.first.caseId) {
    log(`annotator2 got case ${caseId}; opening case ${shared.first.caseId} directly`);
    await page.goto(`${baseUrl}/#/annotate/demo?case=${shared.first.caseId}`);
    await waitWorkspace(page);
    caseId = shared.first.caseId;
  }
  const rev0 = await page.evaluate(() => window.__concord.revision());
  expect(rev0 !== null, "annotator2 has a draft on the case");
  await paintStroke(page);
  await page.waitForFunction((r) => window.__concord.revision() > r, rev0, { timeout: 15_000 });
  await page.click("#submit");
  await page.waitForFunction(() => window.__concord?.lastSubmitted || document.querySelector(".errors .error"), null, { timeout: 20_000 });
  const v2 = await page.evaluate(() => window.__concord?.lastSubmitted);
  expect(v2?.id, `annotator2's submit answered a version (${await page.locator(".errors").innerText().catch(() => "")})`);
  shared.second = { caseId, versionId: v2.id };
  const agreement = await api("manager", `/api/cases/${caseId}/agreement/`);
  expect(agreement.status === 200, `manager reads the agreement (HTTP ${agreement.status}: ${JSON.stringify(agreement.body).slice(0, 200)})`);
  const structures = Object.values(agreement.body.structures ?? {});
  const raters = agreement.body.rater_names ?? agreement.body.raters ?? [];
  expect(typeof agreement.body.mean_dice === "number" && structures.length, `agreement has a mean Dice: ${JSON.stringify(agreement.body).slice(0, 300)}`);
  expect(raters.includes("annotator1") && raters.includes("annotator2"), `agreement covers both raters (${raters})`);

});

flow("a blinded rater cannot open the other rater's label", async (ctx) => {
  await annotationApi(ctx);
  const { api } = ctx;
  expect(shared.first && shared.second, "needs both raters' versions");
  const other = await api("annotator2", `/api/labels/${shared.first.versionId}/data/`, { raw: true });
  expect([403, 404].includes(other.status), `annotator2 reading annotator1's version answers 403/404, got ${other.status}`);
  const list = await api("annotator2", `/api/cases/${shared.first.caseId}/labels/`);
  const ids = (Array.isArray(list.body) ? list.body : list.body?.results ?? []).map((v) => v.id);
  expect(!ids.includes(shared.first.versionId), `annotator2's label list hides annotator1's version (${JSON.stringify(ids)})`);
  const agreement = await api("annotator2", `/api/cases/${shared.first.caseId}/agreement/`);
  expect([403, 404].includes(agreement.status), `a blinded rater cannot read the agreement (HTTP ${agreement.status})`);
});


flow("manager dashboard: low-agreement case, raters side by side, adjudicate", async (ctx) => {
  await annotationApi(ctx);
  const { browser, baseUrl } = ctx;
  expect(shared.second, "needs the two-rater case");
  const caseId = shared.second.caseId;
  const mpage = await newPage(browser, "dashboard");
  await login(mpage, baseUrl, "manager");
  await mpage.goto(`${baseUrl}/#/dashboard/demo`);
  await mpage.waitForSelector(".dash-grid .panel, .dashboard .error", { timeout: 15_000 });
  await mpage.waitForTimeout(500);
  await mpage.shot("overview");
  // the low-agreement list holds this case (two hand-painted strokes disagree with the imported raters)
  const row = mpage.locator(".low-list li", { hasText: `Case ${caseId} ` }).first();
  expect(await row.count(), "the case is listed among low-agreement cases");
  await row.locator("button", { hasText: "Show raters" }).click();
  await mpage.waitForSelector(".overlays canvas", { timeout: 15_000 });
  await mpage.waitForTimeout(500);
  const tableText = await row.innerText();
  expect(/annotator1/.test(tableText) && /annotator2/.test(tableText), "the agreement detail names both raters");
  await row.scrollIntoViewIfNeeded();
  await mpage.shot("low-agreement");
  await row.locator("button", { hasText: "Adjudicate" }).click();
  await mpage.waitForSelector(".toast", { timeout: 15_000 });
  const toastText = await mpage.locator(".toast").first().innerText();
  expect(/adjudicated/i.test(toastText), `adjudication succeeded: ${toastText}`);
  expect(!mpage.errors.length, `no page errors: ${mpage.errors.join(" | ")}`);
});

flow("learning: dashboard curve / models / policy / bias audit render; uncertainty toggle and 3D switch", async ({ browser, baseUrl, api }) => {
  const learning = await api("manager", "/api/projects/demo/learning/");
  expect(learning.status === 200, `manager reads /learning/ (HTTP ${learning.status})`);
  const page = await newPage(browser, "learning");
  await login(page, baseUrl, "manager");
  await page.goto(`${baseUrl}/#/dashboard/demo`);
  const sections = ["learning-curve", "models", "bias-audit"];
  for (const s of sections) {
    await page.waitForFunction((k) => { const el = document.querySelector(`[data-section=${k}]`); return el && !/Loading…/.test(el.textContent ?? ""); }, s, { timeout: 15_000 });
    expect(!(await page.locator(`[data-section=${s}] .error`).count()), `the ${s} panel shows no error: ${await page.locator(`[data-section=${s}]`).innerText()}`);
  }
  const { models, curve, audits } = learning.body;
  const curveBox = page.locator("[data-section=learning-curve]");
  expect(curve.length ? await curveBox.locator("svg.chart").count() : /No model has been trained yet/.test(await curveBox.innerText()), "the learning curve (or its empty state) is shown");
  expect(models.length ? await page.locator("[data-section=models] tr[data-model]").count() === models.length : /No model versions yet/.test(await page.locator("[data-section=models]").innerText()), "the model versions table (or its empty state) is shown");
  for (const id of ["#retrain", "#train-pulaski", "#train-shape-prior", "#rescore", "#rollback", "input[name=retrain_cron]", "input[name=retrain_after_consensus]"])
    expect(await page.locator(`[data-section=models] ${id}`).count() === 1, `the models panel has ${id}`);
  if (!models.some((m) => m.status === "promoted")) expect(await page.locator("#rollback").isDisabled(), "Rollback is disabled without a promoted model");
  // the acquisition policy: an uncertainty strategy with every weight 0 is refused with the
  // server's message; Borda with a lower OOD weight is stored
  const form = page.locator("#acquisition-form");
  expect(await form.count() === 1, "the models panel has the acquisition policy form");
  await form.locator("select[name=method]").selectOption("borda");
  for (const k of ["mc_entropy", "tta_variance", "ood_mahalanobis", "pulaski_ged", "anatomical"]) await form.locator(`input[name=w-${k}]`).fill("0");
  await form.locator("button[type=submit]").click();
  const refused = /needs at least one score with a weight above 0/;
  await page.waitForFunction((re) => new RegExp(re).test(document.body.innerText), refused.source, { timeout: 5000 }).catch(() => null);
  expect(refused.test(await page.locator("body").innerText()), "all-zero weights are refused with the server's reason");
  const kept = (await api("manager", "/api/projects/demo/learning/")).body.policy.acquisition;
  expect(JSON.stringify(kept) === JSON.stringify(learning.body.policy.acquisition), "nothing of the refused policy is kept");
  await form.locator("input[name=w-ood_mahalanobis]").fill("0.5");
  await form.locator("input[name=w-mc_entropy]").fill("1");
  await form.locator("button[type=submit]").click();
  await page.waitForFunction(() => /Acquisition policy saved/.test(document.body.innerText), null, { timeout: 5000 }).catch(() => null);
  const acq = (await api("manager", "/api/projects/demo/learning/")).body.policy.acquisition;
  expect(acq.method === "borda" && acq.weights.ood_mahalanobis === 0.5, `the server stored the policy (${JSON.stringify(acq)})`);
  const auditBox = page.locator("[data-section=bias-audit]");
  expect(audits.length && audits[0].comparisons?.length ? await auditBox.locator("svg.error-bars").count() : /No bias audit has run yet/.test(await auditBox.innerText()), "the bias audit (or its empty state) is shown");
  await curveBox.scrollIntoViewIfNeeded();
  await page.shot("dashboard");

  // the workspace: the uncertainty toggle follows /prediction/, the 3D render can be switched off
  await page.goto(`${baseUrl}/#/annotate/demo?case=1`);
  await waitWorkspace(page);
  const pred = await api("manager", "/api/cases/1/prediction/");
  const toggle = page.locator("#toggle-uncertainty");
  expect(await toggle.count() === 1, "the workspace has an Uncertainty toggle");
  if (pred.status === 404) {
    expect(await toggle.isDisabled(), "the Uncertainty toggle is disabled without a prediction");
    expect((await toggle.getAttribute("title")) === "no prediction yet", `its tooltip says so (${await toggle.getAttribute("title")})`);
    await page.keyboard.press("u");
    expect(!(await page.evaluate(() => window.__concord.uncertaintyShown())), "U does nothing without a prediction");
  } else {
    expect(!(await toggle.isDisabled()), "the Uncertainty toggle is enabled when the case has a prediction");
  }
  expect(/Uncertainty/.test(await page.locator(".shortcuts").innerText()), "the shortcuts panel lists the uncertainty key");
  const r3d = page.locator("#toggle-3d");
  expect((await r3d.getAttribute("aria-pressed")) === "true", "the 3D render is on for a small volume");
  const tiles = () => page.evaluate(() => window.__concord.viewer.nv.screenSlices.length);
  const withRender = await tiles();
  await page.keyboard.press("r");
  await page.waitForTimeout(200);
  expect((await r3d.getAttribute("aria-pressed")) === "false", "R switches the 3D render off");
  const without = await tiles();
  expect(without < withRender, `the 3D tile is gone (${withRender} -> ${without} tiles)`);
  await page.shot("workspace-no-3d");
  await r3d.click();
  expect((await r3d.getAttribute("aria-pressed")) === "true", "the button switches it back on");
  expect(!page.errors.length, `no page errors: ${page.errors.join(" | ")}`);
});

flow("learning: training settings that newly imported volumes no longer fit are named on the dashboard and can be reset", async ({ browser, baseUrl, api, server }) => {
  if (!server) throw new Skip("E2E_BASE_URL is set: this flow ingests volumes with manage.py into the throwaway server's store");
  const slug = "fit-check";
  const created = await api("manager", "/api/projects/", { method: "POST", json: { slug, name: "Train config fit check" } });
  expect(created.status === 201, `the manager creates a project (HTTP ${created.status}: ${JSON.stringify(created.body)})`);
  const dir = mkdtempSync(join(tmpdir(), "concord-e2e-fit-"));
  // two CT-like volumes (48 slices) and, later, three thin crops (6 slices): NIfTI axes are (x, y, z)
  server.python(`
import numpy as np, nibabel as nib, os
rng = np.random.default_rng(0)
for sub, n, z in (("volumes", 2, 48), ("crops", 3, 6)):
    os.makedirs(os.path.join(${JSON.stringify(dir)}, sub))
    for i in range(n):
        a = rng.integers(-1000, 400, (64, 64, z)).astype(np.int16)
        nib.save(nib.Nifti1Image(a, np.eye(4)), os.path.join(${JSON.stringify(dir)}, sub, f"{sub}{i}.nii.gz"))
`);
  server.manage(["ingest", join(dir, "volumes"), "--project", slug]);
  const config = { patch: [32, 64, 64] };
  const set = await api("manager", `/api/projects/${slug}/learning/`, { method: "PATCH", json: { train_config: config } });
  expect(set.status === 200 && set.body.policy.train_config_problem === null, `a 3D patch is a valid setting for volumes (HTTP ${set.status}: ${JSON.stringify(set.body.policy ?? set.body)})`);
  const page = await newPage(browser, "train-config");
  await login(page, baseUrl, "manager");
  await page.goto(`${baseUrl}/#/dashboard/${slug}`);
  await page.waitForFunction(() => { const el = document.querySelector("[data-section=models]"); return el && !/Loading…/.test(el.textContent ?? ""); }, null, { timeout: 15_000 });
  expect(!(await page.locator("#train-config-problem").count()), "no alert while the setting fits the volumes");

  // thin crops now outnumber the volumes: the default becomes 2D on slices, and the 3D patch no longer fits
  server.manage(["ingest", join(dir, "crops"), "--project", slug]);
  rmSync(dir, { recursive: true, force: true });
  const policy = (await api("manager", `/api/projects/${slug}/learning/`)).body.policy;
  expect(typeof policy.train_config_problem === "string" && /patch/.test(policy.train_config_problem), `the API names the problem (${policy.train_config_problem})`);
  await page.reload();
  const alert = page.locator("#train-config-problem");
  await alert.waitFor({ timeout: 15_000 });
  const text = await alert.innerText();
  expect((await alert.getAttribute("role")) === "alert", "the problem is announced as an alert");
  expect(text.includes(policy.train_config_problem.replace(/\.$/, "")) && text.includes(JSON.stringify(config)), `the alert shows the server's reason and the stored settings: ${text}`);
  await page.shot("problem");
  let dialog = "";
  page.once("dialog", (d) => { dialog = d.message(); void d.accept(); });
  await alert.locator("#reset-train-config").click();
  await page.waitForFunction(() => !document.querySelector("#train-config-problem"), null, { timeout: 10_000 });
  expect(/defaults/.test(dialog), `the reset asks first (${dialog})`);
  const after = (await api("manager", `/api/projects/${slug}/learning/`)).body.policy;
  expect(JSON.stringify(after.train_config) === "{}" && after.train_config_problem === null, `the stored settings are dropped (${JSON.stringify(after)})`);
  expect(!page.errors.length, `no page errors: ${page.errors.join(" | ")}`);
});

// ---------------------------------------------------------------- runner
async function main() {
  mkdirSync(artifacts, { recursive: true });
  if (!existsSync(join(frontend, "dist", "index.html")) && !process.env.E2E_BASE_URL) {
    log("frontend/dist missing: npm run build");
    const r = spawnSync("npm", ["run", "build"], { cwd: frontend, stdio: "inherit" });
    if (r.status !== 0) throw new Error("frontend build failed");
  }
  const server = process.env.E2E_BASE_URL ? null : await startServer(root, log);
  const baseUrl = process.env.E2E_BASE_URL ?? server.baseUrl;
  log(`server ${baseUrl}`);
  const browser = await chromium.launch({
    executablePath: process.env.E2E_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--enable-unsafe-swiftshader"],
  });
  const ctx = { browser, baseUrl, api: makeApi(baseUrl), server };
  // seed_demo gives every demo case its two imported raters, which fills raters_per_case=2; the
  // manager raises it so annotator1 and annotator2 get cases from the queue.
  const project = await ctx.api("manager", "/api/projects/demo/");
  if (project.status === 200 && project.body.raters_per_case < 4) {
    const r = await ctx.api("manager", "/api/projects/demo/", { method: "PATCH", json: { raters_per_case: 4 } });
    log(`setup: raters_per_case 2 -> 4 (HTTP ${r.status})`);
  }
  let passed = 0, failed = 0, skipped = 0;
  try {
    for (const f of flows) {
      if (process.env.E2E_ONLY && !f.name.includes(process.env.E2E_ONLY)) continue;
      const t0 = Date.now();
      try {
        await f.fn(ctx);
        passed++;
        console.log(`PASS ${f.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        if (e instanceof Skip) {
          skipped++;
          console.log(`SKIP ${f.name}: ${e.message}`);
        } else {
          failed++;
          console.log(`FAIL ${f.name}: ${e.message}`);
        }
      }
    }
  } finally {
    await browser.close();
    if (server && failed && process.env.E2E_SERVER_LOG) console.error(server.output().slice(-4000));
    await server?.stop();
  }
  if (skipped) console.log(`${skipped} skipped`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e.stack ?? String(e));
  console.log("0 passed, 1 failed");
  process.exit(1);
});
