#!/usr/bin/env python3
"""A scriptable HTTP/1.1 server for moonport's http tests (Python 3.11 stdlib only).

Listens on 127.0.0.1 (port 0 = ephemeral unless argv[1] names one), prints the
port on the first stdout line, serves until stdin closes or the process is
killed. Routes are chosen by the path; behaviour by the query:

  /__hits?path=P[&key=K]   {"path": P, "count": N}: how many requests P (with key K) got
  /json                    200 {"ok": true, "items": [1, 2, 3], "name": "moonport"}
  /echo                    200 JSON of what was received: method, path, query, headers, body
  /digest                  200 {method, size, crc32, content_type, content_length} of the body received
  /multipart               200 JSON of the multipart/form-data parts received (name, filename,
                           content_type, size, crc32, text when small), parsed by Python's email package
  /echo-auth               401 {"message": "Invalid authentication credentials: <Authorization>", "headers": {...}}:
                           a careless server quoting the credentials it got
  /status/503-then-200?key=K[&n=N][&status=S]  first N (default 1) hits answer S (503), then 200
  /status/N                status N with a JSON error body {"error": ..., "code": ...}
  /retry-after?secs=S&times=N[&status=429]     Retry-After: S the first N times, then 200
  /retry-after-date?secs=S&times=N             same, Retry-After as an HTTP-date
  /ratelimit?reset=S&times=N                   429 + X-RateLimit-Remaining: 0 + X-RateLimit-Reset: S
  /html                    200 text/html page
  /html-error              502 text/html page
  /truncate                Content-Length: 1000, 10 bytes, then closes
  /reset                   reads the request, then closes without an answer
  /slow?secs=S             sleeps S seconds, then 200 JSON
  /redirect?to=URL[&status=302]
  /loop                    302 to itself
  /gzip                    gzip-encoded JSON, Content-Encoding: gzip
  /invalid-json            200 application/json with a broken body

Every request except /__hits is counted under its path, and under
"path?key=K" when it has a key query parameter.
"""
import email.utils
import gzip
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

hits = {}
hits_lock = threading.Lock()


