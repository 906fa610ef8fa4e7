#!/usr/bin/env bash
# keyhub benchmarks: the cost of checking a personal API key on the hot path.
# Everything is measured in one run on this machine and reported as ratios, so
# a shared, noisy machine still gives comparable numbers. Not part of CI.
#
#   bench/run.sh            # 5 s per measurement
#   DURATION=15 bench/run.sh
#
# Targets (the script exits 1 when one is missed):
#   key check      ping with a key ÷ static file         ≥ 0.50  (verification is a hash + map lookup)
#   scaling        ping with 100k keys ÷ with 1 key      ≥ 0.80  (snapshot size must not matter)
#   memory         RSS with 100k keys ÷ with 1 key       ≤ 4.0   (≈ 16 MiB base + < 500 bytes a key)
# Data Hub (bench/datahub.sh, run after the key section; ROWS=1000000 by default):
#   import         rows/s of a 1M-row CSV upload, SQLite  ≥ 100,000 rows/s, peak RSS ≤ 150 MB
#                  (and on PostgreSQL when PG_URL is reachable; reported, no target)
#   public page    a ~2 KB page of a public endpoint ÷ static app.js   ≥ 0.50
#   deep page      offset=990000 ÷ offset=0 (uncached pages)          ≥ 0.50
# Syncs (bench/sync.sh, run last): 1M rows from a second keyhub into a fresh entity
#   sync           rows/s on SQLite ≥ 50,000 (PostgreSQL reported); peak RSS ≤ 250 MB
#   sync p99       data API p99 on the syncing node during the sync ÷ idle  ≤ 3
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
KEYS=${KEYS:-100000}

if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked -q

DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export KEYHUB_DATA_DIR="$DIR" KEYHUB_BIND="127.0.0.1:$PORT" KEYHUB_LOG=warn
B="http://127.0.0.1:$PORT"
echo "bench password 1234" | target/release/keyhub admin create --email bench@example.com --workspace Bench >/dev/null
${SERVER_ENV:-} target/release/keyhub >"$DIR/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "$B/healthz" && break; sleep 0.1; done

tok() { grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//'; }
J="$DIR/cookies"
T=$(curl -s -c "$J" -b "$J" "$B/login" | tok)
curl -s -o /dev/null -c "$J" -b "$J" -d "csrf_token=$T&email=bench@example.com&password=bench+password+1234" "$B/login"
new_key() {
  local t
  t=$(curl -s -c "$J" -b "$J" "$B/account/keys" | tok)
  curl -s -c "$J" -b "$J" -d "csrf_token=$t&label=$1&expires=never" "$B/account/keys" |
    grep -o 'id="new-secret" type="text" readonly value="[^"]*"' | sed 's/.*value="//; s/"$//'
}
SECRET=$(new_key bench-1)
CSS=$(curl -s "$B/login" | grep -o '/static/[0-9a-f]*/app.css' | head -1)
[ -n "$SECRET" ] && [ -n "$CSS" ] || { echo "bench setup failed"; exit 2; }

rps() { # url [header]
  local args=(-t1 -c16 -d"${DURATION}s" "$1")
  [ $# -gt 1 ] && args+=(-H "$2")
  wrk "${args[@]}" | awk '/Requests\/sec/ {print $2}'
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }

curl -sf -o /dev/null -H "Authorization: Bearer $SECRET" "$B/api/v1/ping"
STATIC=$(rps "$B$CSS")
PING_1=$(rps "$B/api/v1/ping" "Authorization: Bearer $SECRET")
RSS_1=$(rss)

python3 - "$DIR/keyhub.db" "$KEYS" <<'PY'
import hashlib, os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
user = db.execute("SELECT user_id FROM members LIMIT 1").fetchone()[0]
# The seeded keys live in a workspace of their own, so the bench user's pages stay small.
ws = db.execute("INSERT INTO workspaces (name, created_at) VALUES ('Seed', '2026-01-01 00:00:00+00:00')").lastrowid
db.execute("INSERT INTO members (workspace_id, user_id, role, permissions, disabled, created_at) VALUES (?, ?, 'member', 'data.read', 0, '2026-01-01 00:00:00+00:00')", (ws, user))
rows = [(ws, user, f"seed-{i}", "data.read", "khp_…seed", hashlib.sha256(os.urandom(32)).hexdigest(), "2026-01-01 00:00:00+00:00")
        for i in range(int(sys.argv[2]))]
db.executemany("INSERT INTO personal_keys (workspace_id, user_id, label, permissions, identifier, secret_hash, created_at) VALUES (?,?,?,?,?,?,?)", rows)
db.commit()
PY
RSS_SEEDED=$(rss)
new_key bench-2 >/dev/null   # any change reloads the snapshot on the next request
[ -n "${VERBOSE:-}" ] && echo "RSS after seeding, before reload: $RSS_SEEDED kB; after page: $(rss) kB"
curl -sf -o /dev/null -H "Authorization: Bearer $SECRET" "$B/api/v1/ping"
PING_N=$(rps "$B/api/v1/ping" "Authorization: Bearer $SECRET")
RSS_N=$(rss)

set +e
python3 - "$STATIC" "$PING_1" "$PING_N" "$RSS_1" "$RSS_N" "$KEYS" <<'PY'
import sys
static, ping1, pingn, rss1, rssn, keys = map(float, sys.argv[1:])
rows = [
    ("key check", f"ping with a key ÷ static file", ping1 / static, ">=", 0.50),
    ("scaling", f"ping with {int(keys)} keys ÷ with 1 key", pingn / ping1, ">=", 0.80),
    ("memory", f"RSS with {int(keys)} keys ÷ with 1 key", rssn / rss1, "<=", 4.0),
]
print(f"static {static:.0f} req/s · ping {ping1:.0f} req/s · ping ({int(keys)} keys) {pingn:.0f} req/s · "
      f"RSS {rss1/1024:.1f} → {rssn/1024:.1f} MiB ({(rssn - rss1) * 1024 / keys:.0f} bytes a key)")
ok = True
for name, what, ratio, op, target in rows:
    met = ratio >= target if op == ">=" else ratio <= target
    ok &= met
    print(f"{name:10} {what:42} {ratio:5.2f}×  target {op} {target}  {'ok' if met else 'MISSED'}")
sys.exit(0 if ok else 1)
PY
KEYS_STATUS=$?
kill $PID 2>/dev/null || true
bench/datahub.sh || exit 1
bench/sync.sh || exit 1
exit $KEYS_STATUS
