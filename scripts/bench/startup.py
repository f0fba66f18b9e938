#!/usr/bin/env python3
"""Cold start: `moonport run` on an empty script beside stock `lua5.4` on the
same script, measured in the same run (interleaved, median of N runs each).

Usage: scripts/bench/startup.py [--bin PATH] [--runs N] [--json-out FILE]
"""
import os
import sys

# This folder holds json.py and http.py: keep it off the import path so that
# the standard library's json is found.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(bin_path):
    if bin_path:
        return bin_path
    subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "moonport"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(ROOT, ".build", "release", "moonport")


def once(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", help="a built moonport (default: build release)")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--before", metavar="PATH",
                    help="also time this other moonport binary (e.g. the build before a change), in the same run")
    ap.add_argument("--json-out", metavar="FILE",
                    help="also write the results as JSON (rows and moonport-vs-reference comparisons) to FILE")
    args = ap.parse_args()
    moonport = build(args.bin)
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "empty.lua")
        open(script, "w").close()
        commands = {"true": ["true"], "lua5.4": ["lua5.4", script], "moonport run": [moonport, "run", script]}
        if args.before:
            commands["moonport before"] = [args.before, "run", script]
        for cmd in commands.values():  # warm the page cache
            for _ in range(10):
                once(cmd)
        times = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(once(cmd))
    spawn = statistics.median(times.pop("true"))
    ref = statistics.median(times["lua5.4"]) - spawn
    print(f"{'command':<16} {'median ms':>10} {'p90 ms':>8} {'net ms':>7} {'ratio':>7} {'wall ratio':>10}")
    for name, ts in times.items():
        ts.sort()
        med = statistics.median(ts)
        p90 = ts[int(len(ts) * 0.9)]
        wall = med / statistics.median(times["lua5.4"])
        print(f"{name:<16} {med * 1000:>10.2f} {p90 * 1000:>8.2f} {(med - spawn) * 1000:>7.2f} {(med - spawn) / ref:>6.2f}x {wall:>9.2f}x")
    print(f"(net = median minus {spawn * 1000:.2f} ms for Python to spawn /bin/true; ratio of net times vs lua5.4; wall ratio of medians vs lua5.4)")
    if args.json_out:
        rows = []
        for name, ts in times.items():
            med = statistics.median(ts)
            rows.append({"command": name, "median_ms": med * 1000, "p90_ms": ts[int(len(ts) * 0.9)] * 1000,
                         "net_ms": (med - spawn) * 1000})
        mine = next(r for r in rows if r["command"] == "moonport run")
        ref = next(r for r in rows if r["command"] == "lua5.4")
        comparisons = [
            {"measure": "cold start of an empty script, net of process spawn (median of %d)" % args.runs,
             "unit": "ms", "better": "lower", "moonport": mine["net_ms"], "moonport_label": "moonport run",
             "reference": ref["net_ms"], "reference_label": "lua5.4"},
            {"measure": "cold start of an empty script, wall (median of %d)" % args.runs,
             "unit": "ms", "better": "lower", "moonport": mine["median_ms"], "moonport_label": "moonport run",
             "reference": ref["median_ms"], "reference_label": "lua5.4"},
        ]
        with open(args.json_out, "w") as f:
            json.dump({"bench": "startup", "script": "scripts/bench/startup.py", "argv": sys.argv[1:],
                       "settings": {"runs": args.runs, "spawn_ms": spawn * 1000}, "rows": rows,
                       "comparisons": comparisons}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
