# Shared by the benchmark scripts (sourced): the common preparation, a free
# port, a page's CSRF token, and a keyhub started in its own data directory
# with a signed-in admin's personal key.

# wrk (installed from Debian when missing), a release build, and WORK (a temp
# dir) with PIDS (servers to stop): both removed and stopped on exit.
bench_prepare() {
  command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
  cargo build --release --locked -q
  WORK=$(mktemp -d)
  PIDS=()
  trap bench_cleanup EXIT
}
bench_cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tok() { grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//'; }

# start_keyhub NAME [DATABASE_URL] → sets B, PID, KEY
start_keyhub() {
  local dir="$WORK/$1" port
  mkdir -p "$dir"
  port=$(free_port)
  export KEYHUB_DATA_DIR="$dir" KEYHUB_BIND="127.0.0.1:$port" KEYHUB_LOG=warn KEYHUB_CONNECTORS_ALLOW_PRIVATE=true
  if [ -n "${2:-}" ]; then export KEYHUB_DATABASE_URL="$2"; else unset KEYHUB_DATABASE_URL; fi
  echo "bench password 1234" | target/release/keyhub admin create --email bench@example.com --workspace Bench >/dev/null
  target/release/keyhub >"$dir/server.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  B="http://127.0.0.1:$port"
  for _ in $(seq 100); do curl -sf -o /dev/null "$B/healthz" && break; sleep 0.1; done
  local jar="$dir/cookies" t
  t=$(curl -s -c "$jar" -b "$jar" "$B/login" | tok)
  curl -s -o /dev/null -c "$jar" -b "$jar" -d "csrf_token=$t&email=bench@example.com&password=bench+password+1234" "$B/login"
  t=$(curl -s -c "$jar" -b "$jar" "$B/account/keys" | tok)
  # The POST redirects to the page that shows the new secret once (-L follows it).
  KEY=$(curl -s -L -c "$jar" -b "$jar" -d "csrf_token=$t&label=bench&expires=never&permission=data.read&permission=data.write&permission=hub_keys.manage&permission=connectors.manage&permission=ontology.edit" "$B/account/keys" |
    grep -o 'id="new-secret" type="text" readonly value="[^"]*"' | sed 's/.*value="//; s/"$//' || true)
  [ -n "$KEY" ] || { echo "bench setup failed ($1)"; cat "$dir/server.log"; exit 2; }
}

# cluster_prepare NAME: a PostgreSQL database of its own (KEYHUB_BENCH_PG,
# dropped on exit) seeded with HUB_KEYS and PERSONAL_KEYS; sets URL and the
# seed's BENCH_* values. Nodes share the data dir (the master secret).
cluster_prepare() {
  PG=${KEYHUB_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
  DB="keyhub_bench_$1_$$"
  psql "$PG" -qc "CREATE DATABASE $DB"
  trap 'bench_cleanup; psql "$PG" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT
  URL="${PG%/*}/$DB"
  export KEYHUB_DATABASE_URL="$URL" KEYHUB_DATA_DIR="$WORK/data" KEYHUB_LOG=warn
  target/release/keyhub bench-seed --hub-keys "${HUB_KEYS:-20000}" --personal-keys "${PERSONAL_KEYS:-20000}" --rows 1000 >"$WORK/seed.env"
  . "$WORK/seed.env"
  echo "seeded ${HUB_KEYS:-20000} hub keys and ${PERSONAL_KEYS:-20000} personal keys on PostgreSQL in ${BENCH_SEED_SECONDS} s"
}

# start_node NAME [PORT] → sets NODE (its URL) and NODE_PID once /readyz says 200.
start_node() {
  local port=${2:-$(free_port)}
  KEYHUB_BIND="127.0.0.1:$port" target/release/keyhub >>"$WORK/$1.log" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  NODE="http://127.0.0.1:$port"
  for _ in $(seq 300); do curl -sf -o /dev/null "$NODE/readyz" && return; sleep 0.1; done
  echo "node $1 did not start"; cat "$WORK/$1.log"; exit 2
}
