#!/usr/bin/env python3
"""JSON benchmark: moonport's json module vs lua-cjson (stock lua5.4) vs Python.

    python3 scripts/bench/json.py [--bin PATH] [--size-mb 100] [--runs 3] [--files records,events]
                                  [--json-out FILE]

1. Generates two deterministic (seeded), export-like JSON files of about
   --size-mb MB each into bench-out/ (ignored by git; reused when they exist):
   - file A, "records" (export-*.json): an array of CRM records, one per
     line: nested objects, UTF-8 text, a few escapes, integers incl. 64-bit
     ids, 2-decimal floats, nulls, booleans, short arrays;
   - file B, "events" (events-*.json): differently shaped, as Python writes
     JSON by default (non-ASCII as \\uXXXX, emoji as surrogate pairs): deeper
     nesting, long strings with many escapes and control characters, much
     non-ASCII (Latin, Cyrillic, CJK, emoji), floats of every magnitude
     (exponents, negatives, 17 digits), wide objects (40-68 keys, some
     non-ASCII), empty objects and arrays.
   Each file is measured and tabled on its own; --json-out names the file in
   each comparison's measure.
2. Builds moonport in release mode unless --bin is given; installs lua5.4
   and lua-cjson with apt-get when missing.
3. Runs, each in a fresh process and --runs times:
   - moonport run scripts/bench/json_bench.lua json FILE MODE
   - lua5.4       scripts/bench/json_bench.lua cjson FILE MODE
   - python3 (json.loads / json.dumps, compact, ensure_ascii=False)
   MODE "decode" gives the decoding time and the peak memory while decoding;
   MODE "roundtrip" gives the encoding time (of the decoded value).
4. Prints one table (best time of the runs, highest peak). --json-out FILE
   also writes its numbers, and moonport's beside each reference, as JSON
   (read by scripts/bench/all.py).

MB = 1,000,000 bytes. Throughput is the input file's size divided by the
phase's time (for encode too, so that the rows compare the same work).
Phase times are CPU time measured in-process (os.clock / process_time).
"decode peak" is Linux's VmHWM after the decode, reset just before it via
/proc/self/clear_refs: it includes the input text held in memory, not the
read of the file (which briefly needs two copies in Lua). "process peak" is
ru_maxrss of the whole decode process (os.wait4), read included.
Standard library only.
"""

import os
import sys

# This file is called json.py: keep its folder off the import path so that
# `import json` below is the standard library's.
_here = os.path.dirname(os.path.abspath(__file__))
import common  # noqa: E402  (this folder's, imported before the folder leaves the path)
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

REPO = common.REPO
LUA_BENCH = os.path.join(_here, "json_bench.lua")
MB = 1_000_000

# ---------------------------------------------------------------- data

FIRST = ["Anna", "Zoë", "José", "Łukasz", "Søren", "Ngozi", "Hiroshi", "Aylin", "Björn", "François",
         "Chloé", "Dmitri", "Ana María", "Mei", "Oğuz", "Siobhán", "Jürgen", "Priya", "Émile", "Kwame",
         "María José", "Nikolaj", "Zhang", "Olumide", "Élodie", "Matteo", "Ingrid", "Rafael", "Yuki", "Sam"]
LAST = ["Müller", "García", "O'Brien", "Nowak", "Østergaard", "Okafor", "Tanaka", "Yılmaz", "Dubois",
        "Ivanov", "Smith", "Rossi", "Kowalski", "Nakamura", "Fernández", "Schmidt", "Lefèvre", "Jensen",
        "Chen", "Silva", "Papadopoulos", "Novák", "Horváth", "Andersson", "Kim", "Nguyễn", "Петров", "李"]
CITIES = ["Berlin", "München", "Zürich", "São Paulo", "Kraków", "København", "Montréal", "Reykjavík",
          "東京", "Москва", "İstanbul", "New York", "Lagos", "Málaga", "Lyon", "Athína", "Seoul", "Ōsaka"]
COUNTRIES = ["DE", "CH", "BR", "PL", "DK", "CA", "IS", "JP", "RU", "TR", "US", "NG", "ES", "FR", "GR", "KR"]
STREETS = ["Hauptstraße", "Rue de la Paix", "Main St", "Calle Mayor", "Ulica Długa", "Strøget",
           "Avenida Paulista", "Bahnhofstraße", "Via Roma", "Königsallee"]
