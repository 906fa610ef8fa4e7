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
# Then an OpenAPI-kind run: OPENAPI_ROWS (default 50,000) products in a real
# Directus (target/directus, installed by scripts/test.sh; its data in
# PostgreSQL) synced through its paging into a SQLite node, against reading
# the same pages with curl alone.
#
# Targets: ≥ 50,000 rows/s on SQLite; peak RSS ≤ 250 MB; data API p99 during
# the sync ≤ 3× its p99 idle; the OpenAPI sync ≥ 0.5× the rate of reading
# Directus's pages alone (keyhub's parsing, typing and writing cost at most
# as much as the service's own answering).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROWS=${ROWS:-1000000}
OPENAPI_ROWS=${OPENAPI_ROWS:-50000}
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

# finished RUN → waits for a sync run to end; fails unless it succeeded
finished() {
  local status
  while :; do
    status=$(api "$B/api/v1/sync-runs/$1" | json '["status"]')
    [ "$status" = "queued" ] || [ "$status" = "running" ] || break
    sleep 0.5
  done
  [ "$status" = "succeeded" ] || { echo "the sync ended $status" >&2; api "$B/api/v1/sync-runs/$1" >&2; return 2; }
}

# stream_figures RUN → "records_written seconds" of the run's first stream
stream_figures() {
  api "$B/api/v1/sync-runs/$1" | python3 -c '
import json, sys
from datetime import datetime
s = json.load(sys.stdin)["streams"][0]
t = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00"))
print(s["records_written"], (t(s["finished_at"]) - t(s["started_at"])).total_seconds())'
}

