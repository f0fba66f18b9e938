#!/usr/bin/env python3
"""csv / ndjson benchmark: moonport's streaming modules vs stock lua5.4 vs Python.

    python3 scripts/bench/records.py [--bin PATH] [--size-mb 200] [--runs 1] [--json-out FILE]

1. Generates two deterministic (seeded) files of about --size-mb MB each into
   bench-out/ (ignored by git), reused when they exist:
   - a CSV export: a header and rows of 10 columns (ids, names, emails,
     amounts, timestamps, a free-text note that is sometimes quoted because
     it holds a comma or quotes), about 100 bytes a row;
   - an NDJSON export: one record a line, the nested export-like records of
     scripts/bench/json.py (about 1 KB a line).
2. Builds moonport in release mode unless --bin is given; installs lua5.4
   and lua-cjson with apt-get when missing.
3. Runs, each in a fresh process and --runs times, for each format:
   - "read": iterate every row (CSV: tables keyed by the header) / value;
   - "copy": read and write every row to a new file, streaming;
   with:
   - moonport run scripts/bench/records_bench.lua moonport ...
     (csv.read / csv.write(path, iterator) / ndjson.read / ndjson.write)
   - lua5.4 scripts/bench/records_bench.lua lua ... (the plain reference:
     io.lines + a pattern split for CSV, which ignores quoting, so it does
     less work than a real parser; io.lines + lua-cjson for NDJSON)
   - python3: csv.DictReader / csv.DictWriter, json.loads / json.dumps per line.
4. Prints one table: rows/s and MB/s of each phase (CPU time of the phase,
   measured in-process; "write" is copy minus read), the process peak RSS
   (ru_maxrss) and the peak over the same program's baseline (the process
   that only loads the modules): the part that could grow with the file.
   --json-out FILE also writes the numbers, and moonport's beside each
   reference, as JSON (read by scripts/bench/all.py).

MB = 1,000,000 bytes. Standard library only; shares its plumbing (running a
child, building moonport, the record generator) with scripts/bench/json.py.
"""

import importlib.util
import os
import random
import shutil
import sys
import time

_here = os.path.dirname(os.path.abspath(__file__))
# json.py of this folder, loaded under another name (it would hide the stdlib's json).
_spec = importlib.util.spec_from_file_location("bench_json", os.path.join(_here, "json.py"))
bench_json = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_json)
import json  # noqa: E402  (the standard library's)
import common  # noqa: E402

REPO = common.REPO
MB = bench_json.MB
LUA_BENCH = os.path.join(_here, "records_bench.lua")
run_child = common.run_child

COLUMNS = ["id", "external_id", "name", "email", "status", "amount", "created_at", "city", "score", "note"]


def _csv_field(v):
    v = str(v)
    if any(c in v for c in ',"\r\n') or v[:1] == " " or v[-1:] == " ":
        return '"' + v.replace('"', '""') + '"'
    return v


def _write_lines(path, size, head, line):
    """Writes `head`, then line(1), line(2), ... until the file holds `size`
    bytes (through PATH.part, renamed at the end); returns how many lines
    came after the head."""
    tmp = path + ".part"
    written = len(head.encode("utf-8"))
    n = 0
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(head)
        while written < size:
            n += 1
            text = line(n)
            f.write(text)
            written += len(text.encode("utf-8"))
    os.replace(tmp, path)
    return n


def generate_csv(path, size, seed):
    r = random.Random(seed)

    def line(n):
        first, last = r.choice(bench_json.FIRST), r.choice(bench_json.LAST)
        note = " ".join(r.choice(bench_json.WORDS) for _ in range(r.randint(1, 4)))
        x = r.random()
        if x < 0.08:
            note += ", " + r.choice(bench_json.WORDS)
        elif x < 0.1:
            note = 'said "' + note + '"'
        row = [n, "%016x" % r.getrandbits(64), f"{first} {last}",
               f"{first.lower().replace(' ', '.')}@example.com", r.choice(bench_json.STATUSES),
               "%.2f" % r.uniform(100, 2_000_000), bench_json._ts(r), r.choice(bench_json.CITIES),
               repr(r.random()), note]
        return ",".join(_csv_field(v) for v in row) + "\n"

    return _write_lines(path, size, ",".join(COLUMNS) + "\n", line)