WORDS = ("the of and to in is for on with as by at from this that renewal contract pipeline forecast "
         "quarter deal stage closed won lost customer account upsell churn risk meeting follow-up call "
         "email proposal pricing discount approval legal review signed invoice payment overdue budget "
         "champion stakeholder timeline integration onboarding ticket escalation priority résumé naïve "
         "café über größe délai réunion 会議 契約 顧客 встреча договор 🚀 ✅ — € £ ¥").split()
STATUSES = ["open", "won", "lost", "pending", "in_review", "cancelled"]
STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review",
          "Closed Won", "Closed Lost"]
TAGS = ["enterprise", "smb", "priority", "renewal", "expansion", "partner", "emea", "apac", "amer",
        "strategic", "at-risk", "new-logo", "q1", "q2", "q3", "q4"]
SKUS = ["PLAT-ENT", "PLAT-PRO", "ADDON-SSO", "ADDON-API", "SUPPORT-24x7", "SEATS-10", "SEATS-100"]


def _sentence(r, lo, hi):
    return " ".join(r.choice(WORDS) for _ in range(r.randint(lo, hi)))


def _note(r):
    parts = [_sentence(r, 4, 18).capitalize() + "."]
    x = r.random()
    if x < 0.15:
        parts.append('Customer said: "' + _sentence(r, 2, 6) + '".')
    if x < 0.25:
        parts.append("\n- " + _sentence(r, 2, 5) + "\n- " + _sentence(r, 2, 5))
    if x < 0.05:
        parts.append("\tpath C:\\exports\\" + r.choice(TAGS) + ".csv")
    return " ".join(parts)


def _ts(r):
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        r.randint(2019, 2025), r.randint(1, 12), r.randint(1, 28),
        r.randint(0, 23), r.randint(0, 59), r.randint(0, 59), r.randint(0, 999))


def _record(r, i):
    first, last = r.choice(FIRST), r.choice(LAST)
    owner_first, owner_last = r.choice(FIRST), r.choice(LAST)
    items = []
    for _ in range(r.randint(1, 4)):
        items.append({
            "sku": r.choice(SKUS),
            "quantity": r.randint(1, 500),
            "unit_price": round(r.uniform(5, 5000), 2),
            "discount": None if r.random() < 0.6 else round(r.random() * 0.3, 4),
            "description": _sentence(r, 3, 10),
        })
    return {
        "id": i,
        "external_id": "%016x" % r.getrandbits(64),
        "crm_id": r.randint(10**17, 9 * 10**18),
        "name": f"{first} {last}",
        "email": f"{first.lower().replace(' ', '.')}.{last.lower()}@example.com",
        "title": _sentence(r, 2, 4).title(),
        "status": r.choice(STATUSES),
        "stage": r.choice(STAGES),
        "is_closed": r.random() < 0.4,
        "is_won": r.random() < 0.2,
        "amount": round(r.uniform(100, 2_000_000), 2),
        "probability": r.randint(0, 100),
        "score": r.random(),
        "created_at": _ts(r),
        "updated_at": _ts(r),
        "closed_at": _ts(r) if r.random() < 0.4 else None,
        "owner": {
            "id": r.randint(1000, 99999),
            "name": f"{owner_first} {owner_last}",
            "team": None if r.random() < 0.3 else r.choice(["EMEA Sales", "APAC Sales", "Americas", "Partners"]),
            "active": r.random() < 0.9,
        },
        "account": {
            "id": r.randint(1, 10**9),
            "name": f"{r.choice(LAST)} {r.choice(['GmbH', 'Inc.', 'S.A.', 'Ltd', 'AB', 'K.K.', 'SARL'])}",
            "address": {
                "street": f"{r.choice(STREETS)} {r.randint(1, 300)}",
                "city": r.choice(CITIES),
                "postal_code": "%05d" % r.randint(1000, 99999),
                "country": r.choice(COUNTRIES),
                "geo": {"lat": round(r.uniform(-60, 70), 6), "lon": round(r.uniform(-180, 180), 6)},
            },
            "employees": r.randint(1, 250000),
        },
        "tags": r.sample(TAGS, r.randint(0, 4)),
        "line_items": items,
        "forecast": [round(r.uniform(0, 1e6), 2) for _ in range(4)],
        "notes": _note(r),
        "custom_fields": {
            "region_code": r.randint(1, 40),
            "renewal": r.random() < 0.5,
            "segment": r.choice(["A", "B", "C", None]),
            "health": round(r.uniform(0, 10), 1),
        },
        "deleted_at": None,
    }


