""""Next case" latency through the HTTP API under a burst: 1,000 cases, 200 requests from 4
concurrent clients (each request from a different annotator, so each one really assigns a case
and creates its draft). Baseline: the same burst where each client lists the project's cases and
picks the first one itself (what a client must do without a next-case endpoint).

Runs gunicorn on an embedded SQLite database by default (BENCH_DATABASE_URL for PostgreSQL).
Last stdout line: one JSON object. Run: .venv/bin/python bench/next_case.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._common import emit, env_info, log, summarize  # noqa: E402


def _env(var: Path) -> dict:
    env = {**os.environ, "CONCORD_VAR_DIR": str(var), "STORE_URL": str(var / "zarr"),
           "DJANGO_SETTINGS_MODULE": "core.settings"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    if os.environ.get("BENCH_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    return env


SETUP = r"""
import os, tempfile, numpy as np, nibabel as nib, django, json
from pathlib import Path
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from core.models import Role
from core.services.projects import create_project, set_member
from core.services.ingest import ingest
from core.geometry import Geometry
n_cases, n_users = int(os.environ["N_CASES"]), int(os.environ["N_USERS"])
project = create_project(slug="bench", raters_per_case=2)
tmp = Path(tempfile.mkdtemp())
rng = np.random.default_rng(0)
aff = Geometry(spacing=(1.0, 1.0, 2.0)).nifti_affine()
for i in range(n_cases):
    d = tmp / f"c{i:04d}"; d.mkdir()
    nib.save(nib.Nifti1Image(rng.integers(-100, 100, (32, 32, 4), dtype=np.int16), aff), d / "image.nii.gz")
ingest(path=tmp, project=project)
tokens = []
User = get_user_model()
for u in range(n_users):
    user = User.objects.create_user(f"rater{u:03d}", password="x")
    # the first half annotate (Concord's burst); the second half are managers, who may list
    # every case: the baseline's clients pick the next case from the full list themselves
    set_member(project=project, user=user, role=Role.ANNOTATOR if u < n_users // 2 else Role.MANAGER)
    tokens.append(Token.objects.create(user=user).key)
print(json.dumps(tokens))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _burst(port: int, tokens: list[str], *, path_for, clients: int) -> tuple[list[float], int]:
    def one(token: str) -> tuple[float, int]:
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path_for(token)[0]}", method=path_for(token)[1],
                                     headers={"Authorization": f"Token {token}"})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                resp.read()
                code = resp.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        return time.perf_counter() - t0, code

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, tokens))
    errors = sum(1 for _, c in results if c >= 400)
    return [t for t, _ in results], errors


def run(*, cases: int = 1000, requests: int = 200, clients: int = 4) -> dict:
    var = Path(tempfile.mkdtemp(prefix="concord-bench-next-"))
    env = _env(var)
    log(f"seeding {cases} cases and {2 * requests} annotators ...")
    out = subprocess.run([sys.executable, "-c", SETUP], cwd=REPO, env={**env, "N_CASES": str(cases),
                         "N_USERS": str(2 * requests)}, capture_output=True, text=True, check=True)
    tokens = json.loads(out.stdout.strip().splitlines()[-1])
    port = _free_port()
    server = subprocess.Popen([str(REPO / ".venv/bin/gunicorn"), "core.wsgi", "-b", f"127.0.0.1:{port}",
                               "--workers", "4", "--threads", "1", "--log-level", "warning"], cwd=REPO, env=env)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        warm = tokens[-1]
        # warm every gunicorn worker (first requests import the URLconf and its dependencies)
        _burst(port, [warm] * 64, path_for=lambda t: ("/api/projects/bench/", "GET"), clients=clients)
        log("burst: next case ...")
        concord, c_err = _burst(port, tokens[:requests], clients=clients,
                                path_for=lambda t: ("/api/projects/bench/next/", "POST"))
        log("burst: list-and-pick baseline ...")
        baseline, b_err = _burst(port, tokens[requests:2 * requests], clients=clients,
                                 path_for=lambda t: ("/api/cases/?project=bench&limit=1000", "GET"))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(var, ignore_errors=True)
    c, b = summarize(concord), summarize(baseline)
    return {"bench": "next_case", "cases": cases, "requests": requests, "clients": clients,
            "concord_p50_ms": c["p50"] * 1e3, "concord_p99_ms": c["p99"] * 1e3, "concord_errors": c_err,
            "baseline_p50_ms": b["p50"] * 1e3, "baseline_p99_ms": b["p99"] * 1e3, "baseline_errors": b_err,
            "baseline": "GET the project's case list and pick client-side",
            "database": "postgresql" if os.environ.get("BENCH_DATABASE_URL") else "sqlite",
            "baseline_s": b["p50"], "concord_s": c["p50"], "speedup": b["p50"] / c["p50"], **env_info()}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=4)
    a = p.parse_args()
    emit(run(cases=a.cases, requests=a.requests, clients=a.clients))
