#!/usr/bin/env python3
"""Reliability checks of the example workflows against the vendor simulator.

The whole suite (this soak and crash test, plus the bad-input corpus and the
vendor error bodies) is one command: scripts/reliability/run.py. This file
holds the soak and the crash test, and runs either alone:

  soak:  every example workflow, once without faults and then under --faults,
         for N seeds. Each faulted run must succeed, print the same output
         and write the same files as the fault-free run of the same seed (the
         seed also picks the demo data), leave no temporary file behind, and
         the simulator's stats must show zero duplicates. --jobs runs that
         many (seed, workflow) pairs at once, each pair with its own
         simulators (the runs mostly wait on simulated job timings).
  crash: a workflow killed with SIGKILL at random moments and rerun with the
         same state database until it finishes: zero duplicates, no row lost.

  python3 scripts/reliability/reliability.py soak  [--bin PATH] [--runs 20] [--jobs 4]
  python3 scripts/reliability/reliability.py crash [--bin PATH] [--kills 20]

Each run gets its own `moonport sim` (so stats count that run alone, and a
killed client does not take the simulator with it) and its own folder.
Standard library only.
"""
import argparse, concurrent.futures, hashlib, json, os, random, re, shutil, signal, subprocess, sys, tempfile, \
    threading, time, urllib.request

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


def client_env(sim, extra=None):
    env = dict(os.environ)
    for k in list(env):
        if k.endswith("_BASE_URL") or k in ("MOONPORT_SANDBOX", "QUANTIVE_REGION", "MOONPORT_PROFILE"):
            del env[k]
    env.update(sim.env)
    env["MOONPORT_SIM_SPEED"] = SPEED
    env.update(extra or {})
    return env