def generate(path, size, seed):
    r = random.Random(seed)
    tmp = path + ".part"
    written = 0
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("[\n")
        i = 0
        while written < size:
            line = json.dumps(_record(r, i + 1), ensure_ascii=False, separators=(",", ":"))
            if i:
                f.write(",\n")
            f.write(line)
            written += len(line.encode("utf-8")) + 2
            i += 1
        f.write("\n]\n")
    os.replace(tmp, path)
    return i


# The second file ("events"): a differently shaped export, written the way
# Python writes JSON by default (ensure_ascii=True: every non-ASCII character
# as \uXXXX, emoji as surrogate pairs). Deeper nesting (objects in arrays in
# objects, 5-7 levels), long strings with many escapes (quotes, backslashes,
# control characters, newlines, tabs), much non-ASCII text (accented Latin,
# Cyrillic, CJK, emoji), floats of every magnitude (exponents, negatives),
# wide objects (40-80 keys, some non-ASCII), empty objects and arrays.

EV_TEXT = ("Grüße aus Köln · naïve café · Ærøskøbing · Şişli · Łódź · Ελληνικά · Русский текст · "
           "日本語のテキスト · 中文内容测试 · 한국어 문장 · 🚀🎉👍🏽 · 😀😅🙈 · 👩‍💻 · ½ € ™ ✓ → ∞").split(" · ")
EV_ASCII = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
            "sigma tau upsilon phi chi psi omega request response payload header retry timeout").split()
EV_ESCAPES = ['"', '\\', '\n', '\t', '\r', '\b', '\f', '\x01', '\x1f', '/', '\\n', 'C:\\Temp\\x.log',
              '"quoted"', '<tag attr="v">', '\u2028']
EV_TYPES = ["page_view", "click", "form_submit", "purchase", "signup", "error", "api_call", "export"]
EV_KEYS = (["größe", "名前", "prix_€", "ключ", "emoji_🙂", "naïve", "日付", "città"]
           + ["k%02d" % i for i in range(60)])


def _ev_text(r, lo, hi, escapes):
    parts = []
    for _ in range(r.randint(lo, hi)):
        x = r.random()
        if x < 0.45:
            parts.append(r.choice(EV_ASCII))
        elif x < 0.75:
            parts.append(r.choice(EV_TEXT))
        elif x < 0.75 + escapes:
            parts.append(r.choice(EV_ESCAPES))
        else:
            parts.append(r.choice(EV_ASCII).upper())
    return " ".join(parts)


def _ev_float(r):
    x = r.random()
    if x < 0.3:
        return r.uniform(-1, 1) * 10.0 ** r.randint(-300, 300)  # exponents both ways
    if x < 0.5:
        return -r.random() * 10.0 ** r.randint(-12, -4)  # small negatives: 1e-07 style
    if x < 0.7:
        return round(r.uniform(-1e6, 1e6), r.randint(0, 6))
    if x < 0.8:
        return float(r.randint(-10**6, 10**6)) * 10.0 ** r.randint(15, 22)  # large, exact in .0 or e+
    return r.random()  # 17 significant digits


def _ev_person(r):
    return {"id": "usr_%012x" % r.getrandbits(48), "display_name": _ev_text(r, 1, 3, 0.0),
            "locale": r.choice(["ja-JP", "de-DE", "fr-FR", "ru-RU", "zh-CN", "ko-KR", "en-US", "tr-TR"]),
            "profile": {"bio": _ev_text(r, 10, 90, 0.12), "links": [] if r.random() < 0.5 else
                        ["https://example.com/u/%d" % r.randint(1, 10**6) for _ in range(r.randint(1, 3))],
                        "prefs": {} if r.random() < 0.6 else {"theme": r.choice(["dark", "light"]),
                                                               "digest": r.random() < 0.5}}}


