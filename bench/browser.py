"""Browser time to first slice: Concord's workspace vs one .nii.gz loaded into NiiVue.

Question: how long after an annotator opens a case does the first slice appear, and how long does
an autosave round trip take? Builds a seeded 512x512x600 int16 CT phantom once, ingests it into a
throwaway Concord (fresh CONCORD_VAR_DIR, SQLite), serves it with gunicorn, and drives headless
Chromium with a small playwright-core script (written to a temp dir; playwright-core comes from
frontend/node_modules). Concord: performance marks 'case-open' -> 'first-slice' in the app (the
coarsest pyramid level is shown first, full resolution streams in after). Baseline: the same
volume as one .nii.gz opened by NiiVue's own loader (frontend's bench-baseline page, served with the
file from a temp dir by a static server). Each repeat uses a fresh browser context (cold cache).

    python bench/browser.py [--repeats 3] [--shape 600,512,512]

Progress goes to stderr; the last stdout line is one JSON object with "speedup" =
baseline time to first slice / Concord time to first slice.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _common import env_info, log  # noqa: E402

FRONTEND = ROOT / "frontend"
PY = os.environ.get("BENCH_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
CHROMIUM = os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "concord-demo"


def make_phantom(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A chest-like CT phantom (Z, Y, X) int16 HU: air, body, two lungs, a few nodules, noise."""
    rng = np.random.default_rng(seed)
    z, y, x = shape
    yy, xx = np.mgrid[0:y, 0:x].astype(np.float32)
    cy, cx = y / 2, x / 2
    body = ((yy - cy) / (0.42 * y)) ** 2 + ((xx - cx) / (0.46 * x)) ** 2 <= 1
    lung_l = ((yy - cy) / (0.30 * y)) ** 2 + ((xx - 0.32 * x) / (0.13 * x)) ** 2 <= 1
    lung_r = ((yy - cy) / (0.30 * y)) ** 2 + ((xx - 0.68 * x) / (0.13 * x)) ** 2 <= 1
    plane = np.full((y, x), -1000, np.int16)
    plane[body] = 40
    plane[lung_l | lung_r] = -850
    vol = np.empty(shape, np.int16)
    for k in range(z):
        vol[k] = plane
    zz = np.arange(z)[:, None, None]
    for _ in range(6):  # nodules
        c = (rng.uniform(0.2, 0.8) * z, cy + rng.uniform(-0.15, 0.15) * y, rng.choice([0.32, 0.68]) * x)
        r = rng.uniform(4, 12)
        z0, z1 = int(max(0, c[0] - r)), int(min(z, c[0] + r + 1))
        sub = (zz[z0:z1] - c[0]) ** 2 + (yy[None] - c[1]) ** 2 + (xx[None] - c[2]) ** 2 <= r * r
        vol[z0:z1][sub] = 30
    noise = rng.normal(0, 15, size=(64, y, x)).astype(np.int16)  # tiled noise: fast and seeded
    for k in range(0, z, 64):
        n = min(64, z - k)
        vol[k:k + n] += noise[:n]
    return vol


def write_nifti(vol: np.ndarray, path: Path, spacing: tuple[float, float, float]) -> None:
    import nibabel as nib

    aff = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])  # LPS identity direction, in RAS
    img = nib.Nifti1Image(np.ascontiguousarray(vol.transpose(2, 1, 0)), aff)  # (X, Y, Z)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    r = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{r.stderr[-3000:]}")
    return r.stdout


def wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError(f"{url} did not answer in {timeout} s")
        time.sleep(0.3)