def run_client(binary, sim, script, args, folder, timeout=RUN_TIMEOUT, kill_after=None, env=None):
    """Runs a script against `sim` in `folder`. Returns (exit code, stdout, stderr); the code is
    None when killed by kill_after, "hang" when it ran past `timeout` (then killed)."""
    cmd = [binary, "run", "--state", os.path.join(folder, "state.sqlite"), os.path.join(ROOT, script)] + args
    p = subprocess.Popen(cmd, cwd=folder, env=client_env(sim, env), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        try:
            out, err = p.communicate(timeout=kill_after)
            return p.returncode, out, err
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            out, err = p.communicate()
            return None, out, err
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return "hang", out, err + "\n(killed after %d s: no exit)" % timeout
    return p.returncode, out, err


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def outputs(folder, files):
    return {f: digest(os.path.join(folder, f)) for f in files if os.path.exists(os.path.join(folder, f))}


def leftovers(folder):
    return [f for f in os.listdir(folder) if ".tmp" in f or f.endswith(".part")]


def soak_one(binary, workflow, seed):
    """One seed of one workflow: the fault-free reference run, then the faulted run.
    Returns a dict: name, seed, ok, faults (injected, by kind), duplicates, secs, problem."""
    script, args, files, env = workflow
    name = os.path.basename(script)
    result = {"name": name, "seed": seed, "ok": False, "faults": {}, "duplicates": 0, "secs": 0.0, "problem": ""}
    ref_folder = tempfile.mkdtemp(prefix="soak-ref-")
    folder = tempfile.mkdtemp(prefix="soak-")
    keep = None  # the folder kept for a look when the seed fails
    try:
        with Sim(binary, "", seed) as sim:
            code, ref_out, err = run_client(binary, sim, script, args, ref_folder, env=env)
        if code != 0:
            keep = ref_folder
            result["problem"] = f"the fault-free run failed ({code}); kept {ref_folder}\n{err[-3000:]}"
            return result
        ref_files = outputs(ref_folder, files)
        missing = [f for f in files if f not in ref_files]
        if missing:
            keep = ref_folder
            result["problem"] = f"the fault-free run wrote no {', '.join(missing)}; kept {ref_folder}"
            return result
        with Sim(binary, FAULTS, seed) as sim:
            t0 = time.time()
            code, out, err = run_client(binary, sim, script, args, folder, env=env)
            result["secs"] = time.time() - t0
            stats = sim.stats()
        d = stats["duplicates"]["total"]
        result["duplicates"] = d
        result["faults"] = {k: v for k, v in stats["faults"].items() if v}
        got_files = outputs(folder, files)
        left = leftovers(folder)
        if code == 0 and out == ref_out and got_files == ref_files and d == 0 and not left:
            result["ok"] = True
            return result
        keep = folder
        why = []
        if code != 0:
            why.append(f"exit {code}")
        if out != ref_out:
            why.append("stdout differs from the fault-free run")
        if got_files != ref_files:
            why.append("files differ: " + ", ".join(f for f in files if got_files.get(f) != ref_files.get(f)))
        if d:
            why.append(f"{d} duplicates: {json.dumps(stats['duplicates'])}")
        if left:
            why.append("temporary files left: " + ", ".join(left))
        result["problem"] = "; ".join(why) + f" (kept {folder})\n{err[-3000:]}"
        return result
    except Exception as e:  # a harness error is a failed run, reported with the others
        keep = folder
        result["problem"] = f"harness error: {e!r} (kept {folder})"
        return result
    finally:
        for f in (ref_folder, folder):
            if f != keep:
                shutil.rmtree(f, ignore_errors=True)


def soak(opts):
    """Returns (exit status, summary dict)."""
    t0 = time.time()
    # Seed-major order: long and short workflows interleave over the workers.
    pairs = [(wf, seed) for seed in range(1, opts.runs + 1) for wf in WORKFLOWS]
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as ex:
        futures = [ex.submit(soak_one, opts.bin, wf, seed) for wf, seed in pairs]
        for fut in concurrent.futures.as_completed(futures):
            r = fut.result()
            results.append(r)
            if not r["ok"]:
                print(f"{r['name']} seed {r['seed']}: {r['problem']}", file=sys.stderr, flush=True)
            if opts.progress:
                print(f"  soak {len(results)}/{len(pairs)}: {r['name']} seed {r['seed']} "
                      f"{'ok' if r['ok'] else 'FAILED'} ({r['secs']:.1f} s, faults {sum(r['faults'].values())})",
                      flush=True)
    wall = time.time() - t0
    table = []
    for script, *_ in WORKFLOWS:
        name = os.path.basename(script)
        rs = [r for r in results if r["name"] == name]
        table.append((name, sum(r["ok"] for r in rs), len(rs), sum(sum(r["faults"].values()) for r in rs),
                      sum(r["duplicates"] for r in rs), sum(r["secs"] for r in rs) / max(1, len(rs))))
    kinds = {}
    for r in results:
        for k, v in r["faults"].items():
            kinds[k] = kinds.get(k, 0) + v
    print(f"\nfault soak: --faults \"{FAULTS}\", seeds 1..{opts.runs}, MOONPORT_SIM_SPEED={SPEED}, "
          f"{opts.jobs} at once, {wall:.0f} s\n")
    print("| workflow | runs ok | faults injected | duplicates | mean faulted run |")
    print("|---|---|---|---|---|")
    for name, ok, runs, f, d, s in table:
        print(f"| {name} | {ok}/{runs} | {f} | {d} | {s:.1f} s |")
    print("\nfaults injected by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    summary = {"runs": len(results), "ok": sum(r["ok"] for r in results),
               "faults": sum(sum(r["faults"].values()) for r in results), "faults_by_kind": kinds,
               "duplicates": sum(r["duplicates"] for r in results), "wall": wall}
    return (0 if summary["ok"] == summary["runs"] else 1), summary


CRASH_SCRIPT = "scripts/reliability/crash-workload.lua"


def crash(opts):
    """Returns (exit status, summary dict)."""
    t_start = time.time()
    rng = random.Random(opts.seed)
    # How long an uninterrupted run takes, to pick kill moments inside it.
    folder = tempfile.mkdtemp(prefix="crash-ref-")
    with Sim(opts.bin) as sim:
        t0 = time.time()
        code, ref_out, err = run_client(opts.bin, sim, CRASH_SCRIPT, [], folder)
        full = time.time() - t0
        ref_stats = sim.stats()
    if code != 0:
        print(f"the uninterrupted run failed ({code}), kept {folder}:\n" + err, file=sys.stderr)
        return 1, {"kills": 0, "runs": 0, "ok": 0, "duplicates": 0, "wall": time.time() - t_start}
    shutil.rmtree(folder)
    failures, rows, k = 0, [], 0
    # Kill moments are drawn over the whole run; one that comes after the
    # run has ended is not counted, and another is drawn.
    while sum(1 for r in rows if r[2]) < opts.kills and len(rows) < 3 * opts.kills:
        k += 1
        folder = tempfile.mkdtemp(prefix="crash-")
        at = rng.uniform(0.05, full)
        with Sim(opts.bin) as sim:
            code, out, err = run_client(opts.bin, sim, CRASH_SCRIPT, [], folder, kill_after=at)
            killed = code is None
            reruns = 0
            while code != 0 and reruns < 5:
                reruns += 1
                code, out, err = run_client(opts.bin, sim, CRASH_SCRIPT, [], folder)
            stats = sim.stats()
        d = stats["duplicates"]["total"]
        landed = stats["created"]["claravine"].get("rows_received", 0)
        good = code == 0 and d == 0 and out == ref_out and not leftovers(folder)
        rows.append((k, at, killed, reruns, d, landed))
        if good:
            shutil.rmtree(folder)
        else:
            failures += 1
            print(f"kill {k} at {at:.2f} s: exit {code}, duplicates {d} (kept {folder})\n{err[-3000:]}", file=sys.stderr)
        if opts.progress:
            print(f"  crash {k}: kill at {at:.2f} s, {'killed mid-run' if killed else 'had finished'}, "
                  f"{reruns} rerun(s), {'ok' if good else 'FAILED'}", flush=True)
    print(f"\ncrash test: {CRASH_SCRIPT}, uninterrupted run {full:.1f} s, "
          f"{ref_stats['created']['claravine'].get('transactions', 0)} transactions\n")
    print("| kill | at | killed mid-run | reruns | duplicates | rows received by the simulator |")
    print("|---|---|---|---|---|---|")
    for k, at, killed, reruns, d, landed in rows:
        print(f"| {k} | {at:.2f} s | {'yes' if killed else 'no (had finished)'} | {reruns} | {d} | {landed} |")
    kills = sum(1 for r in rows if r[2])
    print(f"\n{kills} runs killed mid-run; {len(rows) - failures}/{len(rows)} runs finished with the reference output and no duplicate")
    summary = {"kills": kills, "runs": len(rows), "ok": len(rows) - failures,
               "duplicates": sum(r[4] for r in rows), "wall": time.time() - t_start}
    enough = kills >= opts.kills
    if not enough:
        print(f"only {kills} of the {opts.kills} kills landed mid-run", file=sys.stderr)
    return (1 if failures or not enough else 0), summary


def add_options(p):
    p.add_argument("--bin", default=os.path.join(ROOT, ".build/release/moonport"))
    p.add_argument("--runs", type=int, default=20, help="soak: seeds per workflow (default 20)")
    p.add_argument("--jobs", type=int, default=4, help="soak: (seed, workflow) pairs run at once (default 4)")
    p.add_argument("--kills", type=int, default=20, help="crash: kills that land mid-run (default 20)")
    p.add_argument("--seed", type=int, default=1, help="crash: seed of the kill moments")
    p.add_argument("--progress", action="store_true", help="a line per finished run")


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
