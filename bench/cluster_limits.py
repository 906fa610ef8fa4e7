"""Budgets shared by the nodes of a cluster (issue 25, part 2).

Called by bench/cluster.sh with running nodes on one database. Three checks,
each a burst of calls spread round-robin over the nodes from 6 threads:

- rate limit: a hub key limited to LIMIT calls per window, CALLS calls;
- monthly quota: a hub key with a quota of LIMIT calls, CALLS calls;
- refused keys: REFUSALS_PER_MINUTE × nodes made-up keys from one client
  (a loopback address of its own) to nodes whose refused-key budget is
  REFUSALS_PER_MINUTE a minute.

Targets: a limit or quota accepts LIMIT ± 10 % (at most the issue's bound;
at least, so that budget leased by one node and unused there does not starve
the others); the refused-key budget answers between the budget and the budget
plus what each other node takes unasked (budget / 32 each) with the refusal,
and 429 after. Standard library only; exits 1 when a target is missed.
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse

LIMIT = 100
THREADS = 6


def conn(base, source=None):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30,
                                      source_address=(source, 0) if source else None)


def burst(nodes, path, key, calls, source=None):
    """Sends `calls` calls spread over `nodes`: counts by status, and seconds."""
    counts = {}
    lock = threading.Lock()

    def worker(k):
        conns = [conn(n, source) for n in nodes]
        for i in range(k, calls, THREADS):
            c = conns[i % len(nodes)]
            c.request("GET", path, headers={"X-API-Key": key})
            res = c.getresponse()
            res.read()
            with lock:
                counts[res.status] = counts.get(res.status, 0) + 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts, time.perf_counter() - start


class Admin:
    def __init__(self, node, key):
        self.c = conn(node)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        self.c.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
        r = self.c.getresponse()
        return r.status, json.loads(r.read() or b"null")

    def hub_key(self, body, nodes):
        """A new hub key, once every live node has applied it (its sync status)."""
        status, made = self.call("POST", "/api/v1/hub-keys", body)
        if status != 201:
            sys.exit(f"creating a hub key: {status} {made}")
        deadline = time.perf_counter() + 30
        while True:
            _, shown = self.call("GET", f"/api/v1/hub-keys/{made['id']}")
            if shown["sync_status"]["state"] == "synced" and shown["sync_status"]["nodes"] >= nodes:
                return made["secret"]
            if time.perf_counter() > deadline:
                sys.exit(f"the new key did not reach every node: {shown['sync_status']}")


def verdict(ok):
    return "ok" if ok else "MISSED"


def limits(args, nodes, admin):
    """The rate limit and the monthly quota; True when both hold."""
    _, endpoints = admin.call("GET", "/api/v1/endpoints")
    guarded = next(e["id"] for e in endpoints if e["path"] == "guarded")
    # A window that does not end during the run (windows align on the clock).
    now = int(time.time())
    window = next(w for w in range(86_400, 86_390, -1) if w - now % w > 600)
    held = True
    for what, extra in [("limit", {"rate_limit": {"requests": LIMIT, "window_seconds": window}}),
                        ("quota", {"monthly_quota": LIMIT})]:
        body = {"name": f"{what} {now}", "access_type": "api_key", "endpoint_ids": [guarded], **extra}
        secret = admin.hub_key(body, len(nodes))
        counts, took = burst(nodes, f"/hub/{args.workspace}/guarded?limit=1", secret, args.calls)
        ok, limited = counts.pop(200, 0), counts.pop(429, 0)
        good = LIMIT * 0.9 <= ok <= LIMIT * 1.1 and not counts
        held &= good
        print(f"shared {what:5} {ok} of {args.calls} calls accepted over {len(nodes)} nodes for a {what} of {LIMIT} "
              f"({limited} refused 429, {sum(counts.values())} other, {took:.1f} s)  "
              f"(target: {int(LIMIT * 0.9)}–{int(LIMIT * 1.1)}) {verdict(good)}")
    return held


def refusals(args):
    """The refused-key budget; True when it holds."""
    nodes = args.refusal_nodes.split(",")
    budget = args.refusals_per_minute
    most = budget + (len(nodes) - 1) * max(1, budget // 32)
    calls = budget * len(nodes)
    # Budgets count clock minutes: a burst that crossed a minute's end is
    # sent again from a fresh client address.
    for client in range(20, 24):
        minute = int(time.time()) // 60
        counts, took = burst(nodes, f"/hub/{args.workspace}/guarded?limit=1", "not a key", calls, f"127.0.0.{client}")
        if int(time.time()) // 60 == minute:
            break
    refused, limited = counts.pop(401, 0), counts.pop(429, 0)
    good = budget <= refused <= most and not counts
    print(f"shared refusals {refused} of {calls} made-up keys answered 401 over {len(nodes)} nodes for a budget of "
          f"{budget} a minute, then 429 ({limited}; {sum(counts.values())} other, {took:.1f} s)  "
          f"(target: {budget}–{most}; counted per node it would be {calls}) {verdict(good)}")
    return good


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", required=True, help="comma-separated base URLs")
    p.add_argument("--refusal-nodes", required=True, help="nodes whose refused-key budget is --refusals-per-minute")
    p.add_argument("--refusals-per-minute", type=int, default=120)
    p.add_argument("--workspace", required=True)
    p.add_argument("--personal-key", required=True)
    p.add_argument("--calls", type=int, default=3000)
    args = p.parse_args()
    nodes = args.nodes.split(",")
    held = limits(args, nodes, Admin(nodes[0], args.personal_key))
    held &= refusals(args)
    sys.exit(0 if held else 1)


if __name__ == "__main__":
    main()
