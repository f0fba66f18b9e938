#!/usr/bin/env python3
"""Many workers sharing one state store (SPEC.md §6), against a standalone
`moonport sim` that every worker points at.

  across: crash-workload.lua started by worker 0, killed with SIGKILL at a
          random moment, resumed by worker 1 (its own working folder and
          HOME), killed again, ... until --kills kills landed mid-run; then
          one more worker finishes it. The simulator's counters must show 0
          duplicates and every row landed (20 transactions, 20,000 rows).
  race:   --workers workers started at the same moment on the same workflow
          and store: each step performed once (one Clari export, 20
          Claravine transactions), every worker prints the same result.
  bench:  state.once throughput (steps/s with a trivial fn; first pass
          performs, second pass reads back) and the wall time of one
          uninterrupted crash workload, SQLite vs PostgreSQL.

  python3 scripts/reliability/scale_out.py across|race|bench|all --postgres URL [--bin PATH]

The PostgreSQL URL defaults to $MOONPORT_TEST_POSTGRES_URL (scripts/test.sh,
or `source scripts/lib/postgres.sh; start_test_postgres`).
"""
import argparse, json, os, random, shutil, subprocess, sys, tempfile, threading, time, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reliability import Sim, ROOT  # noqa: E402

CRASH = os.path.join(ROOT, "scripts/reliability/crash-workload.lua")


def worker_env(sim, home, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLARI", "CLARAVINE", "QUANTIVE", "CORDIAL", "MEDIARITHMICS"))}
    env.update(sim.env)
    env["HOME"] = home
    env.update(extra or {})
    return env


class Worker:
    """A worker: a working folder and a HOME of its own, as another machine would have."""

    def __init__(self, base, n):
        self.dir = os.path.join(base, "worker-%02d" % n)
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)

    def start(self, binary, sim, state, namespace, script=CRASH):
        return subprocess.Popen([binary, "run", "--state", state, "--namespace", namespace, script],
                                cwd=self.dir, env=worker_env(sim, self.home), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check_stats(stats, label):
    created = stats["created"]
    ok = (stats["duplicates"]["total"] == 0 and created["clari"].get("export_jobs") == 1
          and created["claravine"].get("transactions") == 20 and created["claravine"].get("rows_received") == 20000)
    print("%s: simulator counters: clari export_jobs=%s, claravine transactions=%s rows_received=%s, duplicates=%s -> %s" % (
        label, created["clari"].get("export_jobs"), created["claravine"].get("transactions"),
        created["claravine"].get("rows_received"), stats["duplicates"]["total"], "OK" if ok else "FAILED"))
    return ok


def across(opts, base):
    rng = random.Random(opts.seed)
    namespace = "across-" + uuid.uuid4().hex[:8]
    with Sim(opts.bin, faults=opts.faults, seed=1) as sim:
        kills, n, t0 = 0, 0, time.time()
        while True:
            w = Worker(base, n)
            p = w.start(opts.bin, sim, opts.postgres, namespace)
            if kills < opts.kills:
                moment = rng.uniform(0.15, opts.max_kill_after)
                try:
                    out, err = p.communicate(timeout=moment)
                    print("worker %02d finished before its kill at %.2f s: exit %d %s" % (n, moment, p.returncode, out.strip()))
                    if p.returncode == 0:
                        break
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.communicate()
                    kills += 1
                    print("worker %02d killed (SIGKILL) at %.2f s (kill %d)" % (n, moment, kills))
            else:
                out, err = p.communicate(timeout=300)
                print("worker %02d resumed and finished: exit %d: %s %s" % (n, p.returncode, out.strip(), err.strip()[-300:]))
                if p.returncode == 0:
                    break
            n += 1
            if n > opts.kills * 4:
                print("gave up after %d workers" % n)
                return False
        ok = check_stats(sim.stats(), "across")
        print("across: %d workers, %d SIGKILLs mid-run, %.1f s, faults %r" % (n + 1, kills, time.time() - t0, opts.faults or "none"))
        return ok and kills == opts.kills


def race(opts, base):
    namespace = "race-" + uuid.uuid4().hex[:8]
    with Sim(opts.bin, seed=1) as sim:
        workers = [Worker(base, 100 + i) for i in range(opts.workers)]
        barrier = threading.Barrier(opts.workers)
        results = [None] * opts.workers

        def go(i):
            barrier.wait()
            p = workers[i].start(opts.bin, sim, opts.postgres, namespace)
            out, err = p.communicate(timeout=300)
            results[i] = (p.returncode, out.strip(), err.strip())

        t0 = time.time()
        threads = [threading.Thread(target=go, args=(i,)) for i in range(opts.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, (code, out, err) in enumerate(results):
            print("race worker %d: exit %d: %s%s" % (i, code, out, (" | " + err[-200:]) if code else ""))
        same = len({r[1] for r in results}) == 1 and all(r[0] == 0 for r in results)
        ok = check_stats(sim.stats(), "race")
        print("race: %d workers at once, %.1f s, every worker the same result: %s" % (opts.workers, time.time() - t0, same))
        return ok and same


def timed(cmd, cwd, env=None):
    t0 = time.time()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (cmd, p.returncode, p.stderr))
    return time.time() - t0


def bench(opts, base):
    n = opts.steps
    code = "local state = require 'state'; for i = 1, %d do state.once('step ' .. i, function() return i end) end" % n
    rows = []
    stores = [("SQLite", lambda d: os.path.join(d, "state.sqlite")), ("PostgreSQL", lambda d: opts.postgres)]
    for name, store in stores:
        d = tempfile.mkdtemp(dir=base)
        state = store(d)
        ns = "bench-" + uuid.uuid4().hex[:8]
        empty = min(timed([opts.bin, "run", "-e", "print(1)"], d) for _ in range(3))
        first = timed([opts.bin, "run", "--state", state, "--namespace", ns, "-e", code], d) - empty
        second = timed([opts.bin, "run", "--state", state, "--namespace", ns, "-e", code], d) - empty
        with Sim(opts.bin, seed=1) as sim:
            w = os.path.join(d, "w")
            os.makedirs(w)
            crash = timed([opts.bin, "run", "--state", state, "--namespace", ns, CRASH], w, worker_env(sim, w))
        rows.append((name, n / first, n / second, crash))
    print("| store | state.once performed (steps/s) | state.once read back (steps/s) | crash workload, one run (s) |")
    print("|---|---|---|---|")
    for name, a, b, c in rows:
        print("| %s | %.0f | %.0f | %.2f |" % (name, a, b, c))
    print("(%d steps of a trivial fn; process start-up subtracted)" % n)
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["across", "race", "bench", "all"])
    p.add_argument("--bin", default=os.path.join(ROOT, ".build/debug/moonport"))
    p.add_argument("--postgres", default=os.environ.get("MOONPORT_TEST_POSTGRES_URL"))
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--max-kill-after", type=float, default=0.8, help="across: kill moments are uniform in 0.15..this (s)")
    p.add_argument("--faults", default="500:0.05,reset:0.02,lost:0.02", help="across: the simulator's faults")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--steps", type=int, default=1000)
    opts = p.parse_args()
    if not opts.postgres:
        p.error("give --postgres URL or set MOONPORT_TEST_POSTGRES_URL")
    base = tempfile.mkdtemp(prefix="moonport-scale-out-")
    try:
        ok = True
        for what in (["across", "race", "bench"] if opts.what == "all" else [opts.what]):
            ok = {"across": across, "race": race, "bench": bench}[what](opts, base) and ok
        return 0 if ok else 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
