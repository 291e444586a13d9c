#!/usr/bin/env bash
# Set up and run Concord on embedded defaults (SQLite, no broker server, store under var/):
# web app + worker + scheduler, with a demo project. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
export DJANGO_SETTINGS_MODULE=core.settings
PORT=${PORT:-8000}
PY=.venv/bin/python
VAR=${CONCORD_VAR_DIR:-$PWD/var}
mkdir -p "$VAR/broker/queue" "$VAR/broker/control"   # the server-less broker's folders
$PY manage.py migrate --noinput -v 0
$PY manage.py collectstatic --noinput -v 0
$PY manage.py seed_demo
.venv/bin/celery -A workers worker -B -Q cpu,gpu --concurrency "${CONCORD_WORKERS:-2}" --loglevel WARNING &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null' EXIT INT TERM
cat <<MSG

  Concord is running:  http://127.0.0.1:${PORT}/
  API docs:            http://127.0.0.1:${PORT}/api/docs/
  Log in as manager / concord-demo   (also: admin, annotator1, annotator2; same password)

MSG
.venv/bin/gunicorn core.wsgi -b "127.0.0.1:${PORT}" --workers 2 --threads 8 --log-level warning