def _ev_record(r, i):
    wide = {}
    for k in r.sample(EV_KEYS, r.randint(40, 68)):
        x = r.random()
        wide[k] = (_ev_float(r) if x < 0.4 else r.randint(-10**12, 10**12) if x < 0.5 else
                   _ev_text(r, 1, 12, 0.08) if x < 0.9 else None if x < 0.95 else r.random() < 0.5)
    revisions = []
    for n in range(r.randint(0, 4)):
        revisions.append({
            "rev": n + 1, "at": 1.6e9 + r.random() * 1e8, "author": _ev_person(r),
            "diff": {"added": [{"line": r.randint(1, 5000), "text": _ev_text(r, 2, 14, 0.2)}
                               for _ in range(r.randint(0, 5))],
                     "removed": [{"line": r.randint(1, 5000), "text": _ev_text(r, 2, 14, 0.2)}
                                 for _ in range(r.randint(0, 3))],
                     "stats": {"similarity": r.random(), "delta_bytes": r.randint(-5000, 5000)}}})
    return {
        "event_id": "%08x-%04x-%04x-%04x-%012x" % (r.getrandbits(32), r.getrandbits(16), r.getrandbits(16),
                                                   r.getrandbits(16), r.getrandbits(48)),
        "seq": i,
        "type": r.choice(EV_TYPES),
        "ts": 1.7e9 + r.random() * 1e7,
        "actor": _ev_person(r),
        "context": {"session": {"id": "%x" % r.getrandbits(64), "pages": [
            {"url": "/p/%d?q=%s" % (r.randint(1, 999), r.choice(EV_ASCII)), "title": _ev_text(r, 2, 8, 0.05),
             "timing": {"dns_ms": _ev_float(r), "ttfb_ms": r.uniform(0, 2000), "samples": [
                 _ev_float(r) for _ in range(r.randint(0, 6))]},
             "tags": [], "meta": {}}
            for _ in range(r.randint(1, 4))]}, "device": {"ua": _ev_text(r, 3, 9, 0.1), "screen": [
                r.choice([320, 768, 1280, 1920, 2560]), r.choice([568, 1024, 800, 1080, 1440])], "ext": {}}},
        "document": {"title": _ev_text(r, 2, 10, 0.1), "body": _ev_text(r, 80, 700, 0.15),
                     "revisions": revisions},
        "attributes": wide,
        "matrix": [[_ev_float(r) for _ in range(3)] for _ in range(r.randint(0, 3))],
        "empty_object": {},
        "empty_array": [],
    }


def generate_events(path, size, seed):
    r = random.Random(seed)
    tmp = path + ".part"
    written = 0
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write("[")
        i = 0
        while written < size:
            line = json.dumps(_ev_record(r, i + 1), separators=(",", ":"))  # ensure_ascii=True
            if i:
                f.write(",")
            f.write(line)
            written += len(line) + 1
            i += 1
        f.write("]\n")
    os.replace(tmp, path)
    return i


# name: (generator, file name prefix, label in the comparisons)
FILES = {
    "records": (generate, "export", "file A: flat CRM records"),
    "events": (generate_events, "events", "file B: nested events, escapes, \\u, floats"),
}


# ---------------------------------------------------------------- children

def python_child(path, mode):
    """The Python row: the same phases as json_bench.lua."""
    clock = time.process_time

    def reset_peak():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def peak_kb():
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return -1

    import gc
    with open(path, "rb") as f:
        data = f.read()
    reset_peak()
    t0 = clock()
    value = json.loads(data)
    decode_s = clock() - t0
    decode_peak = peak_kb()
    encode_s, encode_peak, out_bytes = -1, -1, -1
    if mode == "roundtrip":
        size = len(data)
        del data
        gc.collect()
        reset_peak()
        t0 = clock()
        out = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        encode_s = clock() - t0
        encode_peak = peak_kb()
        out_bytes = len(out.encode("utf-8"))
    else:
        size = len(data)
    print("RESULT bytes=%d decode_s=%.6f encode_s=%.6f decode_peak_kb=%d encode_peak_kb=%d out_bytes=%d"
          % (size, decode_s, encode_s, decode_peak, encode_peak, out_bytes))


