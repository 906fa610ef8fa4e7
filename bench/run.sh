#!/usr/bin/env bash
# keyhub's benchmark: what a key-guarded data request costs over serving bytes.
# One command, one run, everything compared inside the run (this machine is
# shared and noisy; ratios measured together hold, absolute figures drift).
# Not part of CI. How to read the table: bench/README.md.
#
#   bench/run.sh                       # DURATION=5 s per measurement
#   DURATION=10 bench/run.sh
#   SKIP_SYNC=1 SKIP_DATAHUB=1 bench/run.sh   # only the request-path table
#
# 1. Seeds a throw-away data dir through keyhub's own code (`keyhub bench-seed`):
#    100,000 hub keys, 100,000 personal keys, a 10,000-row collection.
# 2. Starts keyhub (start-to-ready timed) and measures with wrk at 32 and 128
#    connections: static asset (the ceiling), public page, the page through a
#    hub key (3 IP rows, 2 templated headers), through a portal token
#    (personal key), GET /api/v1/me with a personal key, and the guarded page
#    through the same hub key with a rate limit too high to trigger (what
#    counting against a limit costs; usage is counted on every row).
# 3. The same guarded page while one key is edited 10×/s, and while 50 clients
#    hammer /login with wrong passwords; the keys pages' Server-Timing.
# 4. Database statements per request from /metrics (KEYHUB_METRICS_BIND).
# 5. bench/datahub.sh (1M-row import) and bench/sync.sh (1M-row sync), whose
#    figures join the table. The script exits 1 when a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
HUB_KEYS=${HUB_KEYS:-100000}
PERSONAL_KEYS=${PERSONAL_KEYS:-100000}

# bench_prepare (wrk, release build, WORK, PIDS, cleanup), free_port, tok, start_keyhub
. bench/lib.sh
bench_prepare
R="$WORK/results"
mkdir -p "$R"

# --- seed and start -----------------------------------------------------------
DIR="$WORK/main"
mkdir -p "$DIR"
PORT=$(free_port)
MPORT=$(free_port)
# The login throttle would refuse the flood before any hash: lifted here so
# the flood really reaches the argon2 pool (the pool's own bound is measured).
export KEYHUB_DATA_DIR="$DIR" KEYHUB_BIND="127.0.0.1:$PORT" KEYHUB_METRICS_BIND="127.0.0.1:$MPORT" \
  KEYHUB_LOG=warn KEYHUB_LOGIN_FAILURES_PER_CLIENT=1000000000
unset KEYHUB_DATABASE_URL
target/release/keyhub bench-seed --hub-keys "$HUB_KEYS" --personal-keys "$PERSONAL_KEYS" --rows 10000 >"$WORK/seed.env"
. "$WORK/seed.env"
echo "seeded $HUB_KEYS hub keys, $PERSONAL_KEYS personal keys and 10,000 rows in ${BENCH_SEED_SECONDS} s"

T0=$(date +%s%N)
target/release/keyhub >"$DIR/server.log" 2>&1 &
PID=$!
PIDS+=("$PID")
B="http://127.0.0.1:$PORT"
until curl -sf -o /dev/null "$B/healthz"; do
  kill -0 "$PID" 2>/dev/null || { cat "$DIR/server.log"; exit 2; }
  sleep 0.005
done
READY_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
RSS_READY=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")

WS="$BENCH_WORKSPACE"
STATIC="$B/static/bench/vendor/primer-css-21.5.1/LICENSE"
STATIC_JS="$B/static/bench/app.js"
PUBLIC="$B/hub/$WS/items"
GUARDED="$B/hub/$WS/guarded"
HUB_H="X-API-Key: $BENCH_HUB_KEY"
LIMITED_H="X-API-Key: $BENCH_LIMITED_KEY"
PERSONAL_H="Authorization: Bearer $BENCH_PERSONAL_KEY"
ME="$B/api/v1/me"

