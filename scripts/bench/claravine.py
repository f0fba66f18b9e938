#!/usr/bin/env python3
"""Claravine bulk submission: 1,000,000 rows in 1,000 parts, moonport vs Python requests and the simulator's limit.

    python3 scripts/bench/claravine.py [--bin PATH] [--scratch .build-bench-release]
                                       [--rows 1000000] [--concurrency 16] [--limit-runs 3]
                                       [--json-out FILE]

1. Builds moonport in release mode unless --bin is given; installs
   python3-requests with apt-get (or pip) and curl with apt-get when missing.
2. Writes a deterministic CSV of --rows rows (bench-out/claravine-ROWS.csv,
   six columns of ds-campaigns, about 60 bytes a row), reused when present.
3. For each contender, starts a fresh standalone `moonport sim --speed 20`
   (a transaction is Pending for 0.1 s) and runs, in its own process:
   - the simulator's limit (curl --parallel, pre-built bodies): the wall time
     when the client costs (almost) nothing. The 1,000 request bodies are
     written beforehand (not timed) to part-P.json in a temporary folder,
     compact JSON {transactionName, fields, rows} as moonport sends them;
     then one `curl --parallel --parallel-max C --config FILE` POSTs them
     all (Content-Type and the X-Api-Key/X-Api-Secret headers of the
     simulator's credentials; every answer must be 2xx), and each round of
     polling is one curl --parallel of the pending transactions' statuses.
     Its wall is submit + wait (no process start-up); its CPU and RSS are
     curl's. A limit is the best the simulator can do: each limit contender
     runs --limit-runs times (a fresh simulator each) and the fastest counts;
   - simulator's limit + a listing GET per part: the same, with before each
     POST in the config the GET of the dataset's transactions (start-date,
     end-date) that moonport's claravine.submit sends as its exactly-once
     snapshot, here once per part (the most it sends: an answer that grows
     with the transactions, more work for the simulator, which shares the
     machine's cores; the requests column shows what each run sent);
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
   Every contender polls every 0.2 s.
4. After each run asks the simulator for its stats: exactly ROWS/1000
   transactions and ROWS rows received, zero duplicates, else the run fails.
5. Times the rows alone (claravine_bench.lua rows / --python-rows, best
   of 3, CPU): the share of the task.map runs that is each script's own
   work, and the client CPU without it.
6. Prints one table: wall time (process start to exit), submit and wait
   phases, rows/s, CPU time (user + system) and peak RSS of the client
   process (rusage from wait4), moonport's ratios to the Python run of the
   same input, every run's ratio to the (first) limit's wall, the simulator's
   own CPU time (from /proc; it runs in its own process and is not counted
   as the client's) and the Claravine requests it served; moonport's ratios
   to the limit with listings; then the issue's goal for the CSV case (wall
   <= 0.5x Python's or within 10% of the first limit), met or missed.
   --json-out FILE also writes them as JSON (read by scripts/bench/all.py):
   rows, the goal, and comparisons of each moonport run with its Python run
   (wall, CPU, RSS) and with both limits (wall).
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


# ------------------------------------------------------------ the simulator's limit

LIMIT_LABEL = "simulator's limit (curl --parallel, pre-built bodies)"
LISTING_LABEL = "simulator's limit + a listing GET per part (curl --parallel)"


def write_bodies(folder, total):
    """Writes part-P.json, P = 1..parts: the request bodies of the 1,000-row
    parts (rows as row(i), compact JSON, keys in the order moonport sends
    them). Not timed. Returns the number of parts."""
    parts = (total + 999) // 1000
    for p in range(1, parts + 1):
        rows = [row(i) for i in range((p - 1) * 1000 + 1, min(p * 1000, total) + 1)]
        body = {"transactionName": "bench limit (part %d of %d)" % (p, parts), "fields": FIELDS, "rows": rows}
        with open(os.path.join(folder, "part-%d.json" % p), "w") as f:
            json.dump(body, f, separators=(",", ":"))
    return parts


def curl_quote(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def run_curl(folder, name, blocks, concurrency):
    """Runs one `curl --parallel --parallel-max C --config FILE` of the
    transfers `blocks` ([(tag, [config lines])]; each writes
    "HTTP_CODE TAG" with -w). Returns ({tag: http code}, rusage)."""
    cfg = os.path.join(folder, name + ".cfg")
    with open(cfg, "w") as f:
        for n, (tag, lines) in enumerate(blocks):
            if n:
                f.write("next\n")
            f.writelines(line + "\n" for line in lines)
            f.write('write-out = "%%{http_code} %s\\n"\n' % tag)
    out_path = os.path.join(folder, name + ".out")
    with open(out_path, "w+") as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(["curl", "--silent", "--show-error", "--parallel", "--parallel-max", str(concurrency),
                              "--config", cfg], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        out.seek(0)
        text = out.read()
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit("curl failed (%d): %s\n%s" % (os.waitstatus_to_exitcode(status),
                                                  err.read().decode("utf-8", "replace"), text[-2000:]))
    codes = {}
    for line in text.splitlines():
        code, tag = line.split(" ", 1)
        codes[tag] = int(code)
    bad = [(t, c) for t, c in codes.items() if not 200 <= c < 300]
    if len(codes) != len(blocks) or bad:
        sys.exit("%s: %d of %d transfers answered, non-2xx: %s" % (name, len(codes), len(blocks), bad[:10]))
    return codes, usage


def limit_run(sim, folder, parts, total, concurrency, listing=False):
    """The wall time when the client costs (almost) nothing: the pre-built
    bodies sent by curl --parallel at the same concurrency, then every
    transaction polled until Complete (one curl --parallel of the pending
    statuses, then 0.2 s, as the Python client). With `listing`, each POST
    is preceded in the config by the GET of the dataset's transactions that
    moonport's claravine.submit sends as its exactly-once snapshot (at most
    one per part; the answer grows with the transactions). Returns what
    common.run_child does: (fields, peak RSS kB, wall s, CPU s), the CPU and
    RSS being curl's (all its processes)."""
    base = sim.env["CLARAVINE_BASE_URL"].rstrip("/")
    auth = ['header = %s' % curl_quote("X-Api-Key: " + sim.env["CLARAVINE_API_KEY"]),
            'header = %s' % curl_quote("X-Api-Secret: " + sim.env["CLARAVINE_API_SECRET"])]
    post_url = "%s/v1/datasets/%s/data" % (base, DATASET)
    now = time.time()
    list_url = "%s/v1/datasets/%s/transactions/?start-date=%s&end-date=%s" % (
        base, DATASET, time.strftime("%Y-%m-%d", time.gmtime(now - 86400)),
        time.strftime("%Y-%m-%d", time.gmtime(now + 86400)))
    submit = []
    for p in range(1, parts + 1):
        if listing:
            submit.append(("list-%d" % p, ["url = " + curl_quote(list_url)] + auth + ['output = "/dev/null"']))
        submit.append((str(p), ["url = " + curl_quote(post_url),
                                "data-binary = " + curl_quote("@" + os.path.join(folder, "part-%d.json" % p)),
                                'header = "Content-Type: application/json"'] + auth
                       + ["output = " + curl_quote(os.path.join(folder, "answer-%d.json" % p))]))
    cpu, rss = 0.0, 0

    def account(usage):
        nonlocal cpu, rss
        cpu += usage.ru_utime + usage.ru_stime
        rss = max(rss, usage.ru_maxrss)

    t0 = time.perf_counter()
    _, usage = run_curl(folder, "submit", submit, concurrency)
    account(usage)
    ids = []
    for p in range(1, parts + 1):
        with open(os.path.join(folder, "answer-%d.json" % p)) as f:
            answer = json.load(f)
        ids.append(answer.get("transactionUuid") or answer["uuid"])
    t1 = time.perf_counter()
    pending = ids
    rounds = 0
    while pending:
        rounds += 1
        blocks = [(t, ["url = " + curl_quote("%s/v1/datasets/%s/transactions/%s/status" % (base, DATASET, t))] + auth
                   + ["output = " + curl_quote(os.path.join(folder, "status-%s.json" % t))]) for t in pending]
        _, usage = run_curl(folder, "poll", blocks, concurrency)
        account(usage)
        still = []
        for t in pending:
            with open(os.path.join(folder, "status-%s.json" % t)) as f:
                status = json.load(f)["status"]
            if status == "Failed":
                sys.exit("%s: transaction %s failed" % (LIMIT_LABEL, t))
            if status != "Complete":
                still.append(t)
        pending = still
        if pending:
            time.sleep(POLL)
    t2 = time.perf_counter()
    fields = {"parts": len(ids), "rows": total, "submit_s": t1 - t0, "wait_s": t2 - t1, "poll_rounds": rounds}
    return fields, rss, t2 - t0, cpu


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