# ---------------------------------------------------------------- main

def ensure_lua_cjson():
    """Installs stock lua5.4 and lua-cjson (Debian packages) with apt-get when missing."""
    missing = []
    if not shutil.which("lua5.4"):
        missing.append("lua5.4")
    if not missing:
        ok = subprocess.run(["lua5.4", "-e", "require 'cjson'"], capture_output=True).returncode == 0
        if ok:
            return
    missing.append("lua-cjson")
    common.apt_install(missing)


def main():
    if common.ran_python_child(python_child, 2):
        return

    ap = common.parser(__doc__)
    ap.add_argument("--size-mb", type=float, default=100, help="size of each generated file (default 100)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--runs", type=int, default=3, help="processes per implementation and phase (best is kept)")
    common.add_out_option(ap)
    ap.add_argument("--only", default="moonport,cjson,python", help="comma-separated subset of moonport,cjson,python")
    ap.add_argument("--files", default=",".join(FILES), help="comma-separated subset of " + ",".join(FILES))
    common.add_json_out_option(ap)
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    size = int(args.size_mb * MB)
    only = set(args.only.split(","))
    binary = None
    if "moonport" in only:
        binary = os.path.abspath(args.bin) if args.bin else common.build_moonport(args.scratch_path)
    if "cjson" in only:
        ensure_lua_cjson()
    measured = []
    for kind in args.files.split(","):
        make, prefix, label = FILES[kind]
        path = os.path.join(args.out, "%s-%dMB-seed%d.json" % (prefix, round(args.size_mb), args.seed))
        if not os.path.exists(path):
            print("generating %s ..." % path, flush=True)
            t0 = time.perf_counter()
            n = make(path, size, args.seed)
            print("  %d records in %.1f s" % (n, time.perf_counter() - t0), flush=True)
        results = measure(args, only, binary, path)
        measured.append((kind, label, path, os.path.getsize(path), results))
    for kind, label, path, file_bytes, results in measured:
        print_table(label, path, file_bytes, results)
    if args.json_out:
        write_json_out(args, measured)


def measure(args, only, binary, path):
    """Runs every implementation on `path`; returns {name: best figures}."""
    impls = []
    if "moonport" in only:
        impls.append(("moonport json", ("decode", "roundtrip"),
                      lambda mode: [binary, "run", LUA_BENCH, "json", path, mode]))
        impls.append(("moonport json.read(path)", ("read",),
                      lambda mode: [binary, "run", LUA_BENCH, "json", path, mode]))
    if "cjson" in only:
        lua = shutil.which("lua5.4") or "lua5.4"
        impls.append(("lua5.4 + lua-cjson", ("decode", "roundtrip"), lambda mode: [lua, LUA_BENCH, "cjson", path, mode]))
    if "python" in only:
        impls.append(("python3 json", ("decode", "roundtrip"),
                      lambda mode: [sys.executable, os.path.abspath(__file__), "--python-child", path, mode]))

    print("file: %s" % path, flush=True)
    results = {}
    for name, modes, cmd in impls:
        best = {"decode_s": float("inf"), "encode_s": float("inf"), "decode_peak_kb": 0, "encode_peak_kb": 0,
                "maxrss_kb": 0, "out_bytes": 0}
        for run in range(args.runs):
            for mode in modes:
                fields, maxrss, wall, _ = common.run_child(cmd(mode))
                best["decode_s"] = min(best["decode_s"], fields["decode_s"])
                if mode in ("decode", "read"):
                    best["decode_peak_kb"] = max(best["decode_peak_kb"], fields["decode_peak_kb"])
                    best["maxrss_kb"] = max(best["maxrss_kb"], maxrss)
                else:
                    best["encode_s"] = min(best["encode_s"], fields["encode_s"])
                    best["encode_peak_kb"] = max(best["encode_peak_kb"], fields["encode_peak_kb"])
                    best["out_bytes"] = fields["out_bytes"]
                print("  %-20s run %d %-9s decode %.3f s  encode %s  process peak %d MB  wall %.1f s" % (
                    name, run + 1, mode, fields["decode_s"],
                    "%.3f s" % fields["encode_s"] if fields["encode_s"] >= 0 else "-",
                    maxrss * 1024 // MB, wall), flush=True)
        results[name] = best
    return results


def print_table(label, path, file_bytes, results):
    base = results.get("lua5.4 + lua-cjson")
    mb = file_bytes / MB
    print()
    print("%s: %s (%.1f MB)" % (label, path, mb))
    header = ("implementation", "decode MB/s", "encode MB/s", "decode peak MB", "peak/file",
              "process peak MB", "decode vs cjson", "encode vs cjson", "output MB")
    rows = []
    for name, r in results.items():
        has_encode = r["encode_s"] != float("inf")
        rows.append((
            name, "%.1f" % (mb / r["decode_s"]), "%.1f" % (mb / r["encode_s"]) if has_encode else "-",
            "%.0f" % (r["decode_peak_kb"] * 1024 / MB),
            "%.2f" % (r["decode_peak_kb"] * 1024 / file_bytes), "%.0f" % (r["maxrss_kb"] * 1024 / MB),
            "%.2fx" % (base["decode_s"] / r["decode_s"]) if base else "-",
            "%.2fx" % (base["encode_s"] / r["encode_s"]) if base and has_encode else "-",
            "%.1f" % (r["out_bytes"] / MB) if has_encode else "-"))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))


