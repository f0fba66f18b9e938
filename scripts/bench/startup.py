#!/usr/bin/env python3
"""Cold start: `moonport run` on an empty script beside stock `lua5.4` on the
same script, measured in the same run (interleaved, median of N runs each).

Usage: scripts/bench/startup.py [--bin PATH] [--runs N]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

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
    args = ap.parse_args()
    moonport = build(args.bin)
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "empty.lua")
        open(script, "w").close()
        commands = {"true": ["true"], "lua5.4": ["lua5.4", script], "moonport run": [moonport, "run", script]}
        for cmd in commands.values():  # warm the page cache
            for _ in range(10):
                once(cmd)
        times = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(once(cmd))
    spawn = statistics.median(times.pop("true"))
    ref = statistics.median(times["lua5.4"]) - spawn
    print(f"{'command':<14} {'median ms':>10} {'p90 ms':>8} {'net ms':>7} {'ratio':>7}")
    for name, ts in times.items():
        ts.sort()
        med = statistics.median(ts)
        p90 = ts[int(len(ts) * 0.9)]
        print(f"{name:<14} {med * 1000:>10.2f} {p90 * 1000:>8.2f} {(med - spawn) * 1000:>7.2f} {(med - spawn) / ref:>6.2f}x")
    print(f"(net = median minus {spawn * 1000:.2f} ms for Python to spawn /bin/true; ratio of net times vs lua5.4)")


if __name__ == "__main__":
    sys.exit(main())
