// Start a throwaway Concord server for the e2e run: fresh CONCORD_VAR_DIR (SQLite inside), migrate, seed_demo.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function python(root) {
  return process.env.E2E_PYTHON ?? join(root, ".venv", "bin", "python");
}

/** Returns {baseUrl, stop()} for a new server rooted at `root` (the repository). */
export async function startServer(root, log = () => {}) {
  const varDir = mkdtempSync(join(tmpdir(), "concord-e2e-"));
  const env = { ...process.env, CONCORD_VAR_DIR: varDir, DJANGO_DEBUG: process.env.DJANGO_DEBUG ?? "0" };
  delete env.DATABASE_URL;
  // The embedded (filesystem) Celery broker needs its folders before anything is enqueued;
  // run.sh gets them from the worker it starts, this server runs without one.
  for (const d of ["queue", "control", "processed"]) mkdirSync(join(varDir, "broker", d), { recursive: true });
  const manage = (args) => {
    log(`manage.py ${args.join(" ")}`);
    const r = spawnSync(python(root), ["manage.py", ...args], { cwd: root, env, encoding: "utf8", timeout: 600_000 });
    if (r.status !== 0) throw new Error(`manage.py ${args[0]} failed (exit ${r.status}):\n${(r.stderr || r.stdout).slice(-3000)}`);
    return r.stdout;
  };
  for (const args of [["migrate", "-v0"], ["seed_demo"]]) manage(args);
  const port = await freePort();
  const proc = spawn(python(root), ["manage.py", "runserver", `127.0.0.1:${port}`, "--noreload"], {
    cwd: root, env, stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  proc.stdout.on("data", (d) => (output += d));
  proc.stderr.on("data", (d) => (output += d));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}):\n${output.slice(-3000)}`);
    try {
      const r = await fetch(`${baseUrl}/healthz`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`server did not answer /healthz within 60 s:\n${output.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    baseUrl,
    varDir,
    /** Run a management command against this server's database and store; returns its stdout. */
    manage,
    /** Run a Python snippet in the repository's environment (e.g. to write test images); returns its stdout. */
    python: (code) => {
      const r = spawnSync(python(root), ["-c", code], { cwd: root, env, encoding: "utf8", timeout: 120_000 });
      if (r.status !== 0) throw new Error(`python failed (exit ${r.status}):\n${(r.stderr || r.stdout).slice(-3000)}`);
      return r.stdout;
    },
    output: () => output,
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.once("exit", r)));
      rmSync(varDir, { recursive: true, force: true });
    },
  };
}
