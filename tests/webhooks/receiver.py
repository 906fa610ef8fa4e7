"""A webhook receiver for keyhub's tests: verifies every delivery with the
Standard Webhooks reference library for Python (`standardwebhooks` from
PyPI), as a customer's endpoint would, and appends what it got to a JSON
Lines file.

    python receiver.py PORT SECRET OUT_FILE [FAIL_FIRST]

Answers 204 to a verified delivery and 400 to one whose signature does not
verify; the first FAIL_FIRST requests get 500 (to exercise retries).
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

port, secret, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
fail_first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
hook = Webhook(secret)
seen = {"n": 0}


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        seen["n"] += 1
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            payload = hook.verify(body, headers)
            verified, error = True, None
        except Exception as e:  # the library raises WebhookVerificationError
            payload, verified, error = None, False, str(e)
        status = 500 if seen["n"] <= fail_first else (204 if verified else 400)
        with open(out, "a") as f:
            f.write(json.dumps({
                "id": headers.get("webhook-id"), "verified": verified, "error": error, "answered": status,
                "type": payload.get("type") if payload else None, "payload": payload,
            }) + "\n")
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
print(f"receiver listening on {port}", file=sys.stderr, flush=True)
server.serve_forever()
