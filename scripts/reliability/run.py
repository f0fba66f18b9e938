#!/usr/bin/env python3
"""The reliability suite, one command:

    python3 scripts/reliability/run.py [--bin PATH] [--runs 20] [--jobs 4] [--kills 20]
                                       [--only bad-input,vendors,soak,crash] [--progress]

Four parts, run one after the other, then one summary (counts and wall time
of each part); the exit status is 1 if any part failed. With the defaults it
took 3.3 minutes on the 2-core development machine with a release build
(soak 146 s with --jobs 4, crash 30 s, vendors 18 s, bad input 1 s); the
budget is 15 minutes. --progress prints a line per run / case as it ends.

  bad-input  scripts/reliability/bad_input.lua, run by moonport: about 100
             malformed inputs to json.decode / json.read (truncated, trailing
             garbage, invalid escapes, lone surrogates, invalid UTF-8,
             100,000 nested '[', huge exponents, NaN/Infinity, empty input, a
             byte order mark, an HTML page, 16 MB strings, ...), csv.read
             (unterminated quote, ragged rows, NUL bytes, invalid UTF-8, empty
             file, CRLF/LF/CR mix, a 16 MB field, random bytes, ...) and
             ndjson.read. Each must give the correct value or a
             kind = "validation" error whose message locates the problem
             (byte offset / line), never a crash or a hang (the process is
             watched: a case that crashes it or runs past 120 s fails, and
             the remaining cases run in a new process).
  vendors    every vendor binding (clari.limits(), claravine.datasets(),
             quantive.sessions(), cordial.jobs(),
             mediarithmics.document_imports("1502")) against a small Python
             HTTP server on 127.0.0.1 (real sockets; one per case) answering
             with bad bodies: an HTML 502 page, an HTML page with 200, cut-off
             JSON, a body shorter than its Content-Length, empty bodies, JSON
             of an unexpected shape, the vendor's own error bodies
             (vendors.md), 401, 401 echoing the credential, 403, 404, 429
             with Retry-After (then 200; always; asking for an hour), a server
             that never answers, a closed port. One moonport process per
             case (scripts/reliability/vendor_errors.lua, with -v and
             --trace), dummy credentials in the vendor's environment
             variables. The raised error must have the right kind, status,
             vendor (and code, for the vendor's error bodies) and a message
             that says what happened (the request, the status, the variable
             to check for auth, the vendor's own message, HTML / not JSON /
             byte offset, ...); no dummy credential may appear in the
             message, stdout, stderr (-v logs every exchange) or the trace.
             The bindings' read calls take no retry option: the default
             policy (4 attempts, backoff 0.5 s doubling, jittered) keeps each
             5xx case to a few seconds; cases run --vendor-jobs at a time.
  soak       `moonport soak` on every example workflow (WORKFLOWS in
             reliability.py), --runs seeds each, under --faults "500:0.1,
             429:0.05,reset:0.02,lost:0.02,truncate:0.01": each faulted run
             must print the same output and write the same files as the
             fault-free reference run, and the simulator must count zero
             duplicates. --jobs workflows are soaked at once, each run with
             its own simulator.
  crash      `moonport soak --kill`: scripts/reliability/crash-workload.lua
             killed with SIGKILL at --kills random moments mid-run and rerun
             on the same state database: the reference output, zero
             duplicates.

reliability.py soak|crash runs those two parts alone. Standard library only.
"""
import argparse
import base64
import concurrent.futures
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reliability  # noqa: E402  (this folder's: the soak and the crash test)

ROOT = reliability.ROOT
BAD_INPUT = os.path.join(HERE, "bad_input.lua")
VENDOR_ERRORS = os.path.join(HERE, "vendor_errors.lua")
BAD_INPUT_TIMEOUT = 120  # seconds for the whole corpus in one process
VENDOR_CASE_TIMEOUT = 60  # seconds for one vendor case


# ---------------------------------------------------------------- bad input

