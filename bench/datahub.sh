#!/usr/bin/env bash
# Data Hub benchmarks, measured in one run and reported as ratios (see run.sh):
# importing a 1,000,000-row CSV through the JSON API on SQLite (and on
# PostgreSQL when PG_URL answers), the server's peak RSS while it imports, a
# hot ~2 KB page of a public endpoint against a static asset, and a deep page
# (offset=990000) against the first one, both uncached; the whole collection
# as CSV (MB/s, and the server's RSS growth while it streams).
#
#   bench/datahub.sh                 # ROWS=1000000 DURATION=5
#   PG_URL=postgres://postgres@127.0.0.1:5432/postgres bench/datahub.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROWS=${ROWS:-1000000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# bench_prepare (wrk, release build, WORK, PIDS, cleanup), free_port, tok, start_keyhub
. bench/lib.sh
bench_prepare

CSV="$WORK/big.csv"
python3 - "$CSV" "$ROWS" <<'PY'
import random, sys
random.seed(7)
cities = ["Oslo", "Bergen", "Zürich", "Lyon", "Porto, Norte", "København", "Kraków", "Göteborg"]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("id,name,city,amount,day,active\n")
    for i in range(int(sys.argv[2])):
        f.write(f'{i},customer {i},"{random.choice(cities)}",{random.randint(0, 99999) / 100},2026-{1 + i % 12:02d}-{1 + i % 28:02d},{"true" if i % 3 else "false"}\n')
PY
echo "CSV: $ROWS rows, $(( $(stat -c %s "$CSV") / 1024 / 1024 )) MiB"


# import → sets IMPORT_SECS, IMPORT_HWM (the server's peak RSS, kB) and DATASET
import_csv() {
  local start end out
  start=$(date +%s.%N)
  out=$(curl -s -H "Authorization: Bearer $KEY" -F name=big -F primary_key=id -F "file=@$CSV" "$B/api/v1/datasets")
  end=$(date +%s.%N)
  echo "$out" | grep -q "\"count\":$ROWS" || { echo "import failed: ${out:0:300}"; exit 2; }
  DATASET=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  IMPORT_SECS=$(python3 -c "print($end - $start)")
  IMPORT_HWM=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
}

start_keyhub sqlite
import_csv
SQLITE_SECS=$IMPORT_SECS SQLITE_HWM=$IMPORT_HWM

