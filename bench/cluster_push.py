"""How fast a change made on node A is enforced on node B (issue 25, part 1).

Called by bench/cluster.sh with two running nodes on one PostgreSQL database.
Each trial makes one change on A and stops the clock when A has answered
(the change is saved and in force there); it then asks B again and again, on
a kept-alive connection, until B refuses the key. What is printed is the time
from A's answer to B's first refusal. Two kinds of trial, TRIALS each:

- hub: a Data Hub key switched off through A's API (PATCH status inactive),
  then on again (and B seen to accept it) before the next trial;
- personal: a personal key revoked on A's page (a form post, as a person
  would), one fresh key per trial, made beforehand.

Standard library only. Exits 1 when a target is missed.
"""
import argparse
import http.client
import http.cookiejar
import json
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

MEDIAN_TARGET_MS = 100.0
MAX_TARGET_MS = 500.0
GIVE_UP_S = 10.0


class Conn:
    """One kept-alive HTTP connection: timing is not spent on TCP handshakes."""

    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def req(self, method, path, headers=None, body=None):
        self.c.request(method, path, body=body, headers=headers or {})
        r = self.c.getresponse()
        return r.status, r.read()


class Browser:
    """A signed-in person on node A (cookies, CSRF token)."""

    def __init__(self, base, email, password):
        self.base = base
        jar = http.cookiejar.CookieJar()
        self.o = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.post("/login", {"email": email, "password": password}, token_from="/login")

    def get(self, path):
        return self.o.open(self.base + path).read().decode()

    def post(self, path, fields, token_from):
        token = re.search(r'name="csrf_token" value="([^"]*)"', self.get(token_from)).group(1)
        data = urllib.parse.urlencode(dict(fields, csrf_token=token), doseq=True).encode()
        return self.o.open(self.base + path, data=data).read().decode()


def until(conn, path, headers, want, sent=None):
    """Asks until `want(status)`. Returns the seconds from now (A's answer) to
    B's first such answer, and from `sent` (when the change was sent to A) —
    or None after GIVE_UP_S."""
    start = time.perf_counter()
    while True:
        status, _ = conn.req("GET", path, headers)
        if want(status):
            now = time.perf_counter()
            return (now - start, now - (sent or start))
        if time.perf_counter() - start > GIVE_UP_S:
            return None


def psql(db, sql):
    return subprocess.run(["psql", db, "-Atc", sql], check=True, capture_output=True, text=True).stdout.split()


def hub_trials(a, b, args):
    admin = {"Authorization": f"Bearer {args.personal_key}", "Content-Type": "application/json"}
    guarded = f"/hub/{args.workspace}/guarded"
    key = {"X-API-Key": args.hub_key}
    out = []
    for _ in range(args.trials):
        for status in ("inactive", "active"):
            sent = time.perf_counter()
            s, body = a.req("PATCH", f"/api/v1/hub-keys/{args.hub_key_id}", admin, json.dumps({"status": status}))
            if s != 200:
                sys.exit(f"switching the hub key {status} on A: {s} {body[:200]!r}")
            if status == "inactive":
                took = until(b, guarded, key, lambda st: st == 403, sent)
                out.append(took)
            elif until(b, guarded, key, lambda st: st == 200) is None:
                sys.exit("B never accepted the hub key again")
    return out


def personal_trials(a, b, args):
    person = Browser(args.a, args.email, args.password)
    secrets = []
    for i in range(args.trials):
        page = person.post(
            "/account/keys",
            {"label": f"push {i:03}", "expires": "never", "permission": "data.read"},
            token_from="/account/keys",
        )
        secrets.append(re.search(r'id="new-secret" type="text" readonly value="([^"]*)"', page).group(1))
    ids = dict(
        (row.split("|")[1], int(row.split("|")[0]))
        for row in psql(args.db, "SELECT id || '|' || replace(label, ' ', '_') FROM personal_keys WHERE label LIKE 'push %'")
    )
    out = []
    token = re.search(r'name="csrf_token" value="([^"]*)"', person.get("/account/keys")).group(1)
    for i, secret in enumerate(secrets):
        auth = {"Authorization": f"Bearer {secret}"}
        if until(b, "/api/v1/me", auth, lambda st: st == 200) is None:
            sys.exit("B never accepted a new personal key")
        data = urllib.parse.urlencode({"csrf_token": token, "confirmed": "yes"}).encode()
        sent = time.perf_counter()
        person.o.open(f"{args.a}/account/keys/{ids[f'push_{i:03}']}/revoke", data=data).read()
        out.append(until(b, "/api/v1/me", auth, lambda st: st == 401, sent))
    return out


def report(name, took):
    missed = sum(t is None for t in took)
    ms = sorted(t[0] * 1000 for t in took if t is not None)
    whole = sorted(t[1] * 1000 for t in took if t is not None)
    if not ms:
        print(f"{name:<10} no trial was enforced on B within {GIVE_UP_S:.0f} s")
        return False
    med, worst = statistics.median(ms), ms[-1]
    ok = missed == 0 and med <= MEDIAN_TARGET_MS and worst <= MAX_TARGET_MS
    print(
        f"{name:<10} {len(ms):>4} trials  median {med:7.1f} ms  p90 {ms[int(len(ms) * 0.9) - 1]:7.1f} ms  "
        f"max {worst:7.1f} ms  not enforced {missed}  (target: median ≤ {MEDIAN_TARGET_MS:.0f} ms, "
        f"max ≤ {MAX_TARGET_MS:.0f} ms) {'ok' if ok else 'MISSED'}"
    )
    print(
        f"{'':<10} from sending the change to A: median {statistics.median(whole):7.1f} ms  "
        f"max {whole[-1]:7.1f} ms (A's own answer included)"
    )
    return ok


def main():
    p = argparse.ArgumentParser()
    for flag in ("a", "b", "db", "workspace", "hub-key", "personal-key", "email", "password"):
        p.add_argument(f"--{flag}", required=True)
    p.add_argument("--hub-key-id", type=int, required=True)
    p.add_argument("--trials", type=int, default=100)
    args = p.parse_args()
    a, b = Conn(args.a), Conn(args.b)
    ok = report("hub key", hub_trials(a, b, args))
    ok = report("personal", personal_trials(a, b, args)) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
