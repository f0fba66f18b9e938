#!/usr/bin/env python3
"""Claravine bulk submission: 1,000,000 rows in 1,000 parts, moonport vs Python requests.

    python3 scripts/bench/claravine.py [--bin PATH] [--scratch .build-bench-release]
                                       [--rows 1000000] [--concurrency 16] [--json-out FILE]

1. Builds moonport in release mode unless --bin is given; installs
   python3-requests with apt-get (or pip) when it is missing.
2. Writes a deterministic CSV of --rows rows (bench-out/claravine-ROWS.csv,
   six columns of ds-campaigns, about 60 bytes a row), reused when present.
3. For each contender, starts a fresh standalone `moonport sim --speed 20`
   (a transaction is Pending for 0.1 s) and runs, in its own process:
   - moonport, task.map:  scripts/bench/claravine_bench.lua map: task.map over
     the 1,000 parts with {concurrency = C}; each task builds its rows and
     calls claravine.submit; then claravine.poll over all the Jobs;
   - python, threads:     the same rows built the same way, posted with
     requests (one Session per thread) from a ThreadPoolExecutor of C
     workers; then every transaction's status polled until Complete;
   - moonport, csv file:  claravine.submit of the CSV path, streamed, with
     {concurrency = C}; then claravine.poll;
   - python, csv file:    csv.reader over the file, parts of 1,000 rows
     submitted by C threads with at most 2*C parts read ahead; then polled.
   Both sides poll every 0.2 s.
4. After each run asks the simulator for its stats: exactly ROWS/1000
   transactions and ROWS rows received, zero duplicates, else the run fails.
5. Prints one table: wall time (process start to exit), submit and wait
   phases, rows/s, CPU time (user + system) and peak RSS of the client
   process (rusage from wait4), and moonport's ratios to the Python run of
   the same input. The simulator runs in its own process and is not counted.
   --json-out FILE also writes them as JSON (read by scripts/bench/all.py).
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
# This folder holds json.py and http.py: keep it off the path so the
# standard library's modules are found (after importing this folder's common).
import common  # noqa: E402
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

# The standalone simulator of the reliability suite (started on a free port, its
# output drained, stopped on any failure).
sys.path.insert(0, os.path.join(os.path.dirname(_here), "reliability"))
from reliability import Sim  # noqa: E402

REPO = common.REPO
LUA_BENCH = os.path.join(_here, "claravine_bench.lua")
DATASET = "ds-campaigns"
FIELDS = ["campaign_id", "campaign_name", "channel", "region", "start_date", "budget"]
CHANNELS = ["search", "social", "display", "email", "video"]
REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
SPEED = "20"
POLL = 0.2


def row(i):
    """Row i; the same as claravine_bench.lua's row(i)."""
    return ["C%07d" % i, "Campaign %d" % i, CHANNELS[i % 5], REGIONS[i % 4],
            "2024-%02d-%02d" % (i % 12 + 1, i % 28 + 1), str((i * 37) % 100000)]


# ------------------------------------------------------------ the Python client

def python_client(mode, source, concurrency):
    """The straightforward Python script (run in its own process)."""
    import concurrent.futures as cf
    import requests

    base = os.environ["CLARAVINE_BASE_URL"].rstrip("/")
    headers = {"X-Api-Key": os.environ["CLARAVINE_API_KEY"], "X-Api-Secret": os.environ["CLARAVINE_API_SECRET"]}
    local = threading.local()

    def session():
        if not hasattr(local, "s"):
            local.s = requests.Session()
            local.s.headers.update(headers)
        return local.s

    def post(name, rows):
        r = session().post("%s/v1/datasets/%s/data" % (base, DATASET),
                           json={"transactionName": name, "fields": FIELDS, "rows": rows}, timeout=60)
        r.raise_for_status()
        return r.json()["transactionUuid"]

    t0 = time.perf_counter()
    ids = []
    total = 0
    with cf.ThreadPoolExecutor(concurrency) as ex:
        if mode == "map":
            total = int(source)
            parts = (total + 999) // 1000

            def part(p):
                rows = [row(i) for i in range((p - 1) * 1000 + 1, min(p * 1000, total) + 1)]
                return post("bench part %d" % p, rows)
            ids = list(ex.map(part, range(1, parts + 1)))
        else:
            futures = []
            with open(source, newline="") as f:
                reader = csv.reader(f)
                next(reader)
                chunk = []
                p = 0

                def flush(chunk, p):
                    while sum(1 for x in futures if not x.done()) >= 2 * concurrency:
                        cf.wait(futures, return_when=cf.FIRST_COMPLETED)
                    futures.append(ex.submit(post, "bench csv part %d" % p, chunk))
                for r in reader:
                    chunk.append(r)
                    total += 1
                    if len(chunk) == 1000:
                        p += 1
                        flush(chunk, p)
                        chunk = []
                if chunk:
                    p += 1
                    flush(chunk, p)
            ids = [x.result() for x in futures]
    t1 = time.perf_counter()
    pending = list(ids)
    while pending:
        still = []
        for t in pending:
            r = session().get("%s/v1/datasets/%s/transactions/%s/status" % (base, DATASET, t), timeout=60)
            r.raise_for_status()
            status = r.json()["status"]
            if status == "Failed":
                sys.exit("transaction %s failed" % t)
            if status != "Complete":
                still.append(t)
        pending = still
        if pending:
            time.sleep(POLL)
    t2 = time.perf_counter()
    print("RESULT parts=%d rows=%d submit_s=%.3f wait_s=%.3f" % (len(ids), total, t1 - t0, t2 - t1))


# ------------------------------------------------------------ the harness

def ensure_requests():
    try:
        import requests  # noqa: F401
        return
    except ImportError:
        pass
    if shutil.which("apt-get"):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "-q", "python3-requests"], check=False)
    try:
        import requests  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--user", "requests"], check=True)


