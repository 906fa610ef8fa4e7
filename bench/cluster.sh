#!/usr/bin/env bash
# Changes pushed between nodes (issue 25, part 1): two release nodes on one
# PostgreSQL database, seeded with HUB_KEYS hub keys and PERSONAL_KEYS
# personal keys; TRIALS times each, a hub key switched off and a personal key
# revoked on node A, timed until node B refuses it (bench/cluster_push.py).
# Target: median ≤ 100 ms and max ≤ 500 ms. Then budgets shared by three
# nodes (bench/cluster_limits.py) and the throughput of a limited key.
# Exits 1 when a target is missed.
#
#   bench/cluster.sh                       # 100 trials, 20,000 keys of each kind
#   KEYHUB_BENCH_PG=postgres://… TRIALS=20 bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

TRIALS=${TRIALS:-100}
HUB_KEYS=${HUB_KEYS:-20000}
PERSONAL_KEYS=${PERSONAL_KEYS:-20000}
PG=${KEYHUB_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}

bench_prepare
# The trials present refused keys on purpose, from one address, hundreds of
# times a minute: the refused-key budget would answer 429 instead of the refusal.
export KEYHUB_KEY_REFUSALS_PER_MINUTE=100000
cluster_prepare push
start_node a; A=$NODE
start_node b; B=$NODE
start_node c; C=$NODE

failed=0
echo "== 1. a change on A enforced on B"
python3 bench/cluster_push.py --a "$A" --b "$B" --db "$URL" --trials "$TRIALS" \
  --workspace "$BENCH_WORKSPACE" --hub-key "$BENCH_HUB_KEY" --hub-key-id "$BENCH_HUB_KEY_ID" \
  --personal-key "$BENCH_PERSONAL_KEY" --email "$BENCH_EMAIL" --password "$BENCH_PASSWORD" || failed=1

echo "== 2. budgets shared by three nodes: a rate limit, a monthly quota, refused keys"
# Three more nodes keep the default refused-key budget for the last check.
KEYHUB_KEY_REFUSALS_PER_MINUTE=120 start_node d; D=$NODE
KEYHUB_KEY_REFUSALS_PER_MINUTE=120 start_node e; E=$NODE
KEYHUB_KEY_REFUSALS_PER_MINUTE=120 start_node f; F=$NODE
python3 bench/cluster_limits.py --nodes "$A,$B,$C" --refusal-nodes "$D,$E,$F" --refusals-per-minute 120 \
  --workspace "$BENCH_WORKSPACE" --personal-key "$BENCH_PERSONAL_KEY" || failed=1

# Throughput with shared budgets: the guarded page with the seed's limited
# key (a rate limit too high to refuse, so every call is counted and slices
# are leased) and its metered key (a monthly quota, likewise) against the
# same page with the unlimited key, on node A, interleaved, median of REPS
# runs of DURATION seconds at 32 connections.
DURATION=${DURATION:-5}
REPS=${REPS:-3}
rps() { wrk -t2 -c32 -d"${DURATION}s" -H "X-API-Key: $1" "$A/hub/$BENCH_WORKSPACE/guarded" | awk '/Requests\/sec/ {print $2}'; }
plain=(); limited=(); metered=()
for _ in $(seq "$REPS"); do
  plain+=("$(rps "$BENCH_HUB_KEY")"); limited+=("$(rps "$BENCH_LIMITED_KEY")"); metered+=("$(rps "$BENCH_METERED_KEY")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p=$(median "${plain[@]}")
for what in limited metered; do
  declare -n runs=$what
  l=$(median "${runs[@]}")
  ratio=$(awk -v l="$l" -v p="$p" 'BEGIN {printf "%.3f", l / p}')
  verdict=$(awk -v r="$ratio" 'BEGIN {print (r >= 0.9) ? "ok" : "MISSED"}')
  label=$([ "$what" = limited ] && echo "a rate limit" || echo "a monthly quota")
  echo "shared budget guarded page with ${label} ${l} req/s, without ${p} req/s on a cluster node: ratio ${ratio} (target ≥ 0.9) ${verdict}"
  [ "$verdict" = ok ] || failed=1
done
exit "$failed"
