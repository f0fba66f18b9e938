#!/usr/bin/env python3
"""Vendor simulator benchmark: `moonport sim` under wrk, with nginx as the reference.

    python3 scripts/bench/sim.py [--bin PATH] [--scratch .build-sim-release]
                                 [--duration 10] [--threads 2] [--connections 64]
                                 [--download-mb 1024] [--skip-download] [--json-out FILE]

1. Installs wrk, nginx (nginx-light) and curl with apt-get when missing.
2. Builds moonport in release mode (swift build -c release --scratch-path
   SCRATCH --product moonport) unless --bin is given.
3. Starts nginx with its own temporary configuration (a non-daemon child,
   127.0.0.1 on a free port, worker_processes 2, access_log off, keepalive)
   serving a ~100-byte JSON file: the reference for a cheap GET.
4. Starts `moonport sim --port P` (no faults; allowances unthrottled).
5. Runs `wrk -t THREADS -c CONNECTIONS -d DURATION` against nginx, then against
   cheap authenticated simulator GETs (the credential sent with -H, as a client
   would): mediarithmics' document imports, Claravine's datasets (two auth
   headers), Clari's /v4/admin/limits and Quantive's sessions. Any non-2xx
   answer or socket error fails the run.
6. Download (unless --skip-download): a Clari export of `sim-bytes-N`
   (N = --download-mb MiB) fetched with curl into /dev/null: MB/s of the
   streamed, generated result.
7. Prints a table: endpoint, req/s, ratio to nginx; and whether the simulator
   reaches the goal of 5,000 req/s on every endpoint. --json-out FILE also
   writes them as JSON (read by scripts/bench/all.py).

The machine's cores are shared by wrk, the server and anything else running:
read the figures with the load average printed above the table.
Standard library only.
"""

import os
import sys

# scripts/bench holds json.py and http.py: keep this folder off the import
# path so that the standard library's json and http are found.
_here = os.path.dirname(os.path.abspath(__file__))
import common  # noqa: E402  (this folder's, imported before the folder leaves the path)
import nginx_ref  # noqa: E402  (likewise)
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402


REPO = common.REPO
GOAL = 5000
MB = 1_000_000
MIB = 1_048_576
SMALL = (b'{"id":1234567,"name":"moonport bench","status":"active","tags":["a","b","c"],'
         b'"amount":1234.5,"ok":true}\n')

CREDS = {
    "clari": ("apikey", "sandbox-clari-api-key"),
    "mediarithmics": ("Authorization", "sandbox-mediarithmics-api-token"),
    "quantive": [("Authorization", "Bearer sandbox-quantive-api-token"), ("gtmhub-accountId", "sandbox-quantive-account")],
    "claravine": [("X-Api-Key", "sandbox-claravine-api-key"), ("X-Api-Secret", "sandbox-claravine-api-secret")],
}


free_port = nginx_ref.free_port
wait_listening = nginx_ref.wait_listening


def start_nginx(prefix):
    root = os.path.join(prefix, "www")
    os.makedirs(root)
    with open(os.path.join(root, "small.json"), "wb") as f:
        f.write(SMALL)
    port = free_port()
    proc = nginx_ref.start(prefix, nginx_ref.write_config(prefix, root, port), port)
    return proc, port