def write_csv(path, rows):
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(FIELDS)
        for i in range(1, rows + 1):
            w.writerow(row(i))
    os.replace(tmp, path)


def client_env(sim):
    env = {k: v for k, v in os.environ.items()
           if not (k.endswith("_BASE_URL") or k in ("MOONPORT_SANDBOX", "MOONPORT_PROFILE"))}
    env.update(sim.env)
    return env


def check_stats(stats, parts, rows, label):
    created = stats.get("created", {}).get("claravine", {})
    dups = stats.get("duplicates", {}).get("total", 0)
    got_parts = created.get("transaction", created.get("transactions", 0))
    got_rows = created.get("rows_received", 0)
    if dups != 0 or got_rows != rows or got_parts != parts:
        sys.exit("%s: the simulator saw %s transactions, %s rows, %s duplicates (expected %d, %d, 0): %s"
                 % (label, got_parts, got_rows, dups, parts, rows, json.dumps(created)))
    return got_parts, got_rows


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--python-client":
        python_client(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", help="a moonport binary (default: build release)")
    ap.add_argument("--scratch", default=".build-bench-release", help="scratch path of the release build")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--concurrency", type=int, default=16)
    common.add_json_out_option(ap)
    a = ap.parse_args()

    ensure_requests()
    binary = os.path.abspath(a.bin) if a.bin else common.build_moonport(a.scratch)
    csv_path = os.path.join(REPO, "bench-out", "claravine-%d.csv" % a.rows)
    write_csv(csv_path, a.rows)
    parts = (a.rows + 999) // 1000
    c = str(a.concurrency)
    me = os.path.abspath(__file__)
    contenders = [
        ("moonport, task.map", "map", [binary, "run", "--state", "STATE", LUA_BENCH, "map", str(a.rows), c]),
        ("python requests, threads", "map", [sys.executable, me, "--python-client", "map", str(a.rows), c]),
        ("moonport, csv file", "csv", [binary, "run", "--state", "STATE", LUA_BENCH, "csv", csv_path, c]),
        ("python requests, csv file", "csv", [sys.executable, me, "--python-client", "csv", csv_path, c]),
    ]
    print("%d rows in %d parts, concurrency %d, simulator speed %s; CPU cores: %d, load average %.2f"
          % (a.rows, parts, a.concurrency, SPEED, os.cpu_count(), os.getloadavg()[0]), flush=True)
    results = {}
    for label, kind, cmd in contenders:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [os.path.join(tmp, "state.sqlite") if x == "STATE" else x for x in cmd]
            sim = Sim(binary)
            try:
                fields, rss, wall, cpu = common.run_child(cmd, client_env(sim))
                check_stats(sim.stats(), parts, a.rows, label)
            finally:
                sim.stop()
        results[label] = (kind, fields, rss, wall, cpu)
        print("  %-26s wall %6.1f s, CPU %6.1f s, peak RSS %5.0f MB" % (label, wall, cpu, rss / 1024), flush=True)

    ref = {kind: results[label] for label, (kind, *_rest) in results.items() if label.startswith("python")}
    print()
    print("| client | input | wall s | submit s | wait s | rows/s | client CPU s | peak RSS MB "
          "| wall vs Python | CPU vs Python | RSS vs Python |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, (kind, fields, rss, wall, cpu) in results.items():
        _, _, rrss, rwall, rcpu = ref[kind]
        print("| %s | %s | %.1f | %.1f | %.1f | %.0f | %.1f | %.0f | %.2f | %.2f | %.2f |" % (
            label, "generated" if kind == "map" else "CSV file", wall, fields["submit_s"], fields["wait_s"],
            fields["rows"] / wall, cpu, rss / 1024, wall / rwall, cpu / rcpu, rss / rrss))
    print("\nEvery run: the simulator received exactly %d transactions and %d rows, 0 duplicates." % (parts, a.rows))
    if a.json_out:
        rows, comparisons = [], []
        for label, (kind, fields, rss, wall, cpu) in results.items():
            rows.append({"client": label, "input": "generated" if kind == "map" else "CSV file", "wall_s": wall,
                         "submit_s": fields["submit_s"], "wait_s": fields["wait_s"], "rows": fields["rows"],
                         "rows_s": fields["rows"] / wall, "client_cpu_s": cpu, "peak_rss_mb": rss / 1024})
            if label.startswith("moonport"):
                ref_label = next(r for r, (k, *_rest) in results.items() if k == kind and r.startswith("python"))
                _, rfields, rrss, rwall, rcpu = results[ref_label]
                what = "%d rows in %d parts, concurrency %d, %s" % (a.rows, parts, a.concurrency,
                                                                   "rows generated" if kind == "map" else "from a CSV file")
                comparisons.append({"measure": what + ": wall time", "unit": "s", "better": "lower",
                                    "moonport": wall, "moonport_label": label,
                                    "reference": rwall, "reference_label": ref_label})
                comparisons.append({"measure": what + ": client CPU time", "unit": "s", "better": "lower",
                                    "moonport": cpu, "moonport_label": label,
                                    "reference": rcpu, "reference_label": ref_label})
                comparisons.append({"measure": what + ": client peak RSS", "unit": "MB", "better": "lower",
                                    "moonport": rss / 1024, "moonport_label": label,
                                    "reference": rrss / 1024, "reference_label": ref_label})
        with open(a.json_out, "w") as f:
            json.dump({"bench": "claravine", "script": "scripts/bench/claravine.py", "argv": sys.argv[1:],
                       "settings": {"rows": a.rows, "parts": parts, "concurrency": a.concurrency, "speed": SPEED},
                       "rows": rows, "comparisons": comparisons}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
