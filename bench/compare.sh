#!/usr/bin/env bash
# Two builds of keyhub, one run: the request-path rows of bench/run.sh against
# an earlier commit and against the working tree, interleaved, so that the
# machine's noise lands on both alike. Answers "did this change make requests
# slower?", which ratios inside one build cannot.
#
#   bench/compare.sh 1233c22            # REV against the working tree
#   DURATION=5 REPS=4 bench/compare.sh HEAD~3
#   BASE_BIN=/tmp/keyhub-old bench/compare.sh old   # a binary built earlier
#
# REV is built in a throw-away git worktree sharing target/ (only keyhub's own
# crates are rebuilt). Each build seeds its own data dir with its own
# `keyhub bench-seed` (fewer keys than run.sh: the verifiers' cost does not
# grow with the count) and serves it; only one is measured at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:?usage: bench/compare.sh REV}
DURATION=${DURATION:-4}
REPS=${REPS:-3}
KEYS=${KEYS:-20000}

. bench/lib.sh
bench_prepare
if [ -n "${BASE_BIN:-}" ]; then
  cp "$BASE_BIN" "$WORK/keyhub-base" # REV built before: only names it in the table
else
  TREE="$WORK/tree"
  git worktree add -q --detach "$TREE" "$REV"
  trap 'bench_cleanup; git worktree remove --force "$TREE" 2>/dev/null || true' EXIT
  (cd "$TREE" && CARGO_TARGET_DIR="$OLDPWD/target" cargo build --release --locked -q)
  cp target/release/keyhub "$WORK/keyhub-base"
  # Workspace crates get the same artifact names in both trees (cargo hashes
  # their paths relative to the workspace), so REV's build replaced them and
  # the working tree's sources, older than those artifacts, look fresh:
  # touching them makes cargo build (and link) the working tree's again.
  find src domain/src migrations/src -name '*.rs' -exec touch {} +
  cargo build --release --locked -q # target/release/keyhub is the working tree's again
fi
cp target/release/keyhub "$WORK/keyhub-head"

# start NAME → B_NAME (base URL) and the seed's variables as NAME_*
start() {
  local name=$1 dir="$WORK/$1" port
  mkdir -p "$dir"
  port=$(free_port)
  KEYHUB_DATA_DIR="$dir" KEYHUB_LOG=warn "$WORK/keyhub-$name" bench-seed --hub-keys "$KEYS" --personal-keys "$KEYS" --rows 10000 |
    sed "s/^BENCH_/${name}_/" >"$dir/seed.env"
  . "$dir/seed.env"
  KEYHUB_DATA_DIR="$dir" KEYHUB_BIND="127.0.0.1:$port" KEYHUB_LOG=warn "$WORK/keyhub-$name" >"$dir/server.log" 2>&1 &
  PIDS+=("$!")
  printf -v "B_$name" '%s' "http://127.0.0.1:$port"
  until curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"; do sleep 0.05; done
}
start base
start head

rps() { # URL [HEADER] → requests per second; any failed request stops the run
  local args=(-t2 -c32 -d"${DURATION}s" "$1")
  [ $# -gt 1 ] && args+=(-H "$2")
  wrk "${args[@]}" >"$WORK/wrk.out"
  if grep -q "Non-2xx\|Socket errors" "$WORK/wrk.out"; then cat "$WORK/wrk.out" >&2; exit 2; fi
  awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out"
}

for rep in $(seq "$REPS"); do
  for name in base head; do
    b="B_$name" ws="${name}_WORKSPACE" hk="${name}_HUB_KEY" pk="${name}_PERSONAL_KEY"
    echo "$name public $(rps "${!b}/hub/${!ws}/items")" >>"$WORK/rows"
    echo "$name guarded $(rps "${!b}/hub/${!ws}/guarded" "X-API-Key: ${!hk}")" >>"$WORK/rows"
    echo "$name portal $(rps "${!b}/hub/${!ws}/guarded" "Authorization: Bearer ${!pk}")" >>"$WORK/rows"
    echo "$name me $(rps "${!b}/api/v1/me" "Authorization: Bearer ${!pk}")" >>"$WORK/rows"
  done
done

python3 - "$WORK/rows" "$REV" "$REPS" <<'PY'
import statistics, sys
rows, rev, reps = sys.argv[1:]
v = {}
for line in open(rows):
    name, row, rps = line.split()
    v.setdefault((name, row), []).append(float(rps))
m = {k: statistics.median(x) for k, x in v.items()}
print(f"\nreq/s at c=32, median of {reps} interleaved runs; base = {rev}, head = the working tree")
print(f"{'':10} {'base':>9} {'head':>9} {'head/base':>10}")
for row in ("public", "guarded", "portal", "me"):
    print(f"{row:10} {m['base', row]:9,.0f} {m['head', row]:9,.0f} {m['head', row] / m['base', row]:10.3f}")
for name in ("base", "head"):
    print(f"{name}: guarded ÷ public {m[name, 'guarded'] / m[name, 'public']:.3f} · portal ÷ public {m[name, 'portal'] / m[name, 'public']:.3f}")
PY