# Publish the dataset: a public endpoint of 20-row pages.
C=$(curl -s -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d "{\"name\": \"big\", \"dataset_id\": $DATASET}" "$B/api/v1/collections" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -s -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d "{\"path\": \"big\", \"collection_id\": $C, \"access\": \"public\"}" "$B/api/v1/endpoints"
PAGE="$B/hub/bench/big?limit=20"
PAGE_BYTES=$(curl -s "$PAGE" | wc -c)
JS=$(curl -s "$B/login" | grep -o '/static/[0-9a-f]*/app.js' | head -1)
JS_BYTES=$(curl -s "$B$JS" | wc -c)
rps() { wrk -t1 -c16 -d"${DURATION}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
STATIC=$(rps "$B$JS")
HOT=$(rps "$PAGE")

# Uncached pages: every request asks for another offset.
pages_per_sec() { # base_offset
  python3 - "$B" "$1" <<'PY'
import http.client, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); base = int(sys.argv[2])
c = http.client.HTTPConnection(u.hostname, u.port)
n = 400
start = time.perf_counter()
for i in range(n):
    c.request("GET", f"/hub/bench/big?limit=20&offset={base + i * 7}")
    r = c.getresponse(); body = r.read()
    assert r.status == 200 and b'"data":[{' in body, body[:200]
print(n / (time.perf_counter() - start))
PY
}
FIRST=$(pages_per_sec 0)
DEEP=$(pages_per_sec 990000)

# The whole collection as CSV (no limit): streamed from one statement. Peak
# RSS is reset first (clear_refs 5), so the growth is the export's own.
RSS_BEFORE=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
echo 5 > "/proc/$PID/clear_refs" 2>/dev/null || true
read -r CSV_BYTES CSV_SECS < <(curl -s -o "$WORK/export.csv" -w '%{size_download} %{time_total}\n' "$B/hub/bench/big?format=csv")
CSV_HWM=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
CSV_LINES=$(wc -l < "$WORK/export.csv")
[ "$CSV_LINES" -eq $((ROWS + 1)) ] || { echo "export has $CSV_LINES lines, expected $((ROWS + 1))"; exit 2; }
rm -f "$WORK/export.csv"

PG_SECS=""; PG_HWM=""
if psql "$PG_URL" -c 'SELECT 1' >/dev/null 2>&1; then
  PG_DB="keyhub_bench_$$"
  psql "$PG_URL" -q -c "CREATE DATABASE $PG_DB" >/dev/null
  start_keyhub postgres "${PG_URL%/*}/$PG_DB"
  import_csv
  PG_SECS=$IMPORT_SECS PG_HWM=$IMPORT_HWM
  kill "$PID" 2>/dev/null || true; sleep 0.5
  psql "$PG_URL" -q -c "DROP DATABASE $PG_DB WITH (FORCE)" >/dev/null || true
else
  echo "PostgreSQL at $PG_URL not reachable: skipping its import"
fi

python3 - "$ROWS" "$SQLITE_SECS" "$SQLITE_HWM" "$STATIC" "$HOT" "$FIRST" "$DEEP" "$PAGE_BYTES" "$JS_BYTES" "${PG_SECS:-0}" "${PG_HWM:-0}" "$CSV_BYTES" "$CSV_SECS" "$RSS_BEFORE" "$CSV_HWM" <<'PY'
import sys
rows, secs, hwm, static, hot, first, deep, page_b, js_b, pg_secs, pg_hwm, csv_b, csv_s, rss0, csv_hwm = map(float, sys.argv[1:])
csv_mbs = csv_b / csv_s / 1e6
csv_growth = max(0.0, csv_hwm - rss0) / 1024
print(f"CSV export: {rows:.0f} rows, {csv_b / 1e6:.0f} MB in {csv_s:.2f} s = {csv_mbs:.0f} MB/s, server RSS +{csv_growth:.1f} MiB at peak")
print(f"import SQLite: {rows:.0f} rows in {secs:.1f} s = {rows / secs:,.0f} rows/s, server peak RSS {hwm / 1024:.0f} MiB")
if pg_secs:
    print(f"import PostgreSQL: {rows:.0f} rows in {pg_secs:.1f} s = {rows / pg_secs:,.0f} rows/s, server peak RSS {pg_hwm / 1024:.0f} MiB")
print(f"static app.js ({js_b:.0f} B) {static:,.0f} req/s · public page ({page_b:.0f} B, cached) {hot:,.0f} req/s · "
      f"uncached pages: offset 0 {first:,.0f}/s, offset 990000 {deep:,.0f}/s")
checks = [
    ("import", "rows/s importing on SQLite", rows / secs, ">=", 100_000),
    ("import RSS", "peak RSS MiB while importing", hwm / 1024, "<=", 150),
    ("public page", "public 2 KB page ÷ static file", hot / static, ">=", 0.50),
    ("deep page", "offset=990000 ÷ offset=0", deep / first, ">=", 0.50),
    ("CSV export", "MB/s streaming the whole collection", csv_mbs, ">=", 50),
    ("CSV RSS", "peak RSS growth MiB while exporting", csv_growth, "<=", 50),
]
ok = True
for name, what, value, op, target in checks:
    met = value >= target if op == ">=" else value <= target
    ok &= met
    print(f"{name:12} {what:34} {value:12,.2f}  target {op} {target:,}  {'ok' if met else 'MISSED'}")
sys.exit(0 if ok else 1)
PY