# sync_into NAME [DATABASE_URL] → prints "rows secs hwm_kB p99_idle p99_busy"
sync_into() {
  start_keyhub "$@"
  publish small "$WORK/small.csv"
  local page="$B/hub/bench/small?limit=20" idle busy src ent run secs written hwm
  idle=$(p99_ms "$page" "$DURATION")
  src=$(api -d "{\"kind\": \"keyhub\", \"name\": \"source\", \"config\": {\"base_url\": \"$SOURCE\", \"workspace\": \"bench\", \"api_key\": \"$SOURCE_KEY\"}}" "$B/api/v1/sources" | json '["id"]')
  [ "$(api -X POST "$B/api/v1/sources/$src/test" | json '["ok"]')" = "True" ] || { echo "the source test failed" >&2; exit 2; }
  ent=$(api -d '{"name": "Customer"}' "$B/api/v1/entities" | json '["id"]')
  api -o /dev/null -X PATCH -d "{\"streams\": [\"big\"], \"entity_id\": $ent}" "$B/api/v1/sources/$src"
  run=$(api -X POST "$B/api/v1/sources/$src/activate" | json '["run_id"]')
  sleep 1
  busy=$(p99_ms "$page" "$DURATION")
  finished "$run" || exit 2
  read -r written secs < <(stream_figures "$run")
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

# --- the OpenAPI kind through a real Directus's paging -------------------------
# openapi_sync → prints "rows keyhub_secs raw_secs"
openapi_sync() {
  local dx=target/directus/node_modules/.bin/directus port db admin token src ent run
  [ -x "$dx" ] || { echo "Directus is not installed (scripts/test.sh installs it)" >&2; return 3; }
  psql "$PG_URL" -c 'SELECT 1' >/dev/null 2>&1 || { echo "PostgreSQL at $PG_URL not reachable" >&2; return 3; }
  port=$(free_port)
  db="keyhub_dx_bench_$$"
  psql "$PG_URL" -q -c "CREATE DATABASE $db" >/dev/null
  mkdir -p "$WORK/directus"
  (
    export HOST=127.0.0.1 PORT=$port PUBLIC_URL="http://127.0.0.1:$port" DB_CLIENT=pg DB_HOST=127.0.0.1 DB_PORT=5432 \
      DB_DATABASE=$db DB_USER=postgres DB_PASSWORD= KEY=bench-key SECRET=bench-secret-0123456789 \
      ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=bench-admin-password TELEMETRY=false LOG_LEVEL=warn \
      CACHE_ENABLED=false RATE_LIMITER_ENABLED=false
    "$dx" bootstrap >"$WORK/directus/boot.log" 2>&1
    exec "$dx" start >"$WORK/directus/server.log" 2>&1
  ) &
  PIDS+=("$!")
  local D="http://127.0.0.1:$port"
  for _ in $(seq 300); do curl -sf -o /dev/null "$D/server/health" && break; sleep 0.2; done
  admin=$(curl -sf -H 'Content-Type: application/json' -d '{"email": "admin@example.com", "password": "bench-admin-password"}' "$D/auth/login" | json '["data"]["access_token"]')
  token="bench-static-token-$$"
  curl -sf -o /dev/null -X PATCH -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d "{\"token\": \"$token\"}" "$D/users/me"
  dxapi() { curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
  dxapi -d '{"collection": "products", "meta": {}, "schema": {}, "fields": [
    {"field": "id", "type": "integer", "meta": {"hidden": true}, "schema": {"is_primary_key": true, "has_auto_increment": true}},
    {"field": "name", "type": "string"}, {"field": "price", "type": "decimal", "schema": {"numeric_precision": 10, "numeric_scale": 2}},
    {"field": "date_updated", "type": "timestamp", "meta": {"special": ["date-created", "date-updated"]}}]}' "$D/collections"
  python3 - "$D" "$token" "$OPENAPI_ROWS" <<'PY'
import json, sys, urllib.request
base, token, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
for start in range(0, rows, 1000):
    body = json.dumps([{"name": f"product {i}", "price": f"{i % 1000}.{i % 100:02d}"} for i in range(start, min(rows, start + 1000))]).encode()
    req = urllib.request.Request(f"{base}/items/products", body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
PY
  # The service's own rate: every page of 1,000 by limit/offset, sorted by key, with curl.
  local raw_start raw_secs
  raw_start=$(date +%s.%N)
  for ((off = 0; off < OPENAPI_ROWS; off += 1000)); do
    curl -sf -o /dev/null -H "Authorization: Bearer $token" "$D/items/products?limit=1000&offset=$off&sort=id"
  done
  raw_secs=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$raw_start" "$(date +%s.%N)")
  start_keyhub openapi-sqlite
  src=$(api -d "{\"kind\": \"openapi\", \"name\": \"Directus\", \"config\": {\"base_url\": \"$D\", \"spec_path\": \"/server/specs/oas\", \"api_key\": \"$token\"}}" "$B/api/v1/sources" | json '["id"]')
  [ "$(api -X POST "$B/api/v1/sources/$src/test" | json '["ok"]')" = "True" ] || { echo "the Directus source test failed" >&2; return 2; }
  ent=$(api -d '{"name": "Product"}' "$B/api/v1/entities" | json '["id"]')
  api -o /dev/null -X PATCH -d "{\"streams\": [\"products\"], \"entity_id\": $ent}" "$B/api/v1/sources/$src"
  run=$(api -X POST "$B/api/v1/sources/$src/activate" | json '["run_id"]')
  finished "$run" || return 2
  echo "$(stream_figures "$run") $raw_secs"
  kill "$PID" 2>/dev/null || true
  psql "$PG_URL" -q -c "DROP DATABASE $db WITH (FORCE)" >/dev/null 2>&1 || true
}
O_ROWS=0 O_SECS=0 O_RAW=0
if openapi_sync >"$WORK/openapi.out"; then
  read -r O_ROWS O_SECS O_RAW < "$WORK/openapi.out"
else
  echo "the OpenAPI-kind run did not happen (see above)"
fi

python3 - "$S_ROWS" "$S_SECS" "$S_HWM" "$S_IDLE" "$S_BUSY" "$P_ROWS" "$P_SECS" "$P_HWM" "$P_IDLE" "$P_BUSY" "$O_ROWS" "$O_SECS" "$O_RAW" "$OPENAPI_ROWS" <<'PY'
import sys
s_rows, s_secs, s_hwm, s_idle, s_busy, p_rows, p_secs, p_hwm, p_idle, p_busy, o_rows, o_secs, o_raw, o_want = map(float, sys.argv[1:])
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
if o_rows:
    print(f"sync OpenAPI (Directus → SQLite): {o_rows:.0f} rows in {o_secs:.1f} s = {o_rows / o_secs:,.0f} rows/s; "
          f"reading the same pages with curl alone: {o_want / o_raw:,.0f} rows/s")
    checks.append(("sync OpenAPI", "OpenAPI sync ÷ curl reading its pages", (o_rows / o_secs) / (o_want / o_raw), ">=", 0.5))
    checks.append(("sync OpenAPI rows", "rows written of those at Directus", o_rows / o_want, ">=", 1))
else:
    checks.append(("sync OpenAPI", "the OpenAPI-kind run happened", 0, ">=", 1))
ok = True
for name, what, value, op, target in checks:
    met = value >= target if op == ">=" else value <= target
    ok &= met
    print(f"{name:12} {what:38} {value:12,.2f}  target {op} {target:,}  {'ok' if met else 'MISSED'}")
sys.exit(0 if ok else 1)
PY