def generate_ndjson(path, size, seed):
    r = random.Random(seed)
    return _write_lines(path, size, "", lambda n: json.dumps(bench_json._record(r, n), ensure_ascii=False,
                                                             separators=(",", ":")) + "\n")


# ---------------------------------------------------------------- Python child

def python_child(fmt, mode, path, out):
    import csv
    clock = time.process_time
    rows = 0
    t0 = clock()
    if mode == "noop":
        t0 = None
    elif fmt == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if mode == "read":
                for _ in reader:
                    rows += 1
            else:
                with open(out, "w", newline="", encoding="utf-8") as o:
                    writer = csv.DictWriter(o, fieldnames=reader.fieldnames, lineterminator="\n")
                    writer.writeheader()
                    for row in reader:
                        writer.writerow(row)
                        rows += 1
    else:
        with open(path, encoding="utf-8") as f:
            o = open(out, "w", encoding="utf-8") if mode == "copy" else None
            for line in f:
                if line.strip():
                    v = json.loads(line)
                    rows += 1
                    if o:
                        o.write(json.dumps(v, ensure_ascii=False, separators=(",", ":")) + "\n")
            if o:
                o.close()
    print("RESULT rows=%d seconds=%.6f" % (rows, clock() - t0 if t0 is not None else 0))


# ---------------------------------------------------------------- main