def bad_input(opts):
    """Runs the corpus; a process that dies or hangs fails the case it was on, and
    the cases after it run in a new process. Returns (ok, summary)."""
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="bad-input-")
    try:
        listed = subprocess.run([opts.bin, "run", BAD_INPUT, work, "--list"], capture_output=True, text=True,
                                timeout=60, cwd=work)
        names = listed.stdout.split()
        if listed.returncode != 0 or not names:
            print("bad_input.lua --list failed (%s):\n%s" % (listed.returncode, listed.stderr), file=sys.stderr)
            return False, {"cases": 0, "ok": 0, "failed": ["(the corpus did not load)"], "wall": time.time() - t0}
        results = {}  # name -> (ok, line)
        todo = list(names)
        while todo:
            cmd = [opts.bin, "run", BAD_INPUT, work, "--only", ",".join(todo)]
            errfile = tempfile.TemporaryFile(mode="w+", errors="replace")  # a file: a chatty stderr never blocks
            p = subprocess.Popen(cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=errfile, text=True, errors="replace")
            fired = []

            def time_out(proc=p, fired=fired):
                fired.append(True)
                proc.kill()
            timer = threading.Timer(BAD_INPUT_TIMEOUT, time_out)
            timer.start()
            current = None
            try:
                for line in p.stdout:
                    line = line.rstrip("\n")
                    if line.startswith("START "):
                        current = line[6:]
                    elif line.startswith("ok   ") or line.startswith("FAIL "):
                        name = line[5:].split(":", 1)[0]
                        results[name] = (line.startswith("ok"), line)
                        current = None
                        if opts.progress:
                            print("  " + line, flush=True)
                code = p.wait()
                errfile.seek(0)
                err = errfile.read()
            finally:
                timer.cancel()
                errfile.close()
            todo = [n for n in todo if n not in results]
            if current is not None:
                why = ("no end after %d s (a hang): killed" % BAD_INPUT_TIMEOUT if fired
                       else "the process died (%s)" % ("signal %d" % -code if code < 0 else "exit %d" % code))
                results[current] = (False, "FAIL %s: %s while on this case; stderr: %s"
                                    % (current, why, err.strip()[-1500:]))
                todo = [n for n in todo if n != current]
            elif todo:
                for n in todo:
                    results[n] = (False, "FAIL %s: never ran (exit %s); stderr: %s" % (n, code, err.strip()[-500:]))
                todo = []
            elif code != 0:
                results["(exit)"] = (False, "FAIL (exit): bad_input.lua exited %s: %s" % (code, err.strip()[-1500:]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [n for n, (ok, _) in results.items() if not ok]
    groups = {}
    for n in names:
        g = n.split("/", 1)[0]
        groups[g] = groups.get(g, 0) + 1
    print("\nbad-input corpus: %d cases (%s), %d ok" % (
        len(names), ", ".join("%s %d" % kv for kv in groups.items()), len(names) - len(failed)))
    for n in failed:
        print("  " + results[n][1])
    return not failed, {"cases": len(names), "ok": len(names) - len([f for f in failed if f in names]),
                        "failed": failed, "groups": groups, "wall": time.time() - t0}


# ---------------------------------------------------------------- vendors: the server

class Reply:
    """One answer. body: sent as it is when a str or bytes, JSON-encoded otherwise.
    mode: "normal"; "cut" (Content-Length says more than is sent, then the
    connection closes); "hang" (never answers; the connection stays open)."""

    def __init__(self, status=200, body=b"", headers=None, content_type="application/json", mode="normal"):
        if isinstance(body, (dict, list, int, float)) or body is None:
            body = json.dumps(body)
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = dict(headers or {})
        if content_type:
            self.headers.setdefault("Content-Type", content_type)
        self.mode = mode


class CaseServer:
    """A ThreadingHTTPServer on 127.0.0.1:<free port> giving `replies` in order (the
    last one again for any further request) and recording each request."""

    def __init__(self, replies):
        self.replies = replies
        self.requests = []  # (monotonic time, method, path, headers)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with outer.lock:
                    n = len(outer.requests)
                    outer.requests.append((time.monotonic(), self.command, self.path, dict(self.headers.items())))
                reply = outer.replies[min(n, len(outer.replies) - 1)]
                if reply.mode == "hang":
                    outer.stopping.wait(VENDOR_CASE_TIMEOUT)
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.mode == "cut":
                    self.send_header("Content-Length", str(len(reply.body) * 4 + 100))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port():
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- vendors: the cases

def dummy(name):
    return "dummy-%s-%s" % (name, os.urandom(6).hex())


SECRETS = {
    "CLARI_API_KEY": dummy("clari-key"), "CLARI_PARTNER_KEY": dummy("clari-partner"),
    "CLARAVINE_API_KEY": dummy("claravine-key"), "CLARAVINE_API_SECRET": dummy("claravine-secret"),
    "QUANTIVE_API_TOKEN": dummy("quantive-token"),
    "CORDIAL_API_KEY": dummy("cordial-key"),
    "MEDIARITHMICS_API_TOKEN": dummy("mics-token"),
}
# Not a secret (an account id is sent as a plain header), but set like the others.
PLAIN = {"QUANTIVE_ACCOUNT_ID": "quantive-account-1234"}

HTML_502 = ("<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
            "<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n")
HTML_200 = ("<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action=\"/login\">"
            "<input name=\"user\"><input type=\"password\" name=\"password\"></form></body></html>")


def sent_auth(vendor, headers):
    """Whether a request carried the vendor's dummy credential the way vendors.md says."""
    h = {k.lower(): v for k, v in headers.items()}
    if vendor == "clari":
        return h.get("apikey") == SECRETS["CLARI_API_KEY"]
    if vendor == "claravine":
        return h.get("x-api-key") == SECRETS["CLARAVINE_API_KEY"] and h.get("x-api-secret") == SECRETS["CLARAVINE_API_SECRET"]
    if vendor == "quantive":
        return (h.get("authorization") == "Bearer " + SECRETS["QUANTIVE_API_TOKEN"]
                and h.get("gtmhub-accountid") == PLAIN["QUANTIVE_ACCOUNT_ID"])
    if vendor == "cordial":
        return h.get("authorization") == "Basic " + base64.b64encode((SECRETS["CORDIAL_API_KEY"] + ":").encode()).decode()
    if vendor == "mediarithmics":
        return h.get("authorization") == SECRETS["MEDIARITHMICS_API_TOKEN"]
    return False


# Per vendor: the call's path, the base URL suffix, a good answer, the
# variable a person must check on 401/403, the 401 body (vendors.md), one that
# echoes the credential, and the vendor's own error bodies:
# (case name, status, body, expected code, words the message must show).
VENDORS = {
    "clari": {
        "path": "/v4/admin/limits", "suffix": "", "env": "CLARI_BASE_URL", "auth_var": "CLARI_API_KEY",
        "ok": {"jobs": {"concurrentLimit": 5, "monthlyQuota": 100, "runningJobIds": [], "submittedJobIds": ["j-1"],
                        "availableConcurrentLimit": 5, "availableMonthlyQuota": 99}},
        "e401": {"message": "Invalid authentication credentials"}, "e401_words": ["Invalid authentication credentials"],
        "echo": lambda: {"message": "Invalid API key '%s'" % SECRETS["CLARI_API_KEY"]},
        "errors": [
            ("export-error-400", 400, {"code": "invalid_time_period", "namespace": "exports", "errorId": "err-7f3a",
                                       "message": "The time period 2024_Q5 is not valid.", "orgId": "org-42"},
             "invalid_time_period", ["The time period 2024_Q5 is not valid."]),
            ("export-quota-400", 400, {"code": "export_monthly_quota_reached", "namespace": "exports",
                                       "message": "The monthly quota limit of 100 or concurrent limit of 5 has been reached."},
             "export_monthly_quota_reached", ["monthly quota limit of 100"]),
            ("audit-error-400", 400, {"errors": [{"code": "INVALID_FILTER", "message": "dateFrom must be before dateTo",
                                                  "target": "dateFrom", "status": 400, "details": []}]},
             "INVALID_FILTER", ["dateFrom must be before dateTo"]),
            ("ingestion-error-400", 400, [{"errorCode": "INVALID_RECORD", "errorSummary": "updatedAt must be >= createdAt"},
                                          {"errorCode": "INVALID_RECORD", "errorSummary": "id is required"}],
             "INVALID_RECORD", ["updatedAt must be >= createdAt", "id is required"]),
            ("export-error-500", 500, {"code": "internal_error", "namespace": "exports", "errorId": "err-500",
                                       "message": "Something went wrong on our side"},
             "internal_error", ["Something went wrong on our side"]),
        ],
    },
    "claravine": {
        "path": "/v1/datasets", "suffix": "", "env": "CLARAVINE_BASE_URL", "auth_var": "CLARAVINE_API_KEY",
        "ok": [{"uuid": "ds-forecasts", "name": "Forecasts"}],
        "e401": {"message": "Invalid API key or secret"}, "e401_words": ["Invalid API key or secret"],
        "echo": lambda: {"message": "key %s with secret %s rejected" % (SECRETS["CLARAVINE_API_KEY"],
                                                                         SECRETS["CLARAVINE_API_SECRET"])},
        "errors": [
            ("error-code-400", 400, {"code": "invalid_dataset", "message": "Dataset ds-x does not exist"},
             "invalid_dataset", ["Dataset ds-x does not exist"]),
            ("error-detail-400", 400, {"error": "bad_request", "detail": "start-date must be YYYY-MM-DD"},
             "bad_request", ["start-date must be YYYY-MM-DD"]),
            ("error-500", 500, {"code": "internal", "message": "Internal error, try later"},
             "internal", ["Internal error, try later"]),
        ],
    },
    "quantive": {
        "path": "/results/api/v1/sessions", "suffix": "/results/api", "env": "QUANTIVE_BASE_URL",
        "auth_var": "QUANTIVE_API_TOKEN",
        "ok": {"items": [{"id": "s-1", "title": "Q1 2024"}], "totalCount": 1},
        "e401": {"message": "Unauthorized: invalid token"}, "e401_words": ["Unauthorized: invalid token"],
        "echo": lambda: {"message": "token %s rejected" % SECRETS["QUANTIVE_API_TOKEN"]},
        "errors": [
            ("message-400", 400, {"message": "filter is not valid JSON"}, None, ["filter is not valid JSON"]),
            ("payment-402", 402, {"message": "Your plan does not include API access"}, None,
             ["Your plan does not include API access"]),
            ("nested-message-403", 403, {"error": {"message": "The token lacks the sessions:read scope"}}, None,
             ["The token lacks the sessions:read scope"]),
            ("message-500", 500, {"message": "Internal server error"}, None, ["Internal server error"]),
        ],
    },
    "cordial": {
        "path": "/v2/jobs", "suffix": "", "env": "CORDIAL_BASE_URL", "auth_var": "CORDIAL_API_KEY",
        "ok": [{"_id": "job-1", "jobName": "trends-2024-01", "status": "Done", "totalItems": 10, "completedItems": 10}],
        "e401": {"error": True, "errorKey": "UNAUTHORIZED", "message": "Invalid API key"}, "e401_words": ["Invalid API key"],
        "echo": lambda: {"error": True, "errorKey": "UNAUTHORIZED", "message": "API key %s is invalid" % SECRETS["CORDIAL_API_KEY"]},
        "errors": [
            ("validation-error-400", 400, {"error": True, "errorKey": "VALIDATION_ERROR", "message": "per_page must be <= 1000"},
             "VALIDATION_ERROR", ["per_page must be <= 1000"]),
            ("invalid-json-400", 400, {"error": True, "errorKey": "INVALID_JSON_PROVIDED", "message": "Invalid JSON provided"},
             "INVALID_JSON_PROVIDED", ["Invalid JSON provided"]),
            ("record-not-found-404", 404, {"error": True, "errorKey": "RECORD_NOT_FOUND", "message": "Job not found"},
             "RECORD_NOT_FOUND", ["Job not found"]),
            ("storage-error-500", 500, {"error": True, "errorKey": "STORAGE_CONNECTION_ERROR",
                                        "message": "Could not connect to the storage"},
             "STORAGE_CONNECTION_ERROR", ["Could not connect to the storage"]),
        ],
    },
    "mediarithmics": {
        "path": "/v1/datamarts/1502/document_imports", "suffix": "", "env": "MEDIARITHMICS_BASE_URL",
        "auth_var": "MEDIARITHMICS_API_TOKEN",
        "ok": {"status": "ok", "data": [{"id": "77", "datamart_id": "1502", "name": "Store visits",
                                         "document_type": "USER_ACTIVITY", "mime_type": "APPLICATION_X_NDJSON",
                                         "encoding": "utf-8"}], "count": 1, "total": 1, "first_result": 0,
               "max_results": 100},
        "e401": {"status": "error", "error": "Authentication failed", "error_code": "UNAUTHORIZED", "error_id": "u-1"},
        "e401_words": ["Authentication failed"],
        "echo": lambda: {"status": "error", "error": "token %s is not valid" % SECRETS["MEDIARITHMICS_API_TOKEN"],
                         "error_code": "UNAUTHORIZED", "error_id": "u-2"},
        "errors": [
            ("error-400", 400, {"status": "error", "error": "Invalid datamart id", "error_code": "BAD_REQUEST",
                                "error_id": "a1b2c3"}, "BAD_REQUEST", ["Invalid datamart id", "a1b2c3"]),
            ("error-404", 404, {"status": "error", "error": "Datamart not found", "error_code": "NOT_FOUND",
                                "error_id": "n-404"}, "NOT_FOUND", ["Datamart not found"]),
            ("error-500", 500, {"status": "error", "error": "Internal error", "error_code": "INTERNAL",
                                "error_id": "i-500"}, "INTERNAL", ["Internal error", "i-500"]),
        ],
    },
}


class Case:
    def __init__(self, vendor, name, replies, expect, timeout=None, refused=False):
        self.vendor, self.name, self.replies, self.expect = vendor, name, replies, expect
        self.timeout, self.refused = timeout, refused


# A vendor request is tried this many times (V.retry_attempts in stdlib/moonport.vendor.lua).
ATTEMPTS = 6


def http_error(kind, status, words=(), code=None, requests=None, retryable=None):
    """The call must raise kind/status (and code), its message naming the request,
    the status and `words`; `requests`: how many requests the server must have seen."""
    return {"error": {"kind": kind, "status": status, "code": code, "words": list(words), "request": True,
                      "retryable": retryable}, "requests": requests}


def cases_for(vendor):
    v = VENDORS[vendor]
    auth_words = [v["auth_var"]]
    wrong_shape = {"error": {"kind": "validation", "words": ["expected"]}, "requests": 1}
    out = [
        Case(vendor, "good-answer", [Reply(200, v["ok"])], {"value": True, "requests": 1}),
        Case(vendor, "html-502-page", [Reply(502, HTML_502, content_type="text/html")],
             http_error("http", 502, ["502", "HTML"], requests=ATTEMPTS, retryable=True)),
        Case(vendor, "html-page-with-200", [Reply(200, HTML_200, content_type="text/html")],
             {"error": {"kind": "validation", "status": 200, "words": ["not JSON", "HTML", "byte 1"]}, "requests": 1}),
        Case(vendor, "cut-off-json-200", [Reply(200, json.dumps(v["ok"])[:-7])],
             {"error": {"kind": "validation", "status": 200, "words": ["not JSON", "end of input", "byte"]}, "requests": 1}),
        Case(vendor, "body-shorter-than-content-length", [Reply(200, json.dumps(v["ok"])[:12], mode="cut")],
             {"error": {"kind": "network", "words": [v["path"]]}, "requests": ATTEMPTS}),
        Case(vendor, "empty-body-200", [Reply(200, b"")],
             {"error": {"kind": "validation", "status": 200, "words": ["not JSON", "empty"]}, "requests": 1}),
        Case(vendor, "empty-body-500", [Reply(500, b"", content_type=None)],
             http_error("http", 500, ["500"], requests=ATTEMPTS, retryable=True)),
        Case(vendor, "unexpected-shape-object", [Reply(200, {"unexpected": {"shape": [1, 2]}})], {"either": True}),
        # JSON of the wrong type: a validation error saying what was expected, nothing half-done.
        Case(vendor, "unexpected-shape-number", [Reply(200, 42)], wrong_shape),
        Case(vendor, "unexpected-shape-null", [Reply(200, None)], wrong_shape),
        Case(vendor, "unexpected-shape-string", [Reply(200, json.dumps("ok"))], wrong_shape),
        Case(vendor, "unexpected-shape-list-of-numbers", [Reply(200, [1, 2, 3])], wrong_shape),
        Case(vendor, "status-401", [Reply(401, v["e401"])], http_error("auth", 401, auth_words + v["e401_words"], requests=1)),
        Case(vendor, "status-401-echoing-the-credential", [Reply(401, v["echo"]())],
             http_error("auth", 401, auth_words, requests=1)),
        Case(vendor, "status-403-html", [Reply(403, "<html><body><h1>403 Forbidden</h1></body></html>", content_type="text/html")],
             http_error("auth", 403, auth_words + ["HTML"], requests=1)),
        Case(vendor, "status-404-text", [Reply(404, "Not Found", content_type="text/plain")],
             http_error("http", 404, ["Not Found"], requests=1)),
        Case(vendor, "status-429-retry-after-1-then-200", [Reply(429, b"", {"Retry-After": "1"}), Reply(200, v["ok"])],
             {"value": True, "requests": 2, "gap": 0.9}),
        Case(vendor, "status-429-retry-after-1-always", [Reply(429, b"", {"Retry-After": "1"})],
             http_error("rate_limited", 429, ["429"], requests=ATTEMPTS, retryable=True)),
        Case(vendor, "status-429-retry-after-3600", [Reply(429, b"", {"Retry-After": "3600"})],
             http_error("rate_limited", 429, ["429", "3600"], requests=1, retryable=True)),
        Case(vendor, "never-answers", [Reply(mode="hang")],
             {"error": {"kind": "timeout", "words": ["no answer", v["path"]]}, "requests": ATTEMPTS}, timeout=1),
        Case(vendor, "connection-refused", [], {"error": {"kind": "network", "words": ["refused"]}}, refused=True),
    ]
    for name, status, body, code, words in v["errors"]:
        kind = "auth" if status in (401, 403) else "http"
        out.append(Case(vendor, "vendor-body-" + name, [Reply(status, body)],
                        http_error(kind, status, words + [str(status)] + (auth_words if kind == "auth" else []), code=code,
                                   requests=ATTEMPTS if status >= 500 else 1, retryable=status >= 500)))
    if vendor == "clari":
        out.append(Case(vendor, "vendor-body-ingestion-429-always",
                        [Reply(429, [{"errorCode": "TOO_MANY_REQUESTS", "errorSummary": "Too many requests"}],
                               {"Retry-After": "1"})],
                        # What Clari said about it reaches the message.
                        http_error("rate_limited", 429, ["429", "Too many requests"], requests=ATTEMPTS, retryable=True)))
    if vendor == "claravine":
        out.append(Case(vendor, "vendor-rate-limit-headers-429-then-200",
                        [Reply(429, {"message": "Rate limit exceeded"},
                               {"Retry-After": "1", "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"}),
                         Reply(200, v["ok"], {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59"})],
                        {"value": True, "requests": 2, "gap": 0.9}))
    if vendor == "cordial":
        out.append(Case(vendor, "vendor-rate-limit-headers-429-then-200",
                        [Reply(429, {"error": True, "errorKey": "RATE_LIMIT_EXCEEDED", "message": "Too many requests"},
                               {"Retry-After": "1", "X-Rate-Limit-Limit": "10", "X-Rate-Limit-Remaining": "0",
                                "X-Rate-Limit-Reset": "1"}),
                         Reply(200, v["ok"])],
                        {"value": True, "requests": 2, "gap": 0.9}))
    return out


SPEC_KINDS = {"http", "auth", "rate_limited", "timeout", "network", "job_failed", "validation", "usage"}


def judge(case, result, server):
    """Problems with a case's outcome (empty: it passed)."""
    problems = []
    exp = case.expect
    requests = server.requests if server else []
    v = VENDORS[case.vendor]
    if server and requests and not all(sent_auth(case.vendor, h) for _, _, _, h in requests):
        problems.append("a request did not carry the dummy credential as vendors.md says")
    if server and requests and not all(p.split("?")[0] == v["path"] for _, _, p, _ in requests):
        problems.append("requests went to %s, expected %s" % (sorted({p for _, _, p, _ in requests}), v["path"]))
    if exp.get("requests") is not None and len(requests) != exp["requests"]:
        problems.append("the server saw %d request(s), expected %d" % (len(requests), exp["requests"]))
    if exp.get("gap") and len(requests) >= 2 and requests[1][0] - requests[0][0] < exp["gap"]:
        problems.append("the retry came %.2f s after the 429, before its Retry-After" % (requests[1][0] - requests[0][0]))
    e = result.get("error")
    if exp.get("value"):
        if not result["ok"]:
            problems.append("raised instead of returning: %s" % (e or {}).get("tostring", "")[:300])
        elif result.get("value_type") != "table":
            problems.append("returned a %s" % result.get("value_type"))
        return problems
    if result["ok"]:
        if exp.get("either"):
            if result.get("value_type") != "table":
                problems.append("returned a %s, not a table" % result.get("value_type"))
            return problems
        problems.append("returned a value instead of raising: %s" % result.get("value", "")[:200])
        return problems
    # An error was raised: it must be a SPEC error object of this vendor, with a readable message.
    if e["type"] != "table":
        problems.append("raised a %s, not an error object: %s" % (e["type"], e["tostring"][:300]))
        return problems
    msg = e.get("message") or ""
    if e.get("kind") not in SPEC_KINDS:
        problems.append("kind %r is not one of SPEC.md's" % e.get("kind"))
    if e.get("vendor") != case.vendor:
        problems.append("vendor %r, expected %r" % (e.get("vendor"), case.vendor))
    if not msg:
        problems.append("no message")
    elif not (msg.startswith(case.vendor + ":") or msg.startswith(case.vendor + ".")):
        problems.append("the message does not start with the vendor's name: " + msg[:200])
    if len(msg) > 1000:
        problems.append("message of %d characters" % len(msg))
    if msg and msg not in e.get("tostring", ""):
        problems.append("tostring(error) does not show the message")
    if exp.get("either"):
        return problems
    want = exp["error"]
    if e.get("kind") != want["kind"]:
        problems.append("kind %r, expected %r: %s" % (e.get("kind"), want["kind"], msg[:300]))
    if want.get("status") is not None and e.get("status") != want["status"]:
        problems.append("status %r, expected %r" % (e.get("status"), want["status"]))
    if want.get("code") is not None and e.get("code") != want["code"]:
        problems.append("code %r, expected %r" % (e.get("code"), want["code"]))
    if want.get("retryable") is not None and bool(e.get("retryable")) != want["retryable"]:
        problems.append("retryable %r, expected %r" % (e.get("retryable"), want["retryable"]))
    words = list(want.get("words", []))
    if want.get("request"):
        words.append(v["path"][len(v["suffix"]):] if v["suffix"] else v["path"])
    for w in words:
        if w.lower() not in msg.lower():
            problems.append("the message does not say %r: %s" % (w, msg[:400]))
    return problems


def run_vendor_case(opts, case, work):
    """Runs one case in its own moonport process. Returns (case, problems, result, seconds)."""
    server = None if case.refused else CaseServer(case.replies)
    port = closed_port() if case.refused else server.port
    folder = tempfile.mkdtemp(prefix="vendor-case-", dir=work)
    trace = os.path.join(folder, "trace.ndjson")
    env = {k: val for k, val in os.environ.items()
           if not (k.endswith("_BASE_URL") or k.startswith("CLARI") or k.startswith("CLARAVINE")
                   or k.startswith("QUANTIVE") or k.startswith("CORDIAL") or k.startswith("MEDIARITHMICS")
                   or k in ("MOONPORT_SANDBOX", "MOONPORT_PROFILE", "MOONPORT_SIM_URL", "MOONPORT_SIM_S3_URL"))}
    env.update(SECRETS)
    env.update(PLAIN)
    env["HOME"] = folder  # no credentials profile of the machine's user
    v = VENDORS[case.vendor]
    env[v["env"]] = "http://127.0.0.1:%d%s" % (port, v["suffix"])
    cmd = [opts.bin, "run", "-v", "--trace", trace, "--state", os.path.join(folder, "state.sqlite"),
           VENDOR_ERRORS, case.vendor] + ([str(case.timeout)] if case.timeout else [])
    t0 = time.time()
    problems, result = [], None
    try:
        p = subprocess.run(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=VENDOR_CASE_TIMEOUT, errors="replace")
        line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if p.returncode != 0 or line is None:
            problems.append("moonport exited %d without a result (a crash?): %s" % (p.returncode, p.stderr.strip()[-1500:]))
        else:
            result = json.loads(line[7:])
            problems += judge(case, result, server)
        trace_text = ""
        if os.path.exists(trace):
            with open(trace, errors="replace") as f:
                trace_text = f.read()
        for var, secret in SECRETS.items():
            for where, text in (("the error message", json.dumps(result or {})), ("stdout", p.stdout),
                                ("stderr (-v)", p.stderr), ("the --trace file", trace_text)):
                if secret in text:
                    problems.append("the dummy %s shows in %s" % (var, where))
        if not trace_text.strip() and not case.refused:
            problems.append("--trace wrote nothing")
    except subprocess.TimeoutExpired:
        problems.append("no result after %d s: a hang" % VENDOR_CASE_TIMEOUT)
    finally:
        if server:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return case, problems, result, time.time() - t0


def outcome_text(result):
    """One line for a case's outcome: the value, or the error's kind, status, code and message."""
    if not result:
        return "no result"
    if result["ok"]:
        return "value " + result.get("value", "")[:120]
    e = result["error"]
    if e["type"] != "table":
        return "raised a %s: %s" % (e["type"], e["tostring"][:200])
    return "%s%s%s: %s" % (e.get("kind"), " %s" % e["status"] if e.get("status") else "",
                           " code=%s" % e["code"] if e.get("code") else "", (e.get("message") or "")[:400])


def vendors(opts):
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="vendor-errors-")
    cases = [c for vendor in VENDORS for c in cases_for(vendor)]
    outcomes = []
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.vendor_jobs)) as ex:
            futures = [ex.submit(run_vendor_case, opts, c, work) for c in cases]
            for fut in concurrent.futures.as_completed(futures):
                case, problems, result, secs = fut.result()
                outcomes.append((case, problems, result, secs))
                if opts.progress:
                    print("  %s %s/%s: %s (%.1f s)%s" % ("ok  " if not problems else "FAIL", case.vendor, case.name,
                                                         outcome_text(result), secs,
                                                         "".join("\n       - " + p for p in problems)), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nvendor error bodies: %d cases, %d vendors, one moonport process each (-v, --trace), %d at once\n"
          % (len(cases), len(VENDORS), opts.vendor_jobs))
    print("| vendor | call | cases ok | kinds raised |")
    print("|---|---|---|---|")
    for vendor in VENDORS:
        mine = [o for o in outcomes if o[0].vendor == vendor]
        kinds = {}
        for _, _, r, _ in mine:
            e = (r or {}).get("error") or {}
            k = "value" if r and r["ok"] else (e.get("kind") if e.get("type") == "table" else
                                                "no result" if r is None else "raised a " + e.get("type", "?"))
            kinds[k] = kinds.get(k, 0) + 1
        call = mine[0][2]["call"] if mine and mine[0][2] else vendor
        print("| %s | %s() | %d/%d | %s |" % (vendor, call, sum(1 for o in mine if not o[1]), len(mine),
                                              ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
    failed = [o for o in outcomes if o[1]]
    leaks = sum(1 for o in outcomes for p in o[1] if "dummy" in p and "shows in" in p)
    for case, problems, _, _ in sorted(failed, key=lambda o: (o[0].vendor, o[0].name)):
        print("FAIL %s/%s: %s" % (case.vendor, case.name, "; ".join(problems)))
    return not failed, {"cases": len(cases), "ok": len(cases) - len(failed), "leaks": leaks,
                        "failed": ["%s/%s" % (o[0].vendor, o[0].name) for o in failed], "wall": time.time() - t0}


# ---------------------------------------------------------------- main

PARTS = ["bad-input", "vendors", "soak", "crash"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    reliability.add_options(p)
    p.add_argument("--vendor-jobs", type=int, default=8, help="vendor cases run at once (default 8)")
    p.add_argument("--only", default=",".join(PARTS), help="comma-separated subset of " + ",".join(PARTS))
    opts = p.parse_args()
    opts.bin = os.path.abspath(opts.bin)
    wanted = opts.only.split(",")
    unknown = [w for w in wanted if w not in PARTS]
    if unknown:
        p.error("unknown part(s): " + ", ".join(unknown))
    if not os.access(opts.bin, os.X_OK):
        p.error("no moonport binary at %s (build it, or give --bin)" % opts.bin)

    t0 = time.time()
    print("reliability suite: %s; parts %s; %d cores, load average %.2f\n"
          % (opts.bin, ", ".join(w for w in PARTS if w in wanted), os.cpu_count(), os.getloadavg()[0]), flush=True)
    summary = []
    if "bad-input" in wanted:
        print("== bad-input corpus (json, csv, ndjson)", flush=True)
        ok, s = bad_input(opts)
        summary.append(("bad-input corpus", ok, "%d/%d cases ok (%s)" % (
            s["ok"], s["cases"], ", ".join("%s %d" % kv for kv in s.get("groups", {}).items())), s["wall"]))
    if "vendors" in wanted:
        print("\n== vendor error bodies", flush=True)
        ok, s = vendors(opts)
        summary.append(("vendor error bodies", ok, "%d/%d cases ok over %d vendors; credentials leaked: %d" % (
            s["ok"], s["cases"], len(VENDORS), s["leaks"]), s["wall"]))
    if "soak" in wanted:
        print("\n== fault soak", flush=True)
        status, s = reliability.soak(opts)
        kinds = ", ".join("%s %d" % kv for kv in sorted(s["faults_by_kind"].items()))
        summary.append(("fault soak", status == 0, "%d/%d runs ok (%d workflows x %d seeds); %d faults injected (%s); "
                        "%d duplicates" % (s["ok"], s["runs"], len(reliability.WORKFLOWS), opts.runs, s["faults"],
                                           kinds, s["duplicates"]), s["wall"]))
    if "crash" in wanted:
        print("\n== crash and rerun", flush=True)
        status, s = reliability.crash(opts)
        summary.append(("crash and rerun", status == 0, "%d kills mid-run; %d/%d runs finished with the reference "
                        "output; %d duplicates" % (s["kills"], s["ok"], s["runs"], s["duplicates"]), s["wall"]))
    total = time.time() - t0
    print("\n# reliability summary\n")
    print("| part | result | counts | wall time |")
    print("|---|---|---|---|")
    for name, ok, counts, wall in summary:
        print("| %s | %s | %s | %.0f s |" % (name, "pass" if ok else "FAIL", counts, wall))
    failed = [name for name, ok, _, _ in summary if not ok]
    print("\ntotal wall time %.0f s (%.1f min); %s" % (total, total / 60, "FAILED: " + ", ".join(failed) if failed
                                                         else "every part passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
