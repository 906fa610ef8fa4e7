#!/usr/bin/env bash
# keyhub's test command: installs what the tests need on a fresh Debian
# machine when it is missing, then runs the whole suite (one test binary).
#   scripts/test.sh                 # SQLite
#   KEYHUB_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/test.sh
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh browser_`).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "Installing ${need_apt[*]} for the browser tests..."
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# axe-core checks every page the browser journeys visit (pinned; kept under target/).
AXE_VERSION=4.11.0
axe="target/npm/node_modules/axe-core/axe.min.js"
if ! grep -qs "\"version\": \"$AXE_VERSION\"" target/npm/node_modules/axe-core/package.json; then
  echo "Installing axe-core $AXE_VERSION for the browser tests..."
  mkdir -p target/npm
  npm install --prefix target/npm --no-save --no-package-lock --silent "axe-core@$AXE_VERSION" >/dev/null
fi
[ -f "$axe" ] || { echo "axe-core did not install into target/npm" >&2; exit 1; }

# The connector tests run a real Datasette, and the API test runs schemathesis
# against the OpenAPI document; both pinned, in one venv kept under target/.
DATASETTE_VERSION=1.0a41
SCHEMATHESIS_VERSION=4.32.5
venv="target/datasette-venv"
if ! "$venv/bin/datasette" --version 2>/dev/null | grep -q "$DATASETTE_VERSION" \
  || ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "Installing datasette $DATASETTE_VERSION and schemathesis $SCHEMATHESIS_VERSION into $venv..."
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "datasette==$DATASETTE_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
fi

# Email is tested against a real SMTP server: aiosmtpd (the Python
# project's own), pinned, in the same venv; the tests read its Maildir.
# Webhook deliveries are verified by a receiver using the Standard Webhooks
# reference library for Python (tests/webhooks/receiver.py).
AIOSMTPD_VERSION=1.4.6
STANDARDWEBHOOKS_VERSION=1.0.0
# Read whole before matching: `grep -q` stops early, and under pipefail the
# writer's broken pipe would read as "not installed".
installed="$("$venv/bin/aiosmtpd" --version 2>/dev/null || true) $("$venv/bin/pip" show standardwebhooks 2>/dev/null || true)"
if ! grep -q "aiosmtpd $AIOSMTPD_VERSION" <<<"$installed" || ! grep -q "Version: $STANDARDWEBHOOKS_VERSION" <<<"$installed"; then
  echo "Installing aiosmtpd $AIOSMTPD_VERSION and standardwebhooks $STANDARDWEBHOOKS_VERSION into $venv..."
  "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
fi

# The OpenAPI connector is tested against a real third-party service:
# Directus (a self-hosted headless CMS publishing an OpenAPI 3 document and
# taking static tokens), pinned, installed from npm under target/.
DIRECTUS_VERSION=11.3.5
directus="target/directus"
if ! grep -qs "\"version\": \"$DIRECTUS_VERSION\"" "$directus/node_modules/directus/package.json"; then
  echo "Installing Directus $DIRECTUS_VERSION for the connector tests (a few minutes, once)..."
  rm -rf "$directus"
  mkdir -p "$directus"
  echo '{"private": true}' >"$directus/package.json"
  npm install --prefix "$directus" --prefer-offline --no-audit --no-fund --loglevel=error "directus@$DIRECTUS_VERSION" >/dev/null
fi
[ -x "$directus/node_modules/.bin/directus" ] || { echo "Directus did not install into $directus" >&2; exit 1; }

# Directus keeps its data in PostgreSQL (127.0.0.1:5432), on SQLite runs too.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && command -v pg_ctlcluster >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

cargo test --workspace --locked "$@"
