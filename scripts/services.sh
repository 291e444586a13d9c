#!/usr/bin/env bash
# Start PostgreSQL and Redis when they are not answering (CI and fresh machines).
set -euo pipefail
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
if ! pg_up; then
  echo "[services] starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! redis_up; then
  echo "[services] starting Redis" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
for _ in $(seq 30); do pg_up && redis_up && exit 0; sleep 1; done
echo "[services] PostgreSQL or Redis did not come up" >&2; exit 1