def api(base: str, path: str, *, token: str | None = None, method: str = "GET", body: dict | None = None) -> tuple[int, object]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(req) as r:
            data = r.read()
            return r.status, (json.loads(data) if data else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def token(base: str, user: str) -> str:
    status, body = api(base, "/api/auth/token/", method="POST", body={"username": user, "password": PASSWORD})
    if status != 200:
        raise RuntimeError(f"token for {user}: {status} {body}")
    return body["token"]  # type: ignore[index]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a) -> None:  # noqa: ANN002
        pass


DRIVER = r"""
import { createRequire } from "node:module";
const cfg = JSON.parse(process.argv[2]);
const { chromium } = createRequire(cfg.frontend + "/package.json")("playwright-core");
// one browser process per measurement: software WebGL (SwiftShader) keeps rendering a big volume
// after a page is closed, which would slow the next page in a shared GPU process
const launch = () => chromium.launch({ executablePath: cfg.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--enable-unsafe-swiftshader"] });
const out = { concord: [], concord_full: [], baseline: [], autosave: [], errors: [], stroke_fps: [], stroke_max_frame_ms: [], max_frame_with_autosave_ms: [] };
const measure = (page, a, b) => page.evaluate(([a, b]) => {
  const s = performance.getEntriesByName(a)[0], e = performance.getEntriesByName(b)[0];
  return s && e ? e.startTime - s.startTime : null; }, [a, b]);
async function fresh() {
  const browser = await launch();
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => out.errors.push(e.message));
  return { ctx: browser, page };
}
async function concord(i, full) {
  const { ctx, page } = await fresh();
  await page.addInitScript((t) => sessionStorage.setItem("concord.token", t), cfg.token);
  await page.goto(`${cfg.concord}/#/annotate/${cfg.slug}?case=${cfg.caseId}`);
  await page.waitForFunction(() => ["first-slice", "ready", "error"].includes(window.__concord?.state), null, { timeout: 120000 });
  await page.waitForFunction(() => performance.getEntriesByName("first-slice").length || window.__concord.state === "error", null, { timeout: 10000 });
  if (await page.evaluate(() => window.__concord.state) === "error") throw new Error(await page.locator(".errors").innerText());
  out.concord.push(await measure(page, "case-open", "first-slice"));
  if (full) {
    out.concord.pop();
    await page.waitForFunction(() => ["ready", "error"].includes(window.__concord.state), null, { timeout: 600000 });
    out.concord_full.push(await measure(page, "case-open", "full-res"));
    out.marks = await page.evaluate(() => { const o = performance.getEntriesByName("case-open")[0].startTime;
      return Object.fromEntries(performance.getEntriesByType("mark").map((e) => [e.name, Math.round(e.startTime - o)])); });
    // autosave: paint strokes on the axial view and time each PUT round trip
    for (let k = 0; k < cfg.strokes; k++) {
      const t = await page.evaluate(() => {
        const nv = window.__concord.viewer.nv, c = document.getElementById("viewer-canvas");
        const r = c.getBoundingClientRect(), s = r.width / c.width;
        const [l, tp, w, h] = nv.screenSlices.find((x) => x.axCorSag === 0).leftTopWidthHeight;
        return { x: r.left + l * s, y: r.top + tp * s, w: w * s, h: h * s };
      });
      const y = t.y + t.h * (0.4 + 0.05 * k);
      // frame clock: every animation frame's timestamp while painting and until the autosave lands
      await page.evaluate(() => { const f = (window.__frames = []); window.__rec = true;
        const tick = (ts) => { f.push(ts); if (window.__rec) requestAnimationFrame(tick); }; requestAnimationFrame(tick); });
      await page.mouse.move(t.x + t.w * 0.3, y); await page.mouse.down();
      const t0 = await page.evaluate(() => performance.now());
      // a hand-drawn stroke: one pointer move per 60 Hz frame
      for (let j = 1; j <= cfg.moves; j++) { await page.mouse.move(t.x + t.w * (0.3 + 0.3 * j / cfg.moves), y + 8 * Math.sin(j / 3)); await page.waitForTimeout(16); }
      const t1 = await page.evaluate(() => performance.now());
      await page.mouse.up();
      const n = k + 1;
      await page.waitForFunction((n) => performance.getEntriesByName("autosave").length >= n, n, { timeout: 180000 });
      const frames = await page.evaluate(() => { window.__rec = false; return window.__frames; });
      const during = frames.filter((f) => f >= t0 && f <= t1);
      const gaps = (fs) => fs.slice(1).map((f, i) => f - fs[i]);
      out.stroke_fps.push(during.length > 1 ? 1000 * (during.length - 1) / (during[during.length - 1] - during[0]) : 0);
      out.stroke_max_frame_ms.push(Math.max(...gaps(during)));
      out.max_frame_with_autosave_ms.push(Math.max(...gaps(frames.filter((f) => f >= t0))));
    }
    out.autosave = await page.evaluate(() => performance.getEntriesByName("autosave").map((e) => e.duration));
    out.painted = await page.evaluate(() => window.__concord.store.count());
  }
  await ctx.close();
}
async function baseline() {
  const { ctx, page } = await fresh();
  await page.goto(`${cfg.baseline}/static/bench-baseline.html?url=/volume.nii.gz`);
  await page.waitForFunction(() => ["first-slice", "error"].includes(window.__bench?.state), null, { timeout: 300000 });
  const st = await page.evaluate(() => window.__bench);
  if (st.state === "error") throw new Error(st.error);
  out.baseline.push(await measure(page, "case-open", "first-slice"));
  await ctx.close();
}
try {
  await concord(-1, false); await baseline();  // warm-up (server caches, browser JIT)
  out.concord = []; out.baseline = [];
  for (let i = 0; i < cfg.repeats; i++) { await baseline(); await concord(i, false); }
  await concord(cfg.repeats, true);  // full resolution and autosave, not counted in first-slice figures
} catch (e) { out.errors.push(String(e.stack || e)); }
console.log(JSON.stringify(out));
"""


def run(*, repeats: int = 3, shape: tuple[int, int, int] = (600, 512, 512), strokes: int = 2) -> dict[str, object]:
    if not (FRONTEND / "dist" / "bench-baseline.html").exists():
        log("building the frontend (npm run build)")
        subprocess.run(["npm", "run", "build"], cwd=FRONTEND, check=True, stdout=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="concord-bench-browser-"))
    procs: list[subprocess.Popen] = []
    static_server = None
    try:
        spacing = (0.7, 0.7, 1.0)
        t0 = time.perf_counter()
        vol = make_phantom(shape)
        nii = tmp / "volume.nii.gz"
        write_nifti(vol, nii, spacing)
        log(f"phantom {shape} int16 -> {nii.stat().st_size / 1e6:.0f} MB .nii.gz in {time.perf_counter() - t0:.1f} s")
        del vol

        env = {**os.environ, "CONCORD_VAR_DIR": str(tmp / "var"), "DJANGO_DEBUG": "0"}
        env.pop("DATABASE_URL", None)
        for d in ("queue", "control", "processed"):
            (tmp / "var" / "broker" / d).mkdir(parents=True, exist_ok=True)
        manage(env, "migrate", "-v0")
        manage(env, "seed_demo")
        t0 = time.perf_counter()
        out = manage(env, "ingest", str(nii), "--project", "bench", "--json")
        first = json.loads(out[out.index("{"):])["cases"][0]
        case_id = first.get("case_id", first.get("id"))
        log(f"ingested case {case_id} in {time.perf_counter() - t0:.1f} s")
        manage(env, "collectstatic", "--noinput", "-v0")

        port = free_port()
        procs.append(subprocess.Popen(
            [PY, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--nostatic"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr))
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz")
        admin = token(base, "admin")
        status, body = api(base, "/api/projects/bench/members/", token=admin, method="POST",
                           body={"username": "annotator1", "role": "annotator"})
        if status not in (200, 201):
            raise RuntimeError(f"adding annotator1 to the bench project: {status} {body}")
        ann = token(base, "annotator1")
        status, body = api(base, "/api/projects/bench/next/", token=ann, method="POST")
        if status != 200 or body["case"]["id"] != case_id:  # type: ignore[index]
            raise RuntimeError(f"annotator1 could not take the bench case: {status} {str(body)[:300]}")

        # baseline: the bundle's bench page and the .nii.gz, served from one temp dir
        site = tmp / "site"
        shutil.copytree(FRONTEND / "dist", site / "static")
        os.link(nii, site / "volume.nii.gz")
        sport = free_port()
        static_server = http.server.ThreadingHTTPServer(("127.0.0.1", sport), functools.partial(_Quiet, directory=str(site)))
        threading.Thread(target=static_server.serve_forever, daemon=True).start()

        cfg = {"frontend": str(FRONTEND), "chromium": CHROMIUM, "concord": base, "baseline": f"http://127.0.0.1:{sport}",
               "token": ann, "slug": "bench", "caseId": case_id, "repeats": repeats, "strokes": strokes, "moves": 30}
        (tmp / "driver.mjs").write_text(DRIVER)
        log(f"driving chromium: {repeats} repeats each (+1 warm-up)")
        r = subprocess.run(["node", str(tmp / "driver.mjs"), json.dumps(cfg)], capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            raise RuntimeError(f"driver failed:\n{r.stderr[-3000:]}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        if res["errors"]:
            log("browser errors: " + " | ".join(res["errors"])[:2000])
        if not res["concord"] or not res["baseline"]:
            raise RuntimeError(f"no timings: {res['errors']}")
        c = np.asarray(res["concord"]) / 1000
        b = np.asarray(res["baseline"]) / 1000
        a = np.asarray(res["autosave"] or [np.nan]) / 1000
        out_rec: dict[str, object] = {
            "bench": "browser_first_slice",
            "shape": list(shape),
            "baseline_s": round(float(np.median(b)), 4),
            "baseline_min_s": round(float(b.min()), 4),
            "concord_s": round(float(np.median(c)), 4),
            "concord_min_s": round(float(c.min()), 4),
            "speedup": round(float(np.median(b) / np.median(c)), 2),
            "concord_full_res_s": round(float(res["concord_full"][0]) / 1000, 3) if res["concord_full"] else None,
            "full_res_marks_ms": res.get("marks"),
            "stroke_fps_median": round(float(np.median(res["stroke_fps"])), 1) if res["stroke_fps"] else None,
            "stroke_max_frame_ms": round(float(max(res["stroke_max_frame_ms"])), 1) if res["stroke_max_frame_ms"] else None,
            "max_frame_with_autosave_ms": round(float(max(res["max_frame_with_autosave_ms"])), 1) if res["max_frame_with_autosave_ms"] else None,
            "autosave_roundtrip_s": None if np.isnan(a).all() else round(float(np.nanmedian(a)), 4),
            "errors": res["errors"][:3],
            "autosave_samples": len(res["autosave"]),
            "painted_voxels": res.get("painted"),
            "nii_gz_mb": round(nii.stat().st_size / 1e6, 1),
            "repeats": repeats,
            "browser": "chromium headless (SwiftShader WebGL)",
            **env_info(),
        }
        return out_rec
    finally:
        if static_server:
            static_server.shutdown()
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shape", default="600,512,512", help="Z,Y,X")
    ap.add_argument("--strokes", type=int, default=2)
    a = ap.parse_args()
    result = run(repeats=a.repeats, shape=tuple(int(s) for s in a.shape.split(",")), strokes=a.strokes)  # type: ignore[arg-type]
    print(json.dumps(result))
