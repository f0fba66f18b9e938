#!/usr/bin/env python3
"""Reliability checks of the example workflows against the vendor simulator.

  soak:  every example workflow, once without faults and then N times under
         --faults with different seeds. Each run must succeed, print the same
         output and write the same files as the fault-free run, and the
         simulator's stats must show zero duplicates.
  crash: a workflow killed with SIGKILL at random moments and rerun with the
         same state database until it finishes: zero duplicates, no row lost.

  python3 scripts/reliability/reliability.py soak  [--bin PATH] [--runs 20]
  python3 scripts/reliability/reliability.py crash [--bin PATH] [--kills 20]

Each run gets its own `moonport sim` (so stats count that run alone, and a
killed client does not take the simulator with it) and its own folder.
"""
import argparse, hashlib, json, os, random, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAULTS = "500:0.1,429:0.05,reset:0.02,lost:0.02,truncate:0.01"
SPEED = "20"

# (script, arguments, output files to compare)
WORKFLOWS = [
    ("scripts/examples/forecast-to-claravine.lua", ["2024_Q1"], ["forecast-2024_Q1.csv"]),
    ("scripts/examples/concurrent-exports.lua", [], ["forecast-2023_Q3.csv", "forecast-2024_Q2.csv"]),
    ("scripts/examples/activities-to-mediarithmics.lua", [], []),
    ("scripts/examples/mediarithmics-push-activities.lua", [], []),
    ("scripts/examples/quantive-goals-to-csv.lua", [], ["goals.csv"]),
    ("scripts/examples/cordial-audience-export.lua", [], []),
]


class Sim:
    def __init__(self, binary, faults="", seed=1):
        # The seed also picks the demo data: a reference run uses the same seed.
        args = [binary, "sim", "--port", "0", "--speed", SPEED, "--seed", str(seed)]
        if faults:
            args += ["--faults", faults]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.env = {}
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

    def stats(self):
        with urllib.request.urlopen(self.env["MOONPORT_SIM_URL"] + "/__sim/stats", timeout=10) as r:
            return json.load(r)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_client(binary, sim, script, args, folder, timeout=600, kill_after=None):
    env = dict(os.environ)
    for k in list(env):
        if k.endswith("_BASE_URL") or k in ("MOONPORT_SANDBOX", "QUANTIVE_REGION", "MOONPORT_PROFILE"):
            del env[k]
    env.update(sim.env)
    env["MOONPORT_SIM_SPEED"] = SPEED
    cmd = [binary, "run", "--state", os.path.join(folder, "state.sqlite"), os.path.join(ROOT, script)] + args
    p = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        try:
            out, err = p.communicate(timeout=kill_after)
            return p.returncode, out, err
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            out, err = p.communicate()
            return None, out, err
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def outputs(folder, files):
    return {f: digest(os.path.join(folder, f)) for f in files if os.path.exists(os.path.join(folder, f))}


def leftovers(folder):
    return [f for f in os.listdir(folder) if ".tmp" in f or f.endswith(".part")]