# Every measured request must succeed with the expected body; a 4xx measured
# fast would be a lie.
check() { # NAME EXPECT URL [HEADER]
  local name=$1 expect=$2 url=$3 out
  shift 3
  out=$(curl -s -D "$WORK/h" -o "$WORK/b" -w '%{http_code} %{size_download}' "${@/#/-H}" "$url")
  [ "${out%% *}" = 200 ] || { echo "$name: HTTP ${out%% *}: $(head -c 300 "$WORK/b")"; exit 2; }
  grep -qi -- "$expect" "$WORK/h" "$WORK/b" || { echo "$name: answer lacks $expect"; cat "$WORK/h"; exit 2; }
  echo "${out#* }" >"$R/$name.bytes"
}
check static "Copyright" "$STATIC"
check static_js "htmx" "$STATIC_JS"
check public '"count":10000' "$PUBLIC"
check guarded "x-collection-count: 10000" "$GUARDED" "$HUB_H"
grep -qi "x-collection-page: Orders from 0" "$WORK/h" || { echo "guarded: second templated header missing"; exit 2; }
check portal '"count":10000' "$GUARDED" "$PERSONAL_H"
check limited 'ratelimit-policy: "key";q=1000000000;w=60' "$GUARDED" "$LIMITED_H"
check me "$BENCH_EMAIL" "$ME" "$PERSONAL_H"

# wrk → a line "rps p50_ms p99_ms errors" appended to $R/NAME.cN; the table
# takes the median of the repetitions, which are interleaved so that a slow
# moment of the machine does not land on one row only.
measure() { # NAME CONNS URL [HEADER]
  local name=$1 c=$2 url=$3 args
  args=(-t2 -c"$c" -d"${DURATION}s" --latency "$url")
  [ $# -gt 3 ] && args+=(-H "$4")
  wrk "${args[@]}" >"$WORK/wrk.out"
  python3 - "$WORK/wrk.out" >>"$R/$name.c$c" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
print(rps, p50, p99, (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0))
PY
}
metric_sum() { # METRIC-LINE-PREFIX → the sum of matching sample values
  curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v p="$1" 'index($0, p) == 1 {s += $NF} END {printf "%.0f\n", s}'
}

queries() { metric_sum 'keyhub_db_query_duration_seconds_count'; }
requests() { metric_sum 'keyhub_http_request_duration_seconds_count{method="GET",route="/hub/{workspace}/{path:.+}"'; }

REPS=${REPS:-3}
for rep in $(seq "$REPS"); do
  for c in 32 128; do
    measure static "$c" "$STATIC"
    measure public "$c" "$PUBLIC"
    Q0=$(queries); N0=$(requests)
    measure guarded "$c" "$GUARDED" "$HUB_H"
    Q1=$(queries); N1=$(requests)
    measure portal "$c" "$GUARDED" "$PERSONAL_H"
    Q2=$(queries); N2=$(requests)
    measure me "$c" "$ME" "$PERSONAL_H"
    Q3=$(queries); N3=$(requests)
    measure limited "$c" "$GUARDED" "$LIMITED_H"
    Q4=$(queries); N4=$(requests)
    echo "$((Q1 - Q0)) $((N1 - N0)) $((Q2 - Q1)) $((N2 - N1)) $((Q4 - Q3)) $((N4 - N3))" >>"$R/queries.c$c"
  done
done
measure static_js 32 "$STATIC_JS"

# --- changes while serving: one filler key edited 10×/s through the API -------
EDIT_ID=$((BENCH_HUB_KEY_ID + 10))
edit_loop() {
  local i=0 body
  while :; do
    case $((i % 3)) in
      0) body='{"status": "inactive"}' ;;
      1) body='{"status": "active"}' ;;
      2) body="{\"ip_filters\": [{\"range\": \"10.$((i % 250)).0.0\", \"netmask\": \"255.255.0.0\"}]}" ;;
    esac
    curl -s -o /dev/null -w '%{http_code}\n' -X PATCH -H "$PERSONAL_H" -H 'Content-Type: application/json' -d "$body" "$B/api/v1/hub-keys/$EDIT_ID" >>"$WORK/edits"
    i=$((i + 1))
    sleep 0.1
  done
}
: >"$WORK/edits"
edit_loop &
EDITOR=$!
PIDS+=("$EDITOR")
measure guarded_edits 32 "$GUARDED" "$HUB_H"
kill "$EDITOR" 2>/dev/null || true
wait "$EDITOR" 2>/dev/null || true
EDITS_OK=$(grep -c '^200$' "$WORK/edits" || true)
EDITS_ALL=$(wc -l <"$WORK/edits")
[ "$EDITS_OK" -gt 0 ] && [ "$EDITS_OK" = "$EDITS_ALL" ] || { echo "edits failed: $(sort "$WORK/edits" | uniq -c)"; exit 2; }

