#!/usr/bin/env python3
"""Reliability checks of the example workflows against the vendor simulator.

The whole suite (this soak and crash test, plus the bad-input corpus and the
vendor error bodies) is one command: scripts/reliability/run.py. The soak and
the crash test are `moonport soak` (the same harness users run on their own
scripts; see docs/operators.md); this file only says which workflows, with
which arguments and files to compare, and sums up:

  soak:  every example workflow, `moonport soak --seeds N`: once without
         faults (the reference), then once per seed under --faults; each run
         must print the same output and write the same files as the
         reference, leave no temporary file behind, and the simulator must
         count zero duplicates. --jobs workflows are soaked at once.
  crash: crash-workload.lua, `moonport soak --kill N`: killed with SIGKILL at
         random moments and rerun on the same state database until it
         finishes: the reference output, zero duplicates.

  python3 scripts/reliability/reliability.py soak  [--bin PATH] [--runs 20] [--jobs 4]
  python3 scripts/reliability/reliability.py crash [--bin PATH] [--kills 20]

`Sim` (a standalone `moonport sim`) is kept for scripts/bench. Standard
library only.
"""
import argparse, concurrent.futures, json, os, re, signal, subprocess, sys, tempfile, threading, time, \
    urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAULTS = "500:0.1,429:0.05,reset:0.02,lost:0.02,truncate:0.01"
SPEED = "20"
RUN_TIMEOUT = 300  # seconds: a client run taking longer counts as a hang

# The cordial example reads its S3 destination from the environment (it only
# falls back to sandbox values under --sandbox); the simulator's S3 store takes
# any bucket and keys, and the client finds it through MOONPORT_SIM_S3_URL.
CORDIAL_ENV = {"CORDIAL_S3_BUCKET": "moonport-soak-exports", "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "soak-access-key-id", "AWS_SECRET_ACCESS_KEY": "soak-secret-access-key"}

# (script, arguments, output files to compare, extra environment)
WORKFLOWS = [
    ("scripts/examples/forecast-to-claravine.lua", ["2024_Q1"], ["forecast-2024_Q1.csv"], {}),
    ("scripts/examples/concurrent-exports.lua", [], ["forecast-2023_Q3.csv", "forecast-2024_Q2.csv"], {}),
    ("scripts/examples/activities-to-mediarithmics.lua", [], [], {}),
    ("scripts/examples/mediarithmics-push-activities.lua", [], [], {}),
    ("scripts/examples/quantive-goals-to-csv.lua", [], ["goals.csv"], {}),
    ("scripts/examples/cordial-audience-export.lua", [], ["audience-trends.csv"], CORDIAL_ENV),
]


class Sim:
    """A standalone `moonport sim` on a free port; its environment lines parsed."""

    def __init__(self, binary, faults="", seed=1):
        # The seed also picks the demo data: a reference run uses the same seed.
        args = [binary, "sim", "--port", "0", "--speed", SPEED, "--seed", str(seed)]
        if faults:
            args += ["--faults", faults]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.env = {}
        try:
            deadline = time.time() + 20
            while time.time() < deadline:
                line = self.proc.stdout.readline()
                if not line:
                    break
                m = re.match(r"export (\w+)=(\S+)", line.strip())
                if m:
                    self.env[m.group(1)] = m.group(2).strip("'\"")
                if line.startswith("Ctrl-C"):
                    break
            if "MOONPORT_SIM_URL" not in self.env:
                raise RuntimeError("moonport sim did not start: " + self.proc.stderr.read())
        except BaseException:
            self.stop()
            raise
        # Drain its output so that a chatty simulator never blocks on a full pipe.
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=stream.read, daemon=True).start()

    def stats(self):
        with urllib.request.urlopen(self.env["MOONPORT_SIM_URL"] + "/__sim/stats", timeout=30) as r:
            return json.load(r)

    def stop(self):
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def moonport_soak(binary, script, args, options, env=None):
    """Runs `moonport soak OPTIONS SCRIPT ARGS` (the one implementation of the
    soak and the crash test, in the binary). Returns (exit code, the report
    dict, the printed table, stderr)."""
    fd, report = tempfile.mkstemp(prefix="soak-report-", suffix=".json")
    os.close(fd)
    extra = []
    for k, v in (env or {}).items():
        extra += ["--env", "%s=%s" % (k, v)]
    cmd = [binary, "soak", "--speed", SPEED, "--faults", FAULTS, "--timeout", str(RUN_TIMEOUT), "--report", report] \
        + options + extra \
        + [os.path.join(ROOT, script)] + args
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
        try:
            with open(report) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            doc = {"ok": False, "runs": []}
    finally:
        os.unlink(report)
    return p.returncode, doc, p.stdout, p.stderr