def soak(opts):
    failures, table = 0, []
    for script, args, files in WORKFLOWS:
        name = os.path.basename(script)
        ok, dups, faults_seen, secs = 0, 0, 0, 0.0
        for seed in range(1, opts.runs + 1):
            # The fault-free run with the same seed (same demo data) is the reference.
            ref_folder = tempfile.mkdtemp(prefix="soak-ref-")
            sim = Sim(opts.bin, "", seed)
            code, ref_out, err = run_client(opts.bin, sim, script, args, ref_folder)
            sim.stop()
            if code != 0:
                print(f"{name} seed {seed}: the fault-free run failed ({code}):\n{err}", file=sys.stderr)
                failures += 1
                continue
            ref_files = outputs(ref_folder, files)
            shutil.rmtree(ref_folder)
            folder = tempfile.mkdtemp(prefix="soak-")
            sim = Sim(opts.bin, FAULTS, seed)
            t0 = time.time()
            code, out, err = run_client(opts.bin, sim, script, args, folder)
            secs += time.time() - t0
            stats = sim.stats()
            sim.stop()
            d = stats["duplicates"]["total"]
            dups += d
            faults_seen += sum(stats["faults"].values())
            same = out == ref_out and outputs(folder, files) == ref_files and not leftovers(folder)
            if code == 0 and same and d == 0:
                ok += 1
                shutil.rmtree(folder)
            else:
                failures += 1
                print(f"{name} seed {seed}: exit {code}, duplicates {d}, same output {same} (kept {folder})\n{err[-3000:]}",
                      file=sys.stderr)
        table.append((name, ok, opts.runs, faults_seen, dups, secs / opts.runs))
    print(f"\nfault soak: --faults \"{FAULTS}\", seeds 1..{opts.runs}, MOONPORT_SIM_SPEED={SPEED}\n")
    print("| workflow | runs ok | faults injected | duplicates | mean run |")
    print("|---|---|---|---|---|")
    for name, ok, runs, f, d, s in table:
        print(f"| {name} | {ok}/{runs} | {f} | {d} | {s:.1f} s |")
    return 1 if failures else 0


CRASH_SCRIPT = "scripts/reliability/crash-workload.lua"


def crash(opts):
    rng = random.Random(opts.seed)
    # How long an uninterrupted run takes, to pick kill moments inside it.
    folder = tempfile.mkdtemp(prefix="crash-ref-")
    sim = Sim(opts.bin)
    t0 = time.time()
    code, ref_out, err = run_client(opts.bin, sim, CRASH_SCRIPT, [], folder)
    full = time.time() - t0
    ref_stats = sim.stats()
    sim.stop()
    if code != 0:
        print("the uninterrupted run failed:\n" + err, file=sys.stderr)
        return 1
    shutil.rmtree(folder)
    failures, rows, k = 0, [], 0
    # Kill moments are drawn over the whole run; one that comes after the
    # run has ended is not counted, and another is drawn.
    while sum(1 for r in rows if r[2]) < opts.kills and len(rows) < 3 * opts.kills:
        k += 1
        folder = tempfile.mkdtemp(prefix="crash-")
        sim = Sim(opts.bin)
        at = rng.uniform(0.05, full)
        code, out, err = run_client(opts.bin, sim, CRASH_SCRIPT, [], folder, kill_after=at)
        killed = code is None
        reruns = 0
        while code != 0 and reruns < 5:
            reruns += 1
            code, out, err = run_client(opts.bin, sim, CRASH_SCRIPT, [], folder)
        stats = sim.stats()
        sim.stop()
        d = stats["duplicates"]["total"]
        landed = stats["created"]["claravine"].get("rows_received", 0)
        good = code == 0 and d == 0 and out == ref_out and not leftovers(folder)
        rows.append((k, at, killed, reruns, d, landed))
        if good:
            shutil.rmtree(folder)
        else:
            failures += 1
            print(f"kill {k} at {at:.2f} s: exit {code}, duplicates {d} (kept {folder})\n{err[-3000:]}", file=sys.stderr)
    print(f"\ncrash test: {CRASH_SCRIPT}, uninterrupted run {full:.1f} s, "
          f"{ref_stats['created']['claravine'].get('transactions', 0)} transactions\n")
    print("| kill | at | killed mid-run | reruns | duplicates | rows received by the simulator |")
    print("|---|---|---|---|---|---|")
    for k, at, killed, reruns, d, landed in rows:
        print(f"| {k} | {at:.2f} s | {'yes' if killed else 'no (had finished)'} | {reruns} | {d} | {landed} |")
    kills = sum(1 for r in rows if r[2])
    print(f"\n{kills} runs killed mid-run; {len(rows) - failures}/{len(rows)} runs finished with the reference output and no duplicate")
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["soak", "crash"])
    p.add_argument("--bin", default=os.path.join(ROOT, ".build/release/moonport"))
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    opts = p.parse_args()
    sys.exit(soak(opts) if opts.what == "soak" else crash(opts))


main()
