#!/usr/bin/env python3
"""Clari bulk ingestion from an NDJSON file: client CPU of two moonport binaries (e.g. before and after a change).

    python3 scripts/bench/clari_ingest.py --bin NEW [--before OLD] [--records 200000] [--runs 3]
                                          [--out bench-out] [--json-out FILE]

1. Writes a deterministic NDJSON file of --records opportunity records
   (bench-out/clari-RECORDS.ndjson, about 170 bytes a record: id, createdAt,
   updatedAt, name, amount, stage, owner, a nested custom-field object),
   reused when present.
2. For each run and each binary in turn (--before first, so that both see
   the same machine state), starts a fresh standalone `moonport sim`
   (speed 20) and runs, in its own process, scripts/bench/clari_ingest_bench.lua:
   clari.submit("ingest_bulk", "opportunity", PATH, {source_entity = "crm"})
   (data.json files of at most 10 MB, one Job each), then clari.poll of the
   Jobs. The simulator must then have received exactly RECORDS records, with
   no duplicate file.
3. Prints every run (wall, submit and wait phases, client CPU = user +
   system of the moonport process from wait4, peak RSS) and, per binary, the
   best CPU and wall of the runs; then the new binary's ratios to the old.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
import common  # noqa: E402
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import json  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(_here), "reliability"))
from reliability import Sim  # noqa: E402

REPO = common.REPO
LUA_BENCH = os.path.join(_here, "clari_ingest_bench.lua")
STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]


def record(i):
    return {"id": "opp-%07d" % i, "createdAt": 1700000000000 + i, "updatedAt": 1700000000000 + 2 * i,
            "name": "Deal %d \u2013 \"renewal\"" % i, "amount": round(i * 37.25 % 100000, 2),
            "stage": STAGES[i % 6], "owner": "user%d@example.com" % (i % 97),
            "custom": {"region": ["NA", "EMEA", "APAC"][i % 3], "score": i % 100, "active": i % 2 == 0}}


def write_records(path, n):
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for i in range(1, n + 1):
            f.write(json.dumps(record(i), ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def client_env(sim):
    env = {k: v for k, v in os.environ.items()
           if not (k.endswith("_BASE_URL") or k in ("MOONPORT_SANDBOX", "MOONPORT_PROFILE", "MOONPORT_STDLIB_DIR"))}
    env.update(sim.env)
    return env


def main():
    ap = common.parser(__doc__)
    ap.add_argument("--before", help="the binary to compare with (e.g. /work/bin/moonport-before)")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    common.add_out_option(ap)
    common.add_json_out_option(ap)
    opts = ap.parse_args()
    new = opts.bin or common.build_moonport(opts.scratch_path, static=True)
    path = os.path.join(opts.out, "clari-%d.ndjson" % opts.records)
    write_records(path, opts.records)
    size = os.path.getsize(path)
    binaries = ([("before", opts.before)] if opts.before else []) + [("after" if opts.before else "moonport", new)]
    print("%d records, %.1f MB: %s" % (opts.records, size / 1e6, path), flush=True)
    results = {name: [] for name, _ in binaries}
    print("%-8s %4s %6s %9s %8s %8s %8s %9s" % ("binary", "run", "files", "wall s", "submit", "wait", "CPU s", "RSS MiB"))
    for run in range(1, opts.runs + 1):
        for name, binary in binaries:
            with Sim(binary) as sim:
                fields, rss, wall, cpu = common.run_child([binary, "run", LUA_BENCH, path], client_env(sim))
                stats = sim.stats()
            created = stats.get("created", {}).get("clari", {})
            dups = stats.get("duplicates", {}).get("clari", {}).get("ingestion_jobs", 0)
            if created.get("records_received") != opts.records or fields["records"] != opts.records or dups:
                sys.exit("%s run %d: the simulator received %s records (%s duplicate files), want %d"
                         % (name, run, created.get("records_received"), dups, opts.records))
            results[name].append({"wall": wall, "cpu": cpu, "rss_mib": rss / 1024, "files": fields["files"],
                                  "submit": fields["submit_s"], "wait": fields["wait_s"]})
            print("%-8s %4d %6d %9.2f %8.2f %8.2f %8.2f %9.1f" % (name, run, fields["files"], wall, fields["submit_s"],
                                                              fields["wait_s"], cpu, rss / 1024), flush=True)
    best = {name: {"cpu": min(r["cpu"] for r in rs), "wall": min(r["wall"] for r in rs),
                   "submit": min(r["submit"] for r in rs), "rss_mib": max(r["rss_mib"] for r in rs)}
            for name, rs in results.items()}
    print()
    for name, b in best.items():
        print("%-8s best CPU %.2f s, best wall %.2f s, best submit %.2f s, peak RSS %.1f MiB"
              % (name, b["cpu"], b["wall"], b["submit"], b["rss_mib"]))
    if opts.before:
        print("after/before: CPU %.2fx, submit %.2fx, wall %.2fx"
              % (best["after"]["cpu"] / best["before"]["cpu"], best["after"]["submit"] / best["before"]["submit"],
                 best["after"]["wall"] / best["before"]["wall"]))
    if opts.json_out:
        with open(opts.json_out, "w") as f:
            json.dump({"records": opts.records, "bytes": size, "runs": results, "best": best}, f, indent=1)


if __name__ == "__main__":
    main()
