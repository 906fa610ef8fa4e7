#!/usr/bin/env bash
# Sync benchmark, measured in one run (see run.sh): a 1,000,000-row stream
# read from a second keyhub instance (its Data Hub endpoint, keyhub connector)
# into a fresh entity, on a syncing node backed by SQLite and then by
# PostgreSQL (when PG_URL answers). Reports rows/s, the syncing node's peak
# RSS, and the p99 of a data API page on the syncing node during the sync
# against the same page idle.
#
#   bench/sync.sh                    # ROWS=1000000 DURATION=5
#   PG_URL=postgres://postgres@127.0.0.1:5432/postgres bench/sync.sh
#
# Targets: ≥ 50,000 rows/s on SQLite; peak RSS ≤ 250 MB; data API p99 during
# the sync ≤ 3× its p99 idle.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROWS=${ROWS:-1000000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# bench_prepare (wrk, release build, WORK, PIDS, cleanup), free_port, tok, start_keyhub
. bench/lib.sh
bench_prepare

csv() { # FILE ROWS
  python3 - "$1" "$2" <<'PY'
import sys
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("id,name,city,amount\n")
    for i in range(int(sys.argv[2])):
        f.write(f"{i},customer {i},city {i % 97},{i % 10000 / 100}\n")
PY
}
csv "$WORK/big.csv" "$ROWS"
csv "$WORK/small.csv" 10000

api() { curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# publish NAME CSV → a public endpoint /hub/bench/NAME over a new dataset
publish() {
  local out ds c
  out=$(curl -s -H "Authorization: Bearer $KEY" -F "name=$1" -F primary_key=id -F "file=@$2" "$B/api/v1/datasets")
  ds=$(echo "$out" | json '["id"]') || { echo "import failed: ${out:0:300}"; exit 2; }
  c=$(api -d "{\"name\": \"$1\", \"dataset_id\": $ds}" "$B/api/v1/collections" | json '["id"]')
  api -o /dev/null -d "{\"path\": \"$1\", \"collection_id\": $c, \"access\": \"public\"}" "$B/api/v1/endpoints"
}

p99_ms() { # URL SECONDS → the 99th percentile latency in ms
  wrk -t1 -c8 -d"$2s" --latency "$1" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}'
}

# The source: another keyhub serving the big table through a public endpoint.
start_keyhub source
SOURCE=$B SOURCE_KEY=$KEY
publish big "$WORK/big.csv"

# sync_into NAME [DATABASE_URL] → prints "rows secs hwm_kB p99_idle p99_busy"
sync_into() {
  start_keyhub "$@"
  publish small "$WORK/small.csv"
  local page="$B/hub/bench/small?limit=20" idle busy src ent run status secs written hwm
  idle=$(p99_ms "$page" "$DURATION")
  src=$(api -d "{\"kind\": \"keyhub\", \"name\": \"source\", \"config\": {\"base_url\": \"$SOURCE\", \"workspace\": \"bench\", \"api_key\": \"$SOURCE_KEY\"}}" "$B/api/v1/sources" | json '["id"]')
  [ "$(api -X POST "$B/api/v1/sources/$src/test" | json '["ok"]')" = "True" ] || { echo "the source test failed" >&2; exit 2; }
  ent=$(api -d '{"name": "Customer"}' "$B/api/v1/entities" | json '["id"]')
  api -o /dev/null -X PATCH -d "{\"streams\": [\"big\"], \"entity_id\": $ent}" "$B/api/v1/sources/$src"
  run=$(api -X POST "$B/api/v1/sources/$src/activate" | json '["run_id"]')
  sleep 1
  busy=$(p99_ms "$page" "$DURATION")
  while :; do
    status=$(api "$B/api/v1/sync-runs/$run" | json '["status"]')
    [ "$status" = "queued" ] || [ "$status" = "running" ] || break
    sleep 0.5
  done
  [ "$status" = "succeeded" ] || { echo "the sync ended $status" >&2; api "$B/api/v1/sync-runs/$run" >&2; exit 2; }
  read -r written secs < <(api "$B/api/v1/sync-runs/$run" | python3 -c '
import json, sys
from datetime import datetime
s = json.load(sys.stdin)["streams"][0]
t = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00"))
print(s["records_written"], (t(s["finished_at"]) - t(s["started_at"])).total_seconds())')
  [ "$written" = "$ROWS" ] || { echo "wrote $written of $ROWS rows" >&2; exit 2; }
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
  kill "$PID" 2>/dev/null || true
  echo "$written $secs $hwm $idle $busy"
}

# Run in this shell (not a subshell), so a failure stops the script and cleanup sees every process.
sync_into sync-sqlite >"$WORK/sqlite.out"
read -r S_ROWS S_SECS S_HWM S_IDLE S_BUSY < "$WORK/sqlite.out"
P_ROWS=0 P_SECS=0 P_HWM=0 P_IDLE=0 P_BUSY=0
if psql "$PG_URL" -c 'SELECT 1' >/dev/null 2>&1; then
  PG_DB="keyhub_sync_bench_$$"
  psql "$PG_URL" -q -c "CREATE DATABASE $PG_DB" >/dev/null
  sync_into sync-postgres "${PG_URL%/*}/$PG_DB" >"$WORK/pg.out"
  read -r P_ROWS P_SECS P_HWM P_IDLE P_BUSY < "$WORK/pg.out"
  sleep 0.5
  psql "$PG_URL" -q -c "DROP DATABASE $PG_DB WITH (FORCE)" >/dev/null || true
else
  echo "PostgreSQL at $PG_URL not reachable: skipping its sync"
fi

python3 - "$S_ROWS" "$S_SECS" "$S_HWM" "$S_IDLE" "$S_BUSY" "$P_ROWS" "$P_SECS" "$P_HWM" "$P_IDLE" "$P_BUSY" <<'PY'
import sys
s_rows, s_secs, s_hwm, s_idle, s_busy, p_rows, p_secs, p_hwm, p_idle, p_busy = map(float, sys.argv[1:])
print(f"sync SQLite: {s_rows:.0f} rows in {s_secs:.1f} s = {s_rows / s_secs:,.0f} rows/s, syncing node peak RSS {s_hwm / 1024:.0f} MiB, "
      f"data API p99 {s_idle:.2f} ms idle, {s_busy:.2f} ms during the sync")
if p_rows:
    print(f"sync PostgreSQL: {p_rows:.0f} rows in {p_secs:.1f} s = {p_rows / p_secs:,.0f} rows/s, syncing node peak RSS {p_hwm / 1024:.0f} MiB, "
          f"data API p99 {p_idle:.2f} ms idle, {p_busy:.2f} ms during the sync")
checks = [
    ("sync", "rows/s syncing on SQLite", s_rows / s_secs, ">=", 50_000),
    ("sync RSS", "peak RSS MiB while syncing (SQLite)", s_hwm / 1024, "<=", 250),
    ("sync p99", "data API p99 during ÷ idle (SQLite)", s_busy / s_idle, "<=", 3),
]
if p_rows:
    checks.append(("sync RSS PG", "peak RSS MiB while syncing (PostgreSQL)", p_hwm / 1024, "<=", 250))
ok = True
for name, what, value, op, target in checks:
    met = value >= target if op == ">=" else value <= target
    ok &= met
    print(f"{name:12} {what:38} {value:12,.2f}  target {op} {target:,}  {'ok' if met else 'MISSED'}")
sys.exit(0 if ok else 1)
PY