def soak_workflow(opts, workflow):
    script, args, files, env = workflow
    options = ["--seeds", str(opts.runs), "--kill", "0"]
    for f in files:
        options += ["--compare", f]
    return (workflow,) + moonport_soak(opts.bin, script, args, options, env)


def soak(opts):
    """Every example workflow under faults, --runs seeds each (`moonport soak`).
    Returns (exit status, summary dict)."""
    t0 = time.time()
    outcomes = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as ex:
        for workflow, code, doc, table, err in ex.map(lambda wf: soak_workflow(opts, wf), WORKFLOWS):
            outcomes.append((workflow, code, doc))
            name = os.path.basename(workflow[0])
            if code != 0:
                print("%s: moonport soak exited %d\n%s\n%s" % (name, code, table, err[-3000:]), file=sys.stderr, flush=True)
            if opts.progress:
                print(table, flush=True)
    wall = time.time() - t0
    kinds, rows, runs, ok, duplicates = {}, [], 0, 0, 0
    for workflow, code, doc in outcomes:
        faulted = [r for r in doc.get("runs", []) if r["run"] == "faults"]
        for r in faulted:
            for k, v in r["faults"].items():
                kinds[k] = kinds.get(k, 0) + v
        n_ok = sum(1 for r in faulted if r["ok"])
        dup = sum(r["duplicates"] for r in doc.get("runs", []))
        secs = sum(r["seconds"] for r in faulted) / max(1, len(faulted))
        rows.append((os.path.basename(workflow[0]), n_ok, opts.runs, sum(sum(r["faults"].values()) for r in faulted), dup, secs))
        runs += opts.runs
        ok += n_ok
        duplicates += dup
    print(f"\nfault soak (moonport soak): --faults \"{FAULTS}\", seeds 1..{opts.runs}, MOONPORT_SIM_SPEED={SPEED}, "
          f"{opts.jobs} workflows at once, {wall:.0f} s\n")
    print("| workflow | runs ok | faults injected | duplicates | mean faulted run |")
    print("|---|---|---|---|---|")
    for name, n_ok, n, f, d, s in rows:
        print(f"| {name} | {n_ok}/{n} | {f} | {d} | {s:.1f} s |")
    print("\nfaults injected by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    failed = any(code != 0 for _, code, _ in outcomes)
    summary = {"runs": runs, "ok": ok, "faults": sum(kinds.values()), "faults_by_kind": kinds,
               "duplicates": duplicates, "wall": wall}
    return (1 if failed else 0), summary


CRASH_SCRIPT = "scripts/reliability/crash-workload.lua"


def crash(opts):
    """crash-workload.lua killed with SIGKILL at --kills random moments and rerun
    on the same state (`moonport soak --kill`). Returns (exit status, summary dict)."""
    t0 = time.time()
    code, doc, table, err = moonport_soak(opts.bin, CRASH_SCRIPT, [], ["--seeds", "0", "--kill", str(opts.kills),
                                                                        "--kill-seed", str(opts.seed)])
    print(table)
    if code != 0:
        print("moonport soak exited %d\n%s" % (code, err[-3000:]), file=sys.stderr)
    kill_runs = [r for r in doc.get("runs", []) if r["run"] == "kill"]
    kills = sum(1 for r in kill_runs if r["killed"])
    summary = {"kills": kills, "runs": len(kill_runs), "ok": sum(1 for r in kill_runs if r["ok"]),
               "duplicates": sum(r["duplicates"] for r in doc.get("runs", [])), "wall": time.time() - t0}
    return (1 if code != 0 else 0), summary


def add_options(p):
    p.add_argument("--bin", default=os.path.join(ROOT, ".build/release/moonport"))
    p.add_argument("--runs", type=int, default=20, help="soak: seeds per workflow (default 20)")
    p.add_argument("--jobs", type=int, default=4, help="soak: workflows soaked at once (default 4)")
    p.add_argument("--kills", type=int, default=20, help="crash: kills that land mid-run (default 20)")
    p.add_argument("--seed", type=int, default=1, help="crash: seed of the kill moments")
    p.add_argument("--progress", action="store_true", help="soak: each workflow's table as it ends")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["soak", "crash"])
    add_options(p)
    opts = p.parse_args()
    opts.bin = os.path.abspath(opts.bin)
    status, _ = soak(opts) if opts.what == "soak" else crash(opts)
    sys.exit(status)


if __name__ == "__main__":
    main()