def start_sim(binary):
    port = free_port()
    env = dict(os.environ)
    env.pop("MOONPORT_SIM_SPEED", None)
    proc = subprocess.Popen([binary, "sim", "--port", str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_listening(port, proc, "moonport sim")
    return proc, port


def headers_for(vendor):
    c = CREDS.get(vendor)
    if c is None:
        return []
    return c if isinstance(c, list) else [c]


def check_once(url, headers):
    req = urllib.request.Request(url, headers=dict(headers))
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 200:
            sys.exit("%s answered %d" % (url, r.status))
        return len(r.read())


def wrk(url, headers, args):
    cmd = ["wrk", "-t%d" % args.threads, "-c%d" % args.connections, "-d%ds" % args.duration, "--latency"]
    for k, v in headers:
        cmd += ["-H", "%s: %s" % (k, v)]
    cmd.append(url)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps:
        sys.exit("no Requests/sec in wrk output:\n" + out)
    if "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        sys.exit("errors during the wrk run against %s:\n%s" % (url, out))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    return float(rps.group(1)), p99.group(1) if p99 else "?"


def download(sim_port, size):
    base = "http://127.0.0.1:%d/clari" % sim_port
    h = dict(headers_for("clari"), **{"Content-Type": "application/json"})
    req = urllib.request.Request(base + "/v4/export/forecast/sim-bytes-%d" % size, method="POST", headers=h,
                                 data=json.dumps({"timePeriod": "2024_Q1", "exportFormat": "CSV"}).encode())
    with urllib.request.urlopen(req, timeout=10) as r:
        job = json.load(r)["jobId"]
    deadline = time.time() + 30
    while time.time() < deadline:
        with urllib.request.urlopen(urllib.request.Request(base + "/v4/export/jobs/" + job, headers=h), timeout=10) as r:
            answer = json.load(r)
            # Clari's job is flat ({jobId, status, ...}); the simulator's
            # clari.job=wrapped reading answers {"job": {...}}.
            if answer.get("job", answer).get("status") == "DONE":
                break
        time.sleep(0.25)
    cmd = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
           "-H", "apikey: sandbox-clari-api-key", base + "/v4/export/jobs/%s/results" % job]
    got, seconds = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    return int(got), float(seconds)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", help="a built moonport (skips the build)")
    ap.add_argument("--scratch", default=".build-sim-release")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--download-mb", type=int, default=1024, help="MiB of the sim-bytes download")
    ap.add_argument("--skip-download", action="store_true")
    common.add_json_out_option(ap)
    args = ap.parse_args()

    common.ensure_commands(nginx_ref.TOOLS)
    binary = args.bin or common.build_moonport(args.scratch)
    prefix = tempfile.mkdtemp(prefix="moonport-bench-sim-")
    procs = []
    try:
        nginx, nginx_port = start_nginx(prefix)
        procs.append(nginx)
        sim, sim_port = start_sim(binary)
        procs.append(sim)
        sim_root = "http://127.0.0.1:%d" % sim_port
        targets = [
            ("nginx static small.json (reference)", "http://127.0.0.1:%d/small.json" % nginx_port, []),
            ("sim GET mediarithmics document_imports", sim_root + "/mediarithmics/v1/datamarts/1502/document_imports",
             headers_for("mediarithmics")),
            ("sim GET claravine datasets", sim_root + "/claravine/v1/datasets", headers_for("claravine")),
            ("sim GET clari /v4/admin/limits", sim_root + "/clari/v4/admin/limits", headers_for("clari")),
            ("sim GET quantive sessions", sim_root + "/quantive/results/api/v1/sessions", headers_for("quantive")),
        ]
        load_at_start = os.getloadavg()[0]
        rows = []
        for name, url, headers in targets:
            size = check_once(url, headers)
            print("wrk: %s (%d-byte body) ..." % (name, size), flush=True)
            rps, p99 = wrk(url, headers, args)
            rows.append((name, size, rps, p99))
        dl = None
        if not args.skip_download:
            print("download: sim-bytes-%d MiB with curl ..." % args.download_mb, flush=True)
            dl = download(sim_port, args.download_mb * MIB)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(prefix, ignore_errors=True)

    reference = rows[0][2]
    print()
    print("wrk -t%d -c%d -d%ds; %d cores shared by wrk and the servers; load average at start %.2f, now %.2f"
          % (args.threads, args.connections, args.duration, os.cpu_count(), load_at_start, os.getloadavg()[0]))
    header = ("endpoint", "body bytes", "req/s", "p99 latency", "vs nginx")
    table = [header] + [(n, str(s), "%.0f" % r, p, "%.2f" % (r / reference)) for n, s, r, p in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for k, row in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    if dl:
        got, seconds = dl
        print("\ndownload: %d bytes of a generated Clari export in %.2f s = %.0f MB/s (curl -o /dev/null)"
              % (got, seconds, got / seconds / MB))
    worst = min(r for _, _, r, _ in rows[1:])
    print("\ngoal: simulator >= %d req/s on every endpoint: %s (lowest %.0f)" % (GOAL, "met" if worst >= GOAL else "NOT met", worst))
    if args.json_out:
        ref_name = rows[0][0]
        out = {"bench": "sim", "script": "scripts/bench/sim.py", "argv": sys.argv[1:],
               "settings": {"threads": args.threads, "connections": args.connections, "duration_s": args.duration,
                            "download_mib": None if args.skip_download else args.download_mb},
               "rows": [{"endpoint": n, "body_bytes": sz, "req_s": r, "p99_latency": p} for n, sz, r, p in rows],
               "comparisons": [{"measure": "%s, wrk -t%d -c%d" % (n, args.threads, args.connections),
                                "unit": "req/s", "better": "higher", "moonport": r, "moonport_label": n,
                                "reference": reference, "reference_label": ref_name}
                               for n, _, r, _ in rows[1:]],
               "goals": [{"goal": "simulator >= %d req/s on every endpoint" % GOAL, "value": worst,
                          "met": worst >= GOAL}]}
        if dl:
            out["download"] = {"bytes": dl[0], "seconds": dl[1], "mb_s": dl[0] / dl[1] / MB}
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
    return 0 if worst >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
