#!/usr/bin/env bash
# Set up and run the whole test suite: import contracts, unit, integration (real PostgreSQL,
# Redis and Celery worker), end-to-end (headless chromium). Starts PostgreSQL/Redis if down.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh --browser
scripts/services.sh
export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/concord}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
export CONCORD_VAR_DIR=${CONCORD_VAR_DIR:-$PWD/var/test}
export STORE_URL=${STORE_URL:-$CONCORD_VAR_DIR/zarr}
rm -rf "$CONCORD_VAR_DIR/zarr"
mkdir -p "$CONCORD_VAR_DIR" artifacts
echo "== import contracts" >&2
.venv/bin/lint-imports
echo "== pytest" >&2
.venv/bin/python -m pytest -p no:cacheprovider "$@"
if [[ -f tests/e2e/run.mjs && $# -eq 0 ]]; then
  echo "== browser tests (headless chromium)" >&2
  (cd frontend && env -u REDIS_URL -u DATABASE_URL node ../tests/e2e/run.mjs)
fi
