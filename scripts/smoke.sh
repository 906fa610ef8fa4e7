#!/usr/bin/env bash
# Smoke test of the release binary from an empty directory, with curl:
# setup -> sign in -> invite -> accept (second user) -> sign out.
#   scripts/smoke.sh                                   # SQLite in a temp dir
#   KEYHUB_DATABASE_URL=postgres://postgres@127.0.0.1:5432/keyhub_smoke scripts/smoke.sh
# (the PostgreSQL database must exist and be empty). Not part of CI: the test
# suite covers the same flows; this checks the shipped binary as a person would.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --locked -q --manifest-path "$ROOT/Cargo.toml"
DIR=$(mktemp -d)
cd "$DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
KEYHUB_BIND=127.0.0.1:$PORT "$ROOT/target/release/keyhub" >server.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DIR"' EXIT
B=http://127.0.0.1:$PORT
for _ in $(seq 100); do curl -sf -o /dev/null "$B/healthz" && break; sleep 0.1; done
CODE=$(sed -n 's/.*enter the setup code //p' server.log)

tok() { grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//'; }
post() { curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -c "$1" -b "$1" -d "$3" "$2"; }
expect() { [[ "$2" == "$3"* ]] || { echo "FAIL $1: got '$2', want '$3'"; exit 1; }; echo "ok   $1"; }

expect "first visit goes to setup" "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$B/")" "303 $B/setup"
T=$(curl -s -c a -b a "$B/setup" | tok)
expect "setup" "$(post a "$B/setup" "csrf_token=$T&setup_code=$CODE&email=ada@example.com&display_name=Ada&password=correct+horse+battery&workspace=Analytics")" "303 $B/"
T=$(curl -s -c a -b a "$B/account" | tok)
expect "sign out" "$(post a "$B/logout" "csrf_token=$T")" "303 $B/login"
T=$(curl -s -c a -b a "$B/login" | tok)
expect "sign in" "$(post a "$B/login" "csrf_token=$T&email=ada@example.com&password=correct+horse+battery")" "303 $B/"
T=$(curl -s -c a -b a "$B/admin/invitations" | tok)
LINK=$(curl -s -c a -b a -d "csrf_token=$T&email=bob@example.com&role=member&permission=data.read" "$B/admin/invitations" |
  grep -o 'id="invite-link" type="text" readonly value="[^"]*"' | sed 's/.*value="//; s/"$//')
expect "invitation link" "$LINK" "$B/invite/"
T=$(curl -s -c b -b b "$LINK" | tok)
expect "accept" "$(post b "$LINK" "csrf_token=$T&display_name=Bob&password=bob+password+1234&confirm_password=bob+password+1234")" "303 $B/"
expect "bob is in the workspace" "$(curl -s -b b "$B/" | grep -o 'You are working in <strong><bdi>[^<]*')" "You are working in <strong><bdi>Analytics"
expect "admin sees bob" "$(curl -s -b a "$B/admin/members" | grep -c 'bob@example.com')" "1"
T=$(curl -s -c b -b b "$B/account" | tok)
expect "bob signs out" "$(post b "$B/logout" "csrf_token=$T")" "303 $B/login"
expect "signed out for good" "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -b b "$B/account")" "303 $B/login"

# Data Hub: a dataset from a CSV through the API, published, read as JSON and CSV.
T=$(curl -s -c a -b a "$B/account/keys" | tok)
KEY=$(curl -s -c a -b a -d "csrf_token=$T&label=smoke&expires=never&permission=data.read&permission=data.write&permission=hub_keys.manage" "$B/account/keys" |
  grep -o 'id="new-secret" type="text" readonly value="[^"]*"' | sed 's/.*value="//; s/"$//')
expect "personal key" "$KEY" "khp_"
printf 'id,city\n1,Oslo\n2,"Bergen, Vestland"\n' > cities.csv
DS=$(curl -s -H "Authorization: Bearer $KEY" -F name=Cities -F primary_key=id -F file=@cities.csv "$B/api/v1/datasets")
expect "dataset created" "$DS" '{"id":'
DS_ID=$(echo "$DS" | sed 's/{"id":\([0-9]*\).*/\1/')
C=$(curl -s -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "{\"name\":\"Cities\",\"dataset_id\":$DS_ID}" "$B/api/v1/collections")
C_ID=$(echo "$C" | sed 's/{"id":\([0-9]*\).*/\1/')
curl -s -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "{\"path\":\"geo/cities\",\"collection_id\":$C_ID,\"access\":\"members\"}" "$B/api/v1/endpoints"
expect "hub JSON" "$(curl -s -H "Authorization: Bearer $KEY" "$B/hub/analytics/geo/cities?limit=1&offset=1")" '{"meta":{"name":"Cities","count":2,"limit":1,"offset":1},"data":[{"id":2,"city":"Bergen, Vestland"}]}'
expect "hub CSV" "$(curl -s -H "Authorization: Bearer $KEY" "$B/hub/analytics/geo/cities?format=csv" | tr '\n' '|')" 'id,city|1,Oslo|2,"Bergen, Vestland"|'
expect "hub without a key" "$(curl -s -o /dev/null -w '%{http_code}' "$B/hub/analytics/geo/cities")" "401"
echo "smoke test passed"