def count(key):
    with hits_lock:
        hits[key] = hits.get(key, 0) + 1
        return hits[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "moonport-test/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    # --- helpers
    def send(self, status, body=b"", ctype="application/json", headers=()):
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def handle_any(self):
        parts = urlsplit(self.path)
        path = parts.path
        q = {k: v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        one = lambda name, default=None: q.get(name, [default])[0]
        body = self.read_body()

        if path == "/__hits":
            key = one("path", "")
            if one("key") is not None:
                key += "?key=" + one("key")
            with hits_lock:
                n = hits.get(key, 0)
            return self.send(200, {"path": key, "count": n})

        n_path = count(path)
        n = n_path
        if one("key") is not None:
            n = count(path + "?key=" + one("key"))

        if path == "/json":
            return self.send(200, {"ok": True, "items": [1, 2, 3], "name": "moonport"})
        if path == "/echo":
            headers = {}
            for k, v in self.headers.items():
                k = k.lower()
                headers[k] = headers[k] + ", " + v if k in headers else v
            return self.send(200, {"method": self.command, "path": path, "query": q, "headers": headers,
                                   "body": body.decode("utf-8", "replace")})
        if path == "/digest":
            import zlib
            return self.send(200, {"method": self.command, "size": len(body), "crc32": zlib.crc32(body),
                                   "content_type": self.headers.get("Content-Type"),
                                   "content_length": int(self.headers.get("Content-Length") or -1)})
        if path == "/multipart":
            # Parsed by the stdlib's MIME parser, not by the code under test.
            import zlib
            from email.parser import BytesParser
            from email.policy import HTTP
            ctype = self.headers.get("Content-Type", "")
            msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            parts = []
            for part in msg.iter_parts():
                data = part.get_payload(decode=True) or b""
                parts.append({"name": part.get_param("name", header="content-disposition"),
                              "filename": part.get_filename(), "content_type": part.get("Content-Type"),
                              "size": len(data), "crc32": zlib.crc32(data),
                              "text": data.decode("utf-8", "replace") if len(data) <= 1024 else None})
            return self.send(200, {"multipart": msg.is_multipart(), "content_type": ctype,
                                   "content_length": int(self.headers.get("Content-Length") or -1),
                                   "received": len(body), "parts": parts})
        if path == "/echo-auth":
            headers = {k.lower(): v for k, v in self.headers.items()}
            return self.send(401, {"message": "Invalid authentication credentials: " + headers.get("authorization", "(none)"),
                                   "headers": headers})
        if path == "/status/503-then-200":
            if n <= int(one("n", "1")):
                return self.send(int(one("status", "503")), {"error": "not yet", "hit": n})
            return self.send(200, {"ok": True, "hit": n})
        if path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            return self.send(status, {"error": "status %d as asked" % status, "code": "E%d" % status})
        if path in ("/retry-after", "/retry-after-date"):
            if n <= int(one("times", "1")):
                secs = float(one("secs", "1"))
                if path == "/retry-after":
                    value = one("secs", "1")
                else:
                    value = email.utils.formatdate(time.time() + secs, usegmt=True)
                return self.send(int(one("status", "429")), {"error": "slow down"}, headers=[("Retry-After", value)])
            return self.send(200, {"ok": True, "hit": n})
        if path == "/ratelimit":
            if n <= int(one("times", "1")):
                return self.send(429, {"error": "rate limited"}, headers=[
                    ("X-RateLimit-Limit", "10"), ("X-RateLimit-Remaining", "0"),
                    ("X-RateLimit-Reset", one("reset", "1"))])
            return self.send(200, {"ok": True, "hit": n})
        if path == "/html":
            return self.send(200, "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>\n",
                             ctype="text/html; charset=utf-8")
        if path == "/html-error":
            return self.send(502, "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
                             ctype="text/html")
        if path == "/truncate":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"partial"')
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if path == "/reset":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if path == "/slow":
            time.sleep(float(one("secs", "1")))
            return self.send(200, {"ok": True, "slow": True})
        if path == "/redirect":
            return self.send(int(one("status", "302")), "", ctype="text/plain", headers=[("Location", one("to", "/json"))])
        if path == "/loop":
            return self.send(302, "", ctype="text/plain", headers=[("Location", "/loop")])
        if path == "/gzip":
            raw = json.dumps({"compressed": True, "text": "moonport " * 50}).encode()
            return self.send(200, gzip.compress(raw), headers=[("Content-Encoding", "gzip")])
        if path in ("/download", "/download-drop", "/download-short", "/download-norange"):
            # size bytes of a repeating pattern. Range requests are served
            # (206) except on /download-norange. /download-drop cuts the
            # connection after `at` bytes the first time (per key);
            # /download-short always announces size and sends `at` bytes.
            size = int(one("size", "1000"))
            data_at = lambda a, b: bytes((i * 7 + 3) % 251 for i in range(a, b))
            start = 0
            rng = self.headers.get("Range")
            ranged = rng is not None and path != "/download-norange"
            if ranged:
                start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206 if ranged else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size - start))
            if path != "/download-norange":
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", '"v1"')
            if ranged:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
            self.end_headers()
            if self.command == "HEAD":
                return
            cut = None
            if path == "/download-short" or (path == "/download-drop" and n == 1):
                cut = int(one("at", str(size // 2)))
            end = size if cut is None else min(size, max(cut, start))
            pos = start
            while pos < end:
                chunk = min(65536, end - pos)
                self.wfile.write(data_at(pos, pos + chunk))
                pos += chunk
            if cut is not None:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if path == "/invalid-json":
            return self.send(200, '{"a": 1, "b": [1, 2,, 3]}')
        return self.send(404, {"error": "no route " + path, "code": "not_found"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = Server(("127.0.0.1", port), Handler)
    print(server.server_address[1], flush=True)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:
            pass
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
