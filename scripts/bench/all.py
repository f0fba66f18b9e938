#!/usr/bin/env python3
"""Every benchmark, one command, one table of ratios against the references
measured in the same run.

    python3 scripts/bench/all.py [--bin PATH] [--quick] [--only startup,json,...]
                                 [--out DIR] [--verbose]
    python3 scripts/bench/all.py --report DIR

1. Builds moonport once, in release mode with the Swift standard library
   linked in (scripts/lib/ensure-deps.sh, then
   swift build -c release --static-swift-stdlib --product moonport, and
   the same for TransportFloor, the floor of http.py's GETs), unless --bin
   is given (then http.py looks for TransportFloor beside it).
2. Runs each benchmark script of scripts/bench/ in turn, in its own process,
   with --bin and --json-out DIR/NAME.json (each script still prints its own
   table: it goes to DIR/NAME.log, or to the terminal with --verbose):
     startup.py    cold start of `moonport run` vs lua5.4
     json.py       json decode/encode vs lua5.4 + lua-cjson and Python's json
     records.py    csv/ndjson read and copy vs lua5.4 (io.lines) and Python
     http.py       small GETs vs wrk and Python requests, a download vs curl
                   (nginx serves both)
     sim.py        the simulator's requests/s under wrk vs nginx
     claravine.py  a bulk Claravine submission vs Python requests + threads
   The scripts install what they need (lua5.4, lua-cjson, nginx-light, wrk,
   curl, python3-requests) with apt-get when it is missing.
3. Prints one markdown table: benchmark | measure | moonport | reference |
   ratio (moonport / reference) | which way is better | verdict. A ratio
   above 1 is good where higher is better (rates), below 1 where lower is
   better (times, memory). Then the goals the scripts check, and the exit
   status of each script; exits 1 if a script failed (a script that only
   missed one of its goals still counts as run).

Sizes: the scripts' own defaults, or with --quick smaller ones:
                  default                               --quick
    startup.py    200 runs                              50 runs
    json.py       100 MB file, best of 3                10 MB file, 1 run
    records.py    200 MB csv + 200 MB ndjson, 1 run     20 MB each, 1 run
    http.py       10,000 GETs, wrk 5 s, 1 GiB download  2,000 GETs, wrk 2 s, 64 MiB
    sim.py        wrk 10 s per endpoint, 1 GiB download wrk 3 s, 64 MiB download
    claravine.py  1,000,000 rows (1,000 parts)          100,000 rows (100 parts)
Run time on the 2-core development machine (build not included): --quick
took 64 s (its data files generated in that run). The default sizes were not
timed as a whole; scaled from --quick and the scripts' parts, expect about
10 minutes, and 3-5 more the first time, when the data files are generated
(100 MB of JSON, 2 x 200 MB of records, 1 GiB for the download, a
1,000,000-row CSV; all kept in bench-out/ and reused).
--report DIR prints the table again from an earlier run's JSON files.

MB = 1,000,000 bytes. Standard library only.
"""

import os
import sys

# This folder holds json.py and http.py: keep it off the import path so that
# the standard library's json is found.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

REPO = os.path.dirname(os.path.dirname(_here))

# name, script, arguments with the default sizes (none: the script's own), with --quick
BENCHES = [
    ("startup", "startup.py", [], ["--runs", "50"]),
    ("json", "json.py", [], ["--size-mb", "10", "--runs", "1"]),
    ("records", "records.py", [], ["--size-mb", "20", "--runs", "1"]),
    ("http", "http.py", [], ["--requests", "2000", "--duration", "2", "--size-mb", "64"]),
    ("sim", "sim.py", [], ["--duration", "3", "--download-mb", "64"]),
    ("claravine", "claravine.py", [], ["--rows", "100000"]),
]