# --- logins cannot starve the API ---------------------------------------------
JAR="$WORK/anon"
LT=$(curl -s -c "$JAR" -b "$JAR" "$B/login" | tok)
SEED=$(awk '$6 == "keyhub_csrf" {print $7}' "$JAR")
cat >"$WORK/login.lua" <<LUA
wrk.method = "POST"
wrk.body = "csrf_token=$LT&email=$BENCH_EMAIL&password=wrong+password+0000"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "keyhub_csrf=$SEED"
wrk.headers["Origin"] = "$B"
LUA
Q_BEFORE=$(metric_sum 'keyhub_http_request_duration_seconds_count{method="POST",route="/login",status="401"')
wrk -t1 -c50 -d"$((DURATION + 4))s" -s "$WORK/login.lua" "$B/login" >"$WORK/flood.out" &
FLOOD=$!
sleep 2
measure guarded_flood 32 "$GUARDED" "$HUB_H"
wait "$FLOOD" || true
LOGIN_401=$(( $(metric_sum 'keyhub_http_request_duration_seconds_count{method="POST",route="/login",status="401"') - Q_BEFORE ))
LOGIN_429=$(metric_sum 'keyhub_http_request_duration_seconds_count{method="POST",route="/login",status="429"')
[ "$LOGIN_401" -gt 0 ] || { echo "the login flood checked no password"; cat "$WORK/flood.out"; exit 2; }