def main():
    if common.ran_python_child(python_child, 4):
        return

    ap = common.parser(__doc__)
    ap.add_argument("--size-mb", type=float, default=200, help="size of each generated file (default 200)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--runs", type=int, default=1, help="processes per implementation and phase (best is kept)")
    common.add_out_option(ap)
    ap.add_argument("--only", default="moonport,lua,python", help="comma-separated subset of moonport,lua,python")
    ap.add_argument("--formats", default="csv,ndjson", help="comma-separated subset of csv,ndjson")
    common.add_json_out_option(ap)
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    size = int(args.size_mb * MB)
    files = {}
    for fmt, gen in (("csv", generate_csv), ("ndjson", generate_ndjson)):
        if fmt not in args.formats.split(","):
            continue
        path = os.path.join(args.out, "records-%dMB-seed%d.%s" % (round(args.size_mb), args.seed, fmt))
        if not os.path.exists(path):
            print("generating %s ..." % path, flush=True)
            t0 = time.perf_counter()
            n = gen(path, size, args.seed)
            print("  %d rows in %.1f s" % (n, time.perf_counter() - t0), flush=True)
        files[fmt] = path
    copy_out = os.path.join(args.out, "records-copy.tmp")

    only = args.only.split(",")
    impls = []
    if "moonport" in only:
        binary = os.path.abspath(args.bin) if args.bin else common.build_moonport(args.scratch_path)
        impls.append(("moonport", lambda fmt, mode, p: [binary, "run", LUA_BENCH, "moonport", fmt, mode, p, copy_out]))
    if "lua" in only:
        bench_json.ensure_lua_cjson()
        lua = shutil.which("lua5.4") or "lua5.4"
        ref = {"csv": "lua5.4 io.lines+split", "ndjson": "lua5.4 io.lines+cjson"}
        impls.append((ref, lambda fmt, mode, p: [lua, LUA_BENCH, "lua", fmt, mode, p, copy_out]))
    if "python" in only:
        py = {"csv": "python3 csv", "ndjson": "python3 json"}
        impls.append((py, lambda fmt, mode, p: [sys.executable, os.path.abspath(__file__), "--python-child",
                                                 fmt, mode, p, copy_out]))

    table = []
    json_rows = []
    for fmt, path in files.items():
        mb = os.path.getsize(path) / MB
        results = {}
        for name, cmd in impls:
            label = name if isinstance(name, str) else name[fmt]
            base_rss = run_child(cmd(fmt, "noop", path))[1]
            best = {"read": float("inf"), "copy": float("inf"), "rows": 0, "peak_read": 0, "peak_copy": 0}
            for run in range(args.runs):
                for mode in ("read", "copy"):
                    fields, maxrss, wall, _ = run_child(cmd(fmt, mode, path))
                    best[mode] = min(best[mode], fields["seconds"])
                    best["rows"] = int(fields["rows"])
                    best["peak_" + mode] = max(best["peak_" + mode], maxrss)
                    print("  %-6s %-24s run %d %-4s %9d rows  %.3f s  peak %d MB  wall %.1f s" % (
                        fmt, label, run + 1, mode, fields["rows"], fields["seconds"], maxrss * 1024 // MB, wall),
                        flush=True)
            if os.path.exists(copy_out):
                os.remove(copy_out)
            best["base"] = base_rss
            results[label] = best
        ref = results.get("lua5.4 io.lines+split" if fmt == "csv" else "lua5.4 io.lines+cjson")
        for label, r in results.items():
            write_s = max(r["copy"] - r["read"], 1e-9)
            json_rows.append({
                "format": fmt, "implementation": label, "file": path, "file_mb": mb, "rows": r["rows"],
                "read_s": r["read"], "copy_s": r["copy"], "read_rows_s": r["rows"] / r["read"],
                "read_mb_s": mb / r["read"], "write_rows_s": r["rows"] / write_s, "copy_mb_s": mb / r["copy"],
                "peak_mb": max(r["peak_read"], r["peak_copy"]) * 1024 / MB,
                "peak_over_baseline_mb": (max(r["peak_read"], r["peak_copy"]) - r["base"]) * 1024 / MB,
            })
            table.append((
                fmt, label, "%d" % r["rows"],
                "%.2f M" % (r["rows"] / r["read"] / 1e6), "%.1f" % (mb / r["read"]),
                "%.2f M" % (r["rows"] / write_s / 1e6),
                "%.1f" % (mb / r["copy"]),
                "%.2fx" % (ref["read"] / r["read"]) if ref else "-",
                "%.2fx" % (ref["copy"] / r["copy"]) if ref else "-",
                "%.0f" % (max(r["peak_read"], r["peak_copy"]) * 1024 / MB),
                "%.0f" % ((max(r["peak_read"], r["peak_copy"]) - r["base"]) * 1024 / MB),
            ))
        print("file: %s (%.1f MB)" % (path, mb))

    header = ("format", "implementation", "rows", "read rows/s", "read MB/s", "write rows/s", "copy MB/s",
              "read vs lua", "copy vs lua", "peak MB", "peak - baseline MB")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print()
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print(line(row))

    if args.json_out:
        write_json_out(args, json_rows)


REFERENCES = {"csv": ("lua5.4 io.lines+split", "python3 csv"), "ndjson": ("lua5.4 io.lines+cjson", "python3 json")}


def write_json_out(args, rows):
    """--json-out: the table's numbers, and moonport's rows beside each reference."""
    measures = [("read", "read_rows_s", "rows/s", "higher"), ("copy (read + write)", "copy_mb_s", "MB/s", "higher"),
                ("process peak memory", "peak_mb", "MB", "lower")]
    comparisons = []
    for fmt in ("csv", "ndjson"):
        mine = next((r for r in rows if r["format"] == fmt and r["implementation"] == "moonport"), None)
        if mine is None:
            continue
        for ref_name in REFERENCES[fmt]:
            ref = next((r for r in rows if r["format"] == fmt and r["implementation"] == ref_name), None)
            if ref is None:
                continue
            for measure, key, unit, better in measures:
                comparisons.append({"measure": "%s %s (%.0f MB file)" % (fmt, measure, mine["file_mb"]),
                                    "unit": unit, "better": better,
                                    "moonport": mine[key], "moonport_label": "moonport %s.read/write" % fmt,
                                    "reference": ref[key], "reference_label": ref_name})
    out = {"bench": "records", "script": "scripts/bench/records.py", "argv": sys.argv[1:],
           "settings": {"size_mb": args.size_mb, "runs": args.runs, "seed": args.seed, "formats": args.formats},
           "rows": rows, "comparisons": comparisons}
    with open(args.json_out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
