#!/usr/bin/env bash
# A rolling restart with no failed request (issue 25, part 4): Debian's nginx
# with deploy/nginx-keyhub.conf (servers and port rewritten) in front of three
# release nodes on one PostgreSQL database. Two wrk runs go through nginx for
# the whole time — the guarded Data Hub endpoint with its key, and the sign-in
# page — while each node in turn gets SIGTERM, exits, and is started again on
# the same port. Prints what wrk counted and exits 1 unless every request
# succeeded.
#
#   bench/rolling.sh                  # ~1 minute after the build
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
bench_prepare
HUB_KEYS=${HUB_KEYS:-20000} PERSONAL_KEYS=${PERSONAL_KEYS:-20000}
cluster_prepare rolling
# Every node says /readyz is 503 for a second before it stops accepting.
export KEYHUB_SHUTDOWN_DRAIN_SECONDS=1

PORTS=("$(free_port)" "$(free_port)" "$(free_port)")
NODE_PIDS=()
for i in 0 1 2; do start_node "node$i" "${PORTS[$i]}"; NODE_PIDS+=("$NODE_PID"); done

# nginx as in deploy/, on a free port, with this run's three nodes.
LB_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
servers=""
for p in "${PORTS[@]}"; do servers+="    server 127.0.0.1:$p max_fails=1 fail_timeout=5s;\n"; done
sed -e "/^    server 10\.0\.0\.[0-9]*:8080/d" \
    -e "s/^    keepalive 64;/$(printf '%s' "$servers")    keepalive 64;/" \
    -e "s/^    listen 80;/    listen 127.0.0.1:$LB_PORT;/" deploy/nginx-keyhub.conf >"$WORK/nginx/keyhub.conf"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    include $WORK/nginx/keyhub.conf;
}
CONF
nginx -t -q -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
trap 'nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -s stop 2>/dev/null || true; bench_cleanup; psql "$PG" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT
LB="http://127.0.0.1:$LB_PORT"
for _ in $(seq 50); do curl -sf -o /dev/null "$LB/readyz" && break; sleep 0.1; done
status=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $BENCH_HUB_KEY" "$LB/hub/$BENCH_WORKSPACE/guarded")
[ "$status" = 200 ] || { echo "the guarded endpoint answers $status through nginx"; cat "$WORK/nginx/logs/error.log"; exit 2; }

DURATION=${DURATION:-30}
wrk -t1 -c16 -d"${DURATION}s" -H "X-API-Key: $BENCH_HUB_KEY" "$LB/hub/$BENCH_WORKSPACE/guarded" >"$WORK/wrk-guarded.txt" &
G=$!
wrk -t1 -c8 -d"${DURATION}s" "$LB/login" >"$WORK/wrk-page.txt" &
P=$!
sleep 3
for i in 0 1 2; do
  t0=$(date +%s.%N)
  kill -TERM "${NODE_PIDS[$i]}"
  wait "${NODE_PIDS[$i]}" || { echo "node$i did not exit cleanly after SIGTERM"; exit 1; }
  start_node "node$i" "${PORTS[$i]}"
  NODE_PIDS[$i]=$NODE_PID
  echo "node$i restarted in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s (SIGTERM → ready)"
  sleep 3
done
wait "$G" "$P"

failed=0
report() {
  local name=$1 file=$2 total errors non2xx
  total=$(awk '/requests in/ {print $1}' "$file")
  errors=$(awk '/Socket errors/ {gsub(",", ""); s = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s}' "$file")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$file")
  errors=${errors:-0}; non2xx=${non2xx:-0}
  local bad=$((errors + non2xx))
  echo "rolling restart  $name: $total requests through nginx, $non2xx non-2xx, $errors socket errors → failed $bad (target 0) $([ "$bad" = 0 ] && echo ok || echo MISSED)"
  [ "$bad" = 0 ] || failed=1
}
report "guarded endpoint" "$WORK/wrk-guarded.txt"
report "sign-in page" "$WORK/wrk-page.txt"
if [ "$failed" != 0 ]; then grep -v "^\s*$" "$WORK/nginx/logs/error.log" | tail -5; fi
exit "$failed"