def write_json_out(args, measured):
    """--json-out: the tables' numbers, and moonport's rows beside each
    reference, for each file (the measure names say which file)."""
    rows = []
    comparisons = []
    for kind, label, path, file_bytes, results in measured:
        mb = file_bytes / MB
        file_rows = []
        for name, r in results.items():
            has_encode = r["encode_s"] != float("inf")
            file_rows.append({
                "implementation": name, "file": kind, "file_label": label,
                "decode_s": r["decode_s"], "encode_s": r["encode_s"] if has_encode else None,
                "decode_mb_s": mb / r["decode_s"], "encode_mb_s": mb / r["encode_s"] if has_encode else None,
                "decode_peak_mb": r["decode_peak_kb"] * 1024 / MB, "process_peak_mb": r["maxrss_kb"] * 1024 / MB,
                "output_mb": r["out_bytes"] / MB if has_encode else None,
            })
        rows.extend(file_rows)
        by_name = {row["implementation"]: row for row in file_rows}
        measures = [("decode", "decode_mb_s", "MB/s", "higher"), ("encode", "encode_mb_s", "MB/s", "higher"),
                    ("decode peak memory", "decode_peak_mb", "MB", "lower"),
                    ("process peak memory", "process_peak_mb", "MB", "lower")]
        for ref_name in ("lua5.4 + lua-cjson", "python3 json"):
            ref = by_name.get(ref_name)
            if ref is None:
                continue
            for mine_name in ("moonport json", "moonport json.read(path)"):
                mine = by_name.get(mine_name)
                if mine is None:
                    continue
                for measure, key, unit, better in measures:
                    if mine_name != "moonport json" and measure == "encode":
                        continue  # json.read only decodes
                    if ref_name == "python3 json" and "memory" in measure:
                        continue  # memory is compared with lua-cjson only
                    if mine[key] is None or ref[key] is None:
                        continue
                    what = measure if mine_name == "moonport json" else measure + ", json.read(path)"
                    comparisons.append({"measure": "%s (%.0f MB %s)" % (what, mb, label),
                                        "unit": unit, "better": better,
                                        "moonport": mine[key], "moonport_label": mine_name,
                                        "reference": ref[key], "reference_label": ref_name})
    first = measured[0] if measured else (None, None, None, 0, None)
    out = {"bench": "json", "script": "scripts/bench/json.py", "argv": sys.argv[1:],
           "settings": {"file": first[2], "file_bytes": first[3], "runs": args.runs, "seed": args.seed,
                        "files": [{"file": kind, "label": label, "path": path, "bytes": file_bytes}
                                  for kind, label, path, file_bytes, _ in measured]},
           "rows": rows, "comparisons": comparisons}
    with open(args.json_out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