# --- pages with many keys: Server-Timing ---------------------------------------
J="$WORK/jar"
t=$(curl -s -c "$J" -b "$J" "$B/login" | tok)
curl -s -o /dev/null -c "$J" -b "$J" -d "csrf_token=$t&email=$BENCH_EMAIL&password=bench+password+1234" "$B/login"
server_ms() { # URL... → median of the app;dur= values, one request each
  for u in "$@"; do
    curl -s -o /dev/null -D - -b "$J" "$u" | tr -d '\r' | awk -F'dur=' 'tolower($0) ~ /^server-timing:/ {print $2}'
  done | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
curl -s -b "$J" "$B/datahub/keys" | grep -q "in all" || { echo "the hub key table did not render"; exit 2; }
curl -s -b "$J" "$B/account/keys" | grep -q "Page 1 of 40" || { echo "the keys tab did not paginate 1,000 keys"; exit 2; }
HUB_PAGES=()
ACCT_PAGES=()
for p in 1 2 3 50 400 1000 2000 4000 3999 1 2 5 10 20 100 200 300 700 1500 2500 3000; do
  HUB_PAGES+=("$B/datahub/keys?page=$p" "$B/datahub/keys?q=seed+key+0$((p % 9))&page=1" "$B/datahub/keys?sort=last_used_at&dir=desc&page=$p")
  ACCT_PAGES+=("$B/account/keys?page=$(( (p % 40) + 1 ))")
done
HUB_TABLE_MS=$(server_ms "${HUB_PAGES[@]}")
KEYS_TAB_MS=$(server_ms "${ACCT_PAGES[@]}")

PEAK_RSS=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
kill "$PID" 2>/dev/null || true

# --- criterion micro-benchmarks of the verifiers --------------------------------
CRIT_HUB=0 CRIT_PERSONAL=0
if [ -z "${SKIP_CRITERION:-}" ] && cargo bench --bench verifiers -q -- --noplot >"$WORK/criterion.out" 2>&1; then
  est() { python3 -c "import json; print(json.load(open('target/criterion/$1/new/estimates.json'))['median']['point_estimate'] / 1000)"; }
  CRIT_HUB=$(est "hub_verifier_hit")
  CRIT_PERSONAL=$(est "personal_verifier_hit")
elif [ -z "${SKIP_CRITERION:-}" ]; then
  echo "criterion benchmark failed:"; tail -20 "$WORK/criterion.out"
fi

# --- the Data Hub import and the sync, from their own scripts -------------------
# The other scripts start their own servers: none of this one's settings.
unset KEYHUB_DATA_DIR KEYHUB_BIND KEYHUB_METRICS_BIND KEYHUB_LOGIN_FAILURES_PER_CLIENT
SYNC_LINES="" DATAHUB_STATUS=0 SYNC_STATUS=0
if [ -z "${SKIP_DATAHUB:-}" ]; then
  bench/datahub.sh 2>&1 | tee "$WORK/datahub.out" || { DATAHUB_STATUS=1; echo "bench/datahub.sh failed"; }
fi
if [ -z "${SKIP_SYNC:-}" ]; then
  bench/sync.sh 2>&1 | tee "$WORK/sync.out" || { SYNC_STATUS=1; echo "bench/sync.sh failed"; }
  SYNC_LINES=$(grep '^sync SQLite\|^sync PostgreSQL' "$WORK/sync.out" || true)
fi

set +e
python3 - "$R" "$READY_MS" "$RSS_READY" "$PEAK_RSS" "$HUB_TABLE_MS" "$KEYS_TAB_MS" "$CRIT_HUB" "$CRIT_PERSONAL" \
  "$LOGIN_401" "$LOGIN_429" "$EDITS_OK" "$HUB_KEYS" "$PERSONAL_KEYS" "$SYNC_LINES" <<'PY'
import os, sys
r, ready, rss_ready, peak, hub_ms, tab_ms, crit_hub, crit_personal, l401, l429, edits, hk, pk, sync_lines = sys.argv[1:]
def load(name):
    """The median run by throughput (its own p50/p99), and every run's errors."""
    runs = [tuple(map(float, line.split())) for line in open(os.path.join(r, name)) if line.strip()]
    runs.sort(key=lambda x: x[0])
    rps, p50, p99, _ = runs[len(runs) // 2]
    return rps, p50, p99, int(sum(x[3] for x in runs))
rows = [("1 static asset", "static"), ("2 public page", "public"), ("3 guarded (hub key)", "guarded"),
        ("4 portal token (personal key)", "portal"), ("5 GET /api/v1/me (personal key)", "me"),
        ("6 guarded, key with a rate limit", "limited")]
size = lambda n: open(os.path.join(r, n + ".bytes")).read().strip()
print()
print(f"keyhub benchmark — {int(hk):,} hub keys + {int(pk):,} personal keys loaded; bodies: static {size('static')} B, "
      f"page {size('public')} B, /me {size('me')} B")
print(f"median of {len(open(os.path.join(r, 'static.c32')).readlines())} interleaved runs each")
print(f"{'':34} {'c=32 req/s':>11} {'p50 ms':>7} {'p99 ms':>7}   {'c=128 req/s':>11} {'p50 ms':>7} {'p99 ms':>7}")
res = {}
errors = 0
for label, name in rows:
    a, b = load(name + ".c32"), load(name + ".c128")
    res[name] = (a, b)
    errors += a[3] + b[3]
    print(f"{label:34} {a[0]:11,.0f} {a[1]:7.2f} {a[2]:7.2f}   {b[0]:11,.0f} {b[1]:7.2f} {b[2]:7.2f}")
for label, name in [("3 with one key edited 10×/s", "guarded_edits.c32"), ("3 during a 50-client /login flood", "guarded_flood.c32"),
                    ("static app.js (7.6 KB), for scale", "static_js.c32")]:
    x = load(name)
    errors += x[3]
    res[name] = x
    print(f"{label:34} {x[0]:11,.0f} {x[1]:7.2f} {x[2]:7.2f}")
q = {c: [sum(col) for col in zip(*(map(int, l.split()) for l in open(os.path.join(r, f"queries.c{c}")) if l.strip()))] for c in (32, 128)}
per = lambda qs, n: qs / n if n else float("nan")
print(f"database statements per request (c=32 runs, usage counted on each): guarded {per(q[32][0], q[32][1]):.5f} ({q[32][0]} in {q[32][1]:,}), "
      f"portal {per(q[32][2], q[32][3]):.5f} ({q[32][2]} in {q[32][3]:,}), limited {per(q[32][4], q[32][5]):.5f} ({q[32][4]} in {q[32][5]:,})")
print(f"start to ready {int(ready):,} ms · RSS at ready {int(rss_ready) * 1024 / 1e6:.0f} MB · peak RSS {int(peak) * 1024 / 1e6:.0f} MB · "
      f"{int(edits)} key edits applied · login flood: {int(l401):,} passwords checked, {int(l429):,} refused with 429")
print(f"Server-Timing median: hub key table ({int(hk):,} keys) {float(hub_ms):.1f} ms · keys tab (1,000 keys) {float(tab_ms):.1f} ms")
if float(crit_hub):
    print(f"criterion: hub key verifier hit {float(crit_hub):.2f} µs · personal key verifier hit {float(crit_personal):.2f} µs")
if sync_lines:
    print(sync_lines)
print()
s32, p32, g32, o32 = res["static"][0], res["public"][0], res["guarded"][0], res["portal"][0]
ed, fl = res["guarded_edits.c32"], res["guarded_flood.c32"]
checks = [
    ("(3)/(2) c=32", "guarded ÷ public req/s", g32[0] / p32[0], ">=", 0.95),
    ("(3)/(2) c=128", "guarded ÷ public req/s", res["guarded"][1][0] / res["public"][1][0], ">=", 0.95),
    ("(4)/(2) c=32", "portal token ÷ public req/s", o32[0] / p32[0], ">=", 0.90),
    ("(4)/(2) c=128", "portal token ÷ public req/s", res["portal"][1][0] / res["public"][1][0], ">=", 0.90),
    ("(2)/(1) c=32", "public page ÷ static req/s", p32[0] / s32[0], ">=", 0.75),
    ("(2)/(1) c=128", "public page ÷ static req/s", res["public"][1][0] / res["static"][1][0], ">=", 0.75),
    ("p99 (3)/(1)", "guarded p99 ÷ static p99, c=32", g32[2] / s32[2], "<=", 1.5),
    ("edits req/s", "guarded with edits ÷ without", ed[0] / g32[0], ">=", 0.9),
    ("edits p99", "guarded p99 with edits ÷ without", ed[2] / g32[2], "<=", 2.0),
    ("flood req/s", "guarded during login flood ÷ without", fl[0] / g32[0], ">=", 0.5),
    ("flood p99", "guarded p99 during flood ÷ without", fl[2] / g32[2], "<=", 5.0),
    ("queries", "DB statements per guarded request", per(q[32][0], q[32][1]), "<=", 0.001),
    ("queries portal", "DB statements per portal-token request", per(q[32][2], q[32][3]), "<=", 0.001),
    ("queries limited", "DB statements per rate-limited request", per(q[32][4], q[32][5]), "<=", 0.001),
    ("(6)/(3) c=32", "rate-limited key ÷ same key unlimited req/s", res["limited"][0][0] / g32[0], ">=", 0.95),
    ("(6)/(3) c=128", "rate-limited key ÷ same key unlimited req/s", res["limited"][1][0] / res["guarded"][1][0], ">=", 0.95),
    ("peak RSS", "MB with every key loaded", int(peak) * 1024 / 1e6, "<=", 200),
    ("ready", "ms from start to ready", float(ready), "<=", 2000),
    ("hub table", "Server-Timing median ms", float(hub_ms), "<=", 20),
    ("keys tab", "Server-Timing median ms", float(tab_ms), "<=", 20),
]
if float(crit_hub):
    checks += [("hub verifier", "µs per hit (criterion)", float(crit_hub), "<=", 2),
               ("personal verifier", "µs per hit (criterion)", float(crit_personal), "<=", 2)]
ok = errors == 0
if errors:
    print(f"{errors} requests failed during the measurements: the figures above are not valid")
for name, what, value, op, target in checks:
    met = value >= target if op == ">=" else value <= target
    ok &= met
    print(f"{name:17} {what:40} {value:10.3f}  target {op} {target:g}  {'ok' if met else 'MISSED'}")
sys.exit(0 if ok else 1)
PY
STATUS=$?
[ "$STATUS" = 0 ] && [ "$DATAHUB_STATUS" = 0 ] && [ "$SYNC_STATUS" = 0 ] || exit 1