def fmt(seconds):
    return "-" if seconds is None else "%.1f" % seconds


def sim_cpu(sim):
    """The simulator process's CPU time so far (user + system, all its
    threads), from /proc; None where there is no /proc."""
    try:
        with open("/proc/%d/stat" % sim.proc.pid) as f:
            after_name = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def check_stats(stats, parts, rows, label):
    created = stats.get("created", {}).get("claravine", {})
    dups = stats.get("duplicates", {}).get("total", 0)
    got_parts = created.get("transaction", created.get("transactions", 0))
    got_rows = created.get("rows_received", 0)
    if dups != 0 or got_rows != rows or got_parts != parts:
        sys.exit("%s: the simulator saw %s transactions, %s rows, %s duplicates (expected %d, %d, 0): %s"
                 % (label, got_parts, got_rows, dups, parts, rows, json.dumps(created)))
    return got_parts, got_rows


def python_rows(n):
    """The Python client's own work alone: its rows built, nothing sent."""
    c0, built = time.process_time(), 0
    for p in range((n + 999) // 1000):
        part = [row(i) for i in range(p * 1000 + 1, min((p + 1) * 1000, n) + 1)]
        built += len(part)
    print("RESULT rows=%d cpu_s=%.3f" % (built, time.process_time() - c0))


def rows_alone(binary, rows):
    """CPU seconds each language takes to build the rows (best of 3): the
    part of the task.map runs that is the script's own, not the client's."""
    def best(cmd):
        times = []
        for _ in range(3):
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
            line = next(x for x in out.splitlines() if x.startswith("RESULT "))
            times.append(float(dict(kv.split("=", 1) for kv in line.split()[1:])["cpu_s"]))
        return min(times)
    return (best([binary, "run", LUA_BENCH, "rows", str(rows)]),
            best([sys.executable, os.path.abspath(__file__), "--python-rows", str(rows)]))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--python-client":
        python_client(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--python-rows":
        python_rows(int(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", help="a moonport binary (default: build release)")
    ap.add_argument("--scratch", default=".build-bench-release", help="scratch path of the release build")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--limit-runs", type=int, default=3,
                    help="runs of each simulator's-limit contender; the fastest is kept (default 3)")
    common.add_json_out_option(ap)
    a = ap.parse_args()

    ensure_requests()
    common.ensure_commands({"curl": "curl"})
    binary = os.path.abspath(a.bin) if a.bin else common.build_moonport(a.scratch)
    csv_path = os.path.join(REPO, "bench-out", "claravine-%d.csv" % a.rows)
    write_csv(csv_path, a.rows)
    parts = (a.rows + 999) // 1000
    c = str(a.concurrency)
    me = os.path.abspath(__file__)
    contenders = [
        (LIMIT_LABEL, "limit", None),
        (LISTING_LABEL, "limit+list", None),
        ("moonport, task.map", "map", [binary, "run", "--state", "STATE", LUA_BENCH, "map", str(a.rows), c]),
        ("python requests, threads", "map", [sys.executable, me, "--python-client", "map", str(a.rows), c]),
        ("moonport, csv file", "csv", [binary, "run", "--state", "STATE", LUA_BENCH, "csv", csv_path, c]),
        ("python requests, csv file", "csv", [sys.executable, me, "--python-client", "csv", csv_path, c]),
    ]
    print("%d rows in %d parts, concurrency %d, simulator speed %s; CPU cores: %d, load average %.2f"
          % (a.rows, parts, a.concurrency, SPEED, os.cpu_count(), os.getloadavg()[0]), flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as bodies:
        write_bodies(bodies, a.rows)  # not timed
        for label, kind, cmd in contenders:
            # A limit is the best the simulator can do: the fastest of --limit-runs runs.
            tries = []
            for _ in range(max(1, a.limit_runs) if kind.startswith("limit") else 1):
                with tempfile.TemporaryDirectory() as tmp:
                    cmd = cmd and [os.path.join(tmp, "state.sqlite") if x == "STATE" else x for x in cmd]
                    sim = Sim(binary)
                    try:
                        if kind.startswith("limit"):
                            fields, rss, wall, cpu = limit_run(sim, bodies, parts, a.rows, a.concurrency,
                                                               listing=kind == "limit+list")
                        else:
                            fields, rss, wall, cpu = common.run_child(cmd, client_env(sim))
                        stats = sim.stats()
                        check_stats(stats, parts, a.rows, label)
                        fields["sim_cpu_s"] = sim_cpu(sim)
                        fields["sim_requests"] = stats.get("vendorRequests", {}).get("claravine")
                    finally:
                        sim.stop()
                tries.append((kind, fields, rss, wall, cpu))
            results[label] = min(tries, key=lambda r: r[3])
            results[label][1]["walls_s"] = [r[3] for r in tries]
            _, fields, rss, wall, cpu = results[label]
            print("  %-*s wall %6.1f s, CPU %6.1f s, peak RSS %5.0f MB; simulator CPU %s s%s"
                  % (max(len(x[0]) for x in contenders), label, wall, cpu, rss / 1024, fmt(fields["sim_cpu_s"]),
                     "" if len(tries) == 1 else " (best of the walls %s)"
                     % ", ".join("%.1f" % r[3] for r in tries)), flush=True)

    ref = {kind: results[label] for label, (kind, *_rest) in results.items() if label.startswith("python")}
    limit_wall = results[LIMIT_LABEL][3]
    listing_wall = results[LISTING_LABEL][3]
    inputs = {"map": "generated", "csv": "CSV file", "limit": "pre-built bodies", "limit+list": "pre-built bodies"}
    print()
    print("| client | input | wall s | submit s | wait s | rows/s | client CPU s | peak RSS MB "
          "| wall vs Python | CPU vs Python | RSS vs Python | wall vs limit | simulator CPU s | requests |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, (kind, fields, rss, wall, cpu) in results.items():
        if kind in ref:
            _, _, rrss, rwall, rcpu = ref[kind]
            vs_python = "%.2f | %.2f | %.2f" % (wall / rwall, cpu / rcpu, rss / rrss)
        else:
            vs_python = "- | - | -"
        print("| %s | %s | %.1f | %.1f | %.1f | %.0f | %.1f | %.0f | %s | %.2f | %s | %s |" % (
            label, inputs[kind], wall, fields["submit_s"], fields["wait_s"],
            fields["rows"] / wall, cpu, rss / 1024, vs_python, wall / limit_wall, fmt(fields["sim_cpu_s"]),
            "-" if fields["sim_requests"] is None else fields["sim_requests"]))
    print("\nEvery run: the simulator received exactly %d transactions and %d rows, 0 duplicates." % (parts, a.rows))
    print("The limit's wall is submit + wait only (no process start-up); its CPU and RSS are curl's; it polled in "
          "%d round(s)." % results[LIMIT_LABEL][1]["poll_rounds"])
    print("With a listing GET before each part (moonport's exactly-once snapshot, at most), the limit is %.1f s: "
          "moonport csv file %.2fx, task.map %.2fx of it." % (listing_wall, results["moonport, csv file"][3] / listing_wall,
                                                            results["moonport, task.map"][3] / listing_wall))
    # The rows of the task.map runs are built by each script: that share is
    # the language's (Lua's string.format and tables vs Python's), not the client's.
    lua_rows, py_rows = rows_alone(binary, a.rows)
    mp_cpu, py_cpu = results["moonport, task.map"][4], results["python requests, threads"][4]
    rows_note = {"lua_s": lua_rows, "python_s": py_rows,
                 "client_only_ratio": (mp_cpu - lua_rows) / max(py_cpu - py_rows, 1e-9)}
    print("Building the rows alone (nothing sent, best of 3): Lua %.2f s, Python %.2f s of CPU. Without it, the "
          "task.map run's client CPU is %.2f s against Python's %.2f s: %.2fx."
          % (lua_rows, py_rows, mp_cpu - lua_rows, py_cpu - py_rows, rows_note["client_only_ratio"]))
    # The goal for the CSV case: wall <= 0.5x Python's, or within 10% of the simulator's limit.
    csv_wall, py_csv_wall = results["moonport, csv file"][3], results["python requests, csv file"][3]
    goals = [{"goal": "CSV wall <= 0.5x Python's or <= 1.1x the limit",
              "value": "%.2fx Python, %.2fx limit" % (csv_wall / py_csv_wall, csv_wall / limit_wall),
              "met": csv_wall <= 0.5 * py_csv_wall or csv_wall <= 1.1 * limit_wall}]
    print("goal: %s: %s, %s" % (goals[0]["goal"], goals[0]["value"], "met" if goals[0]["met"] else "MISSED"))
    if a.json_out:
        rows, comparisons = [], []
        for label, (kind, fields, rss, wall, cpu) in results.items():
            rows.append({"client": label, "input": inputs[kind], "wall_s": wall,
                         "submit_s": fields["submit_s"], "wait_s": fields["wait_s"], "rows": fields["rows"],
                         "rows_s": fields["rows"] / wall, "client_cpu_s": cpu, "peak_rss_mb": rss / 1024,
                         "simulator_cpu_s": fields["sim_cpu_s"], "simulator_requests": fields["sim_requests"],
                         "walls_of_the_runs_s": fields["walls_s"]})
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
                comparisons.append({"measure": what + ": wall time vs the simulator's limit", "unit": "s",
                                    "better": "lower", "moonport": wall, "moonport_label": label,
                                    "reference": limit_wall, "reference_label": LIMIT_LABEL})
                comparisons.append({"measure": what + ": wall time vs the limit with a listing GET per part",
                                    "unit": "s", "better": "lower", "moonport": wall, "moonport_label": label,
                                    "reference": listing_wall, "reference_label": LISTING_LABEL})
        what = "%d rows in %d parts, rows generated" % (a.rows, parts)
        comparisons.append({"measure": what + ": building the rows alone (the script's own work), CPU", "unit": "s",
                            "better": "lower", "moonport": lua_rows, "moonport_label": "Lua, in moonport",
                            "reference": py_rows, "reference_label": "Python"})
        comparisons.append({"measure": what + ": client CPU without building the rows", "unit": "s",
                            "better": "lower", "moonport": mp_cpu - lua_rows, "moonport_label": "moonport, task.map",
                            "reference": py_cpu - py_rows, "reference_label": "python requests, threads"})
        with open(a.json_out, "w") as f:
            json.dump({"bench": "claravine", "script": "scripts/bench/claravine.py", "argv": sys.argv[1:],
                       "settings": {"rows": a.rows, "parts": parts, "concurrency": a.concurrency, "speed": SPEED},
                       "rows": rows, "comparisons": comparisons, "goals": goals}, f, indent=2)
            f.write("\n")

if __name__ == "__main__":
    main()