def build():
    print("checking build dependencies (scripts/lib/ensure-deps.sh) ...", flush=True)
    subprocess.run(["bash", "-c", "source scripts/lib/ensure-deps.sh && ensure_deps"], cwd=REPO, check=True)
    cmd = ["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "moonport"]
    print("building:", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)
    # The floor under the small GETs (http.py finds it beside moonport).
    floor = ["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "TransportFloor"]
    print("building:", " ".join(floor), flush=True)
    subprocess.run(floor, cwd=REPO, check=True)
    out = subprocess.run(cmd + ["--show-bin-path"], cwd=REPO, check=True, capture_output=True, text=True)
    return os.path.join(out.stdout.strip(), "moonport")


def shown(path):
    """A path as printed: relative to the repository when inside it."""
    path = os.path.abspath(path)
    return os.path.relpath(path, REPO) if path.startswith(REPO + os.sep) else path


def run_bench(name, script, extra, binary, out_dir, verbose):
    """Runs one script; returns (exit code, seconds, the JSON it wrote or None, log path)."""
    json_path = os.path.join(out_dir, name + ".json")
    log_path = os.path.join(out_dir, name + ".log")
    if os.path.exists(json_path):
        os.remove(json_path)
    cmd = [sys.executable, os.path.join(_here, script), "--bin", binary, "--json-out", json_path] + extra
    print("\n== %s: %s" % (name, " ".join(["python3"] + [shown(c) if c.startswith("/") else c for c in cmd[1:]])),
          flush=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n\n")
        log.flush()
        p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        for raw in p.stdout:
            line = raw.decode("utf-8", "replace")
            log.write(line)
            if verbose:
                sys.stdout.write(line)
                sys.stdout.flush()
        code = p.wait()
    seconds = time.perf_counter() - t0
    data = None
    if os.path.exists(json_path):
        with open(json_path) as f:
            data = json.load(f)
    state = "ok" if code == 0 else ("exit %d" % code)
    print("   %s in %.0f s (log: %s)" % (state, seconds, shown(log_path)), flush=True)
    if data is None:
        with open(log_path) as f:
            tail = f.read()[-2000:]
        print("   no results written; the end of its output:\n" + tail, flush=True)
    return code, seconds, data, log_path


def fmt_value(v, unit):
    if v is None:
        return "-"
    if unit in ("req/s", "rows/s"):
        return ("%.2f M %s" % (v / 1e6, unit)) if v >= 1e6 else ("%.0f %s" % (v, unit))
    if unit in ("MB/s", "MB", "MiB"):
        return "%.1f %s" % (v, unit)
    if unit == "ms":
        return "%.2f ms" % v
    if unit == "s":
        return "%.2f s" % v
    return "%.3g %s" % (v, unit)


def verdict(ratio, better):
    if ratio is None:
        return "-"
    if abs(ratio - 1) <= 0.02:
        return "even (within 2%)"
    ahead = ratio > 1 if better == "higher" else ratio < 1
    return "moonport ahead" if ahead else "moonport behind"


def table(results):
    header = ("benchmark", "measure", "moonport", "reference (which)", "ratio moonport/reference",
              "better when", "verdict")
    rows = []
    for name, data in results:
        for c in data.get("comparisons", []):
            m, r = c["moonport"], c["reference"]
            ratio = m / r if (m is not None and r not in (None, 0)) else None
            if ratio is None:
                ratio_text = "- (reference is 0)" if r == 0 else "-"
            else:
                ratio_text = "%.2fx" % ratio
            rows.append((name, c["measure"], fmt_value(m, c["unit"]),
                         "%s (%s)" % (fmt_value(r, c["unit"]), c["reference_label"]), ratio_text,
                         "%s is better" % c["better"], verdict(ratio, c["better"])))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "/").ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="See the top of scripts/bench/all.py for the sizes and run times.")
    ap.add_argument("--bin", help="a built moonport (default: build it once, release, static Swift stdlib)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about 1 minute instead of about 10)")
    ap.add_argument("--only", default=",".join(b[0] for b in BENCHES),
                    help="comma-separated subset of " + ",".join(b[0] for b in BENCHES))
    ap.add_argument("--out", help="folder for the JSON results and logs (default bench-out/all-DATE-TIME)")
    ap.add_argument("--verbose", action="store_true", help="also print each script's own output as it runs")
    ap.add_argument("--report", metavar="DIR", help="only print the table from the JSON files an earlier run left in DIR")
    args = ap.parse_args()

    if args.report:
        results = []
        for name, *_ in BENCHES:
            path = os.path.join(args.report, name + ".json")
            if os.path.exists(path):
                with open(path) as f:
                    results.append((name, json.load(f)))
        if not results:
            sys.exit("no results (NAME.json) in " + args.report)
        print(table(results))
        return 0

    wanted = args.only.split(",")
    unknown = [w for w in wanted if w not in [b[0] for b in BENCHES]]
    if unknown:
        ap.error("unknown benchmark(s): " + ", ".join(unknown))
    out_dir = os.path.abspath(args.out or os.path.join(REPO, "bench-out", time.strftime("all-%Y%m%d-%H%M%S")))
    os.makedirs(out_dir, exist_ok=True)

    t_all = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    binary = os.path.abspath(args.bin) if args.bin else build()
    if not os.access(binary, os.X_OK):
        sys.exit("not an executable: " + binary)

    results, status = [], []
    for name, script, default_args, quick_args in BENCHES:
        if name not in wanted:
            continue
        code, seconds, data, log_path = run_bench(name, script, quick_args if args.quick else default_args,
                                                  binary, out_dir, args.verbose)
        status.append((name, code, seconds, data is not None, log_path))
        if data is not None:
            results.append((name, data))

    total = time.perf_counter() - t_all
    print()
    print("# moonport benchmarks: %s sizes; %s; %d cores; load average at start %.2f, at the end %.2f"
          % ("--quick" if args.quick else "default", binary, os.cpu_count(), load_at_start, os.getloadavg()[0]))
    print()
    print(table(results))
    print()
    goals = [(name, g) for name, data in results for g in data.get("goals", [])]
    if goals:
        print("goals checked by the scripts:")
        for name, g in goals:
            value = g["value"] if isinstance(g["value"], str) else "%.0f" % g["value"]
            print("  %-10s %-50s %-10s %s" % (name, g["goal"], value, "met" if g["met"] else "MISSED"))
        print()
    print("| benchmark | exit | wall | results |")
    print("|---|---|---|---|")
    failed = False
    for name, code, seconds, has_json, log_path in status:
        if not has_json:
            failed = True
        print("| %s | %d | %.0f s | %s |" % (name, code, seconds,
                                             shown(log_path) if has_json else "FAILED, see " + shown(log_path)))
    print("\ntotal %.0f s; JSON results and logs in %s" % (total, shown(out_dir)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
