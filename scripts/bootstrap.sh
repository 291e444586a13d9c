#!/usr/bin/env bash
# Install what Concord needs, idempotently: venv + pinned Python packages (torch CPU first),
# the web app's npm packages and bundle, and (with --browser) the test tools from Debian: chromium for
# the e2e tests, docker-compose to validate deploy/docker-compose.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
want_browser=0
[[ "${1:-}" == "--browser" ]] && want_browser=1

if [[ ! -x .venv/bin/python ]]; then
  echo "[bootstrap] creating .venv with $PY" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.concord-requirements
sum=$(cat requirements.lock requirements.txt | sha256sum | cut -c1-16)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]]; then
  echo "[bootstrap] installing Python packages (torch CPU first, then requirements.lock)" >&2
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -r requirements.lock
  echo "$sum" > "$stamp"
fi

if [[ -f frontend/package.json ]]; then
  if ! command -v npm >/dev/null; then echo "[bootstrap] npm is required for the web app" >&2; exit 1; fi
  fstamp=frontend/node_modules/.concord-lock
  fsum=$(sha256sum frontend/package-lock.json | cut -c1-16)
  if [[ "$(cat "$fstamp" 2>/dev/null)" != "$fsum" ]]; then
    echo "[bootstrap] npm ci" >&2
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
    echo "$fsum" > "$fstamp"
  fi
  echo "[bootstrap] building the web app" >&2
  (cd frontend && npm run --silent build >/dev/null)
fi

# test tools from Debian: chromium for the browser tests, docker-compose to validate the compose file
if [[ $want_browser == 1 ]]; then
  apt_pkgs=()
  [[ -x /usr/bin/chromium ]] || apt_pkgs+=(chromium)
  command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || apt_pkgs+=(docker-compose)
  if (( ${#apt_pkgs[@]} )); then
    echo "[bootstrap] installing Debian ${apt_pkgs[*]} for the tests" >&2
    SUDO=""; [[ $(id -u) != 0 ]] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  fi
fi
