#!/usr/bin/env python3
"""HTTP benchmark: moonport's http module vs wrk, Python requests and curl.

    python3 scripts/bench/http.py [--bin PATH] [--requests 10000] [--size-mb 1024]
                                  [--skip-download] [--duration 5] [--runs 1] [--json-out FILE]

1. Installs what is missing with apt-get (after apt-get update): nginx-light,
   wrk, curl, python3-requests.
2. Starts nginx with its own temporary configuration, as the current user,
   beside (never touching) a system nginx:
       nginx -c CONF -p PREFIX -e PREFIX/error.log -g 'daemon off; pid PREFIX/nginx.pid;'
   listening on 127.0.0.1:<a free port> only; worker_processes 2, access_log
   off, gzip off, sendfile, keepalive (1,000,000 requests a connection). Its
   root holds a ~100-byte JSON file and the --size-mb MiB download file
   (random bytes, written once into bench-out/ and reused, with its SHA-256
   beside it). nginx is stopped in a finally block.
3. Builds moonport in release mode
   (swift build -c release --static-swift-stdlib --product moonport) unless
   --bin is given.
4. Small GETs, each client in a fresh process, all against the same server:
   - wrk -t1 -c1 and wrk -t2 -c64, for --duration seconds (the references);
   - python3 requests, a Session on 1 thread, and 64 threads with a Session
     each, --requests GETs in all;
   - moonport run scripts/bench/http_bench.lua gets ...: --requests
     http.get calls through task.map with concurrency 1 and 64;
   - the floor under them (Sources/TransportFloor, --floor; found beside
     --bin, where scripts/bench/all.py builds it): the same GETs through
     async-http-client alone, then with the hop to one waiting thread (as
     the Lua runtime's), then through moonport's transport without Lua.
     Each layer's cost is the difference between two rows.
   Every answer must be a 200 with the whole body: any error fails the run.
5. Download (unless --skip-download): curl -sS --fail -o FILE (the
   reference) and moonport http.get(url, {stream_to = FILE}); each output's
   size and SHA-256 are checked against the source file. moonport fsyncs
   the file before renaming it into place (its contract), curl does not: the
   time an fsync of curl's output takes is printed beside the table, and on
   disk the reference is curl + that fsync ("curl -o FILE + sync FILE", the
   same guarantee; curl alone is shown beside it). Both run twice: writing
   into --out (the disk) and into /dev/shm (a tmpfs, where fsync costs
   nothing: the HTTP path alone, compared with plain curl); --no-tmpfs skips
   the second.
6. Prints one table. "conns" is the most client connections to the server
   seen established at once (sampled from /proc/net/tcp every 50 ms);
   "client CPU s" is user+system time of the client process and "peak RSS"
   its ru_maxrss (os.wait4); "server CPU" is nginx's CPU time (master and
   workers) over the client's elapsed time, in % of one core (the machine
   has os.cpu_count() cores, shared by server and client). "VmHWM" is the
   client's own peak RSS sampled from /proc every 50 ms: ru_maxrss of a
   process forked from this driver never reads below the driver's RSS at the
   fork (about 20 MiB; Linux carries it over the exec), so small clients
   (curl, wrk) show that floor there. The moonport and
   python elapsed times cover the requests only (between START and RESULT
   lines the client prints, stamped by this driver as they arrive); wrk's
   is its --duration; curl's is the process's wall time. --json-out FILE
   also writes the rows, and moonport's beside each reference, as JSON
   (read by scripts/bench/all.py).

MB = 1,000,000 bytes; MiB = 1,048,576. Standard library only (the python
requests row imports requests in its own child process).
"""

import os
import sys

# This file is called http.py: keep its folder off the import path so that
# the standard library's http (used by requests in the python child) is found.
_here = os.path.dirname(os.path.abspath(__file__))
import common  # noqa: E402  (this folder's, imported before the folder leaves the path)
import nginx_ref  # noqa: E402  (likewise)
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402


REPO = common.REPO
LUA_BENCH = os.path.join(_here, "http_bench.lua")
MB = 1_000_000
MIB = 1_048_576
SMALL_NAME = "small.json"
SMALL_BODY = (b'{"id":1234567,"name":"moonport bench","status":"active","tags":["a","b","c"],'
              b'"amount":1234.5,"ok":true}\n')

# ---------------------------------------------------------------- tools


def ensure_tools(need_python_requests):
    also = []
    if need_python_requests:
        try:
            subprocess.run([sys.executable, "-c", "import requests"], check=True, capture_output=True)
        except subprocess.CalledProcessError:
            also.append("python3-requests")
    common.ensure_commands(nginx_ref.TOOLS, also)


# ---------------------------------------------------------------- data


def big_file(out_dir, size_mib):
    """The download's source (random bytes, reused) and its SHA-256."""
    path = os.path.join(out_dir, "http-%dMiB.bin" % size_mib)
    sidecar = path + ".sha256"
    size = size_mib * MIB
    if os.path.exists(path) and os.path.getsize(path) == size and os.path.exists(sidecar):
        with open(sidecar) as f:
            return path, f.read().strip()
    print("generating %s ..." % path, flush=True)
    t0 = time.perf_counter()
    h = hashlib.sha256()
    chunk = MIB
    with open(path + ".part", "wb") as f:
        left = size
        while left > 0:
            block = os.urandom(min(chunk, left))
            h.update(block)
            f.write(block)
            left -= len(block)
    os.replace(path + ".part", path)
    with open(sidecar, "w") as f:
        f.write(h.hexdigest() + "\n")
    print("  %d MiB in %.1f s" % (size_mib, time.perf_counter() - t0), flush=True)
    return path, h.hexdigest()


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(MIB)
            if not block:
                return h.hexdigest()
            h.update(block)


# ---------------------------------------------------------------- nginx


free_port = nginx_ref.free_port


class Nginx:
    def __init__(self, big_path):
        self.prefix = tempfile.mkdtemp(prefix="moonport-bench-nginx-")
        self.root = os.path.join(self.prefix, "www")
        os.makedirs(self.root)
        with open(os.path.join(self.root, SMALL_NAME), "wb") as f:
            f.write(SMALL_BODY)
        if big_path:
            os.symlink(big_path, os.path.join(self.root, os.path.basename(big_path)))
        self.port = free_port()
        self.proc = None
        self.conf = nginx_ref.write_config(self.prefix, self.root, self.port)

    def start(self):
        self.proc = nginx_ref.start(self.prefix, self.conf, self.port)

    def url(self, name):
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def cpu_seconds(self):
        """CPU time (user + system) of the master and its workers."""
        tick = os.sysconf("SC_CLK_TCK")
        pids = [self.proc.pid]
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
        total = 0
        for pid in pids:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except OSError:
                pass
        return total / tick

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)


# ---------------------------------------------------------------- measuring


class Sampler(threading.Thread):
    """Every 50 ms: the established client connections to 127.0.0.1:port (the
    most seen at once) and the client's VmHWM (its own peak RSS: ru_maxrss
    of a child forked by this driver never reads below the driver's RSS at
    the fork, which Linux carries over the exec)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port_hex = ":%04X" % port
        self.peak = 0
        self.hwm_kb = 0
        self.pid = None
        self.stopping = threading.Event()

    def hwm(self):
        if self.pid is None:
            return
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.hwm_kb = max(self.hwm_kb, int(line.split()[1]))
        except OSError:
            pass

    def count(self):
        n = 0
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                # rem_address is the server: a client socket; st 01 = ESTABLISHED
                if fields[2].endswith(self.port_hex) and fields[3] == "01":
                    n += 1
        return n

    def run(self):
        while not self.stopping.is_set():
            self.peak = max(self.peak, self.count())
            self.hwm()
            self.stopping.wait(0.05)

    def finish(self):
        self.stopping.set()
        self.join()
        return self.peak


# Sources/TransportFloor's modes: what each adds (see the top of its main.swift).
FLOOR_MODES = [("client", "async-http-client alone"),
               ("hop", "async-http-client + the hop to the Lua thread"),
               ("transport", "moonport's transport without Lua")]


def run_client(cmd, server, marks):
    """Runs one client process. Returns a dict: wall (process), work (START to
    RESULT when marks), fields of the RESULT line, stdout text, maxrss_kb,
    cpu (user+sys of the child), server_cpu (seconds), conns."""
    sampler = Sampler(server.port)
    cpu0 = server.cpu_seconds()
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, cwd=REPO)
        sampler.pid = p.pid
        sampler.start()
        t_start = t_result = None
        fields = {}
        lines = []
        for raw in p.stdout:
            now = time.perf_counter()
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            if marks and line == "START":
                t_start = now
            elif marks and line.startswith("RESULT "):
                t_result = now
                sampler.hwm()
                fields = dict(kv.split("=", 1) for kv in line.split()[1:])
        p.stdout.close()
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        server_cpu = server.cpu_seconds() - cpu0
        conns = sampler.finish()
        text = "\n".join(lines)
        if p.returncode != 0:
            err.seek(0)
            sys.exit("FAILED (exit %d): %s\n%s\n%s" % (p.returncode, " ".join(cmd), text,
                                                      err.read().decode("utf-8", "replace")))
    if marks and (t_start is None or t_result is None):
        sys.exit("no START/RESULT lines from: %s\n%s" % (" ".join(cmd), text))
    work = (t_result - t_start) if marks else wall
    return {"wall": wall, "work": work, "fields": fields, "text": text, "maxrss_kb": usage.ru_maxrss,
            "hwm_kb": sampler.hwm_kb,
            "cpu": usage.ru_utime + usage.ru_stime, "server_cpu": server_cpu, "conns": conns}


# ---------------------------------------------------------------- python requests child


def python_child(url, n, threads, expected):
    import requests
    n, threads, expected = int(n), int(threads), int(expected)
    counts = {"ok": 0, "errors": 0}
    first = []
    lock = threading.Lock()

    def worker(k):
        ok = errors = 0
        with requests.Session() as s:
            for _ in range(k):
                try:
                    r = s.get(url)
                    if r.status_code == 200 and len(r.content) == expected:
                        ok += 1
                        continue
                    why = "status %d, %d bytes" % (r.status_code, len(r.content))
                except Exception as e:  # noqa: BLE001 (counted, reported)
                    why = repr(e)
                errors += 1
                if not first:
                    first.append(why)
        with lock:
            counts["ok"] += ok
            counts["errors"] += errors

    shares = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    workers = [threading.Thread(target=worker, args=(k,)) for k in shares]
    print("START", flush=True)
    t0 = time.process_time()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print("RESULT ok=%d errors=%d retried=0 cpu=%.6f" % (counts["ok"], counts["errors"], time.process_time() - t0),
          flush=True)
    if counts["errors"]:
        print("python requests: %d errors; first: %s" % (counts["errors"], first[0]), file=sys.stderr)
        sys.exit(1)


# ---------------------------------------------------------------- wrk


def parse_wrk(text):
    out = {"requests": 0, "rate": 0.0, "non2xx": 0, "socket_errors": 0}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Requests/sec:"):
            out["rate"] = float(s.split()[1])
        elif " requests in " in s:
            out["requests"] = int(s.split()[0])
        elif s.startswith("Non-2xx or 3xx responses:"):
            out["non2xx"] = int(s.split(":")[1])
        elif s.startswith("Socket errors:"):
            # Socket errors: connect 0, read 0, write 0, timeout 0
            out["socket_errors"] = sum(int(part.split()[-1]) for part in s.split(":", 1)[1].split(","))
    return out


# ---------------------------------------------------------------- main


def main():
    if common.ran_python_child(python_child, 4):
        return

    ap = common.parser(__doc__)
    ap.add_argument("--requests", type=int, default=10000, help="GETs per moonport / python client (default 10000)")
    ap.add_argument("--size-mb", type=int, default=1024, help="size of the download in MiB (default 1024 = 1 GiB)")
    ap.add_argument("--skip-download", action="store_true", help="only the small GETs")
    ap.add_argument("--no-tmpfs", dest="download_tmpfs", action="store_false",
                    help="download to --out only (default: to --out, then to /dev/shm, a tmpfs: disk vs no disk)")
    ap.add_argument("--duration", type=int, default=5, help="seconds of each wrk run (default 5)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each client (the best is kept; default 1)")
    ap.add_argument("--python-threads", type=int, default=64, help="threads of the second python row (0: skip it)")
    common.add_out_option(ap)
    ap.add_argument("--floor", metavar="PATH",
                    help="the TransportFloor binary (default: beside --bin, built with it by all.py; "
                         "'' skips the floor rows)")
    ap.add_argument("--serve", action="store_true", help="only start the server, print its URLs and wait (for profiling)")
    common.add_json_out_option(ap)
    args = ap.parse_args()

    # Ctrl-C or a kill stops nginx too (the finally below), also when started in the background.
    def interrupted(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)

    ensure_tools(need_python_requests=not args.serve)
    os.makedirs(args.out, exist_ok=True)
    big_path, big_sha = (None, None) if args.skip_download else big_file(args.out, args.size_mb)
    big_size = os.path.getsize(big_path) if big_path else 0

    binary = None
    if not args.serve:
        binary = os.path.abspath(args.bin) if args.bin else common.build_moonport(args.scratch_path, static=True)

    if args.floor is None and binary:
        beside = os.path.join(os.path.dirname(binary), "TransportFloor")
        args.floor = beside if os.access(beside, os.X_OK) else ""
        if not args.floor:
            print("no TransportFloor beside %s: the floor rows are skipped (swift build -c release "
                  "--static-swift-stdlib --product TransportFloor)" % binary, flush=True)

    server = Nginx(big_path)
    try:
        server.start()
        small_url = server.url(SMALL_NAME)
        if args.serve:
            print(small_url)
            if big_path:
                print(server.url(os.path.basename(big_path)))
            print("serving; Ctrl-C to stop", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return
        run_all(args, server, binary, small_url, big_path, big_size, big_sha)
    finally:
        server.stop()


def fs_type(path):
    """The type of the file system holding path (from /proc/mounts)."""
    path, best, kind = os.path.realpath(path), "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            _, mount, fstype = line.split()[:3]
            if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                best, kind = mount, fstype
    return kind


def download_dirs(args):
    dirs = [args.out]
    if args.download_tmpfs and os.path.isdir("/dev/shm") and fs_type("/dev/shm") == "tmpfs":
        dirs.append("/dev/shm")
    return dirs


def best_of(runs, fn):
    best = None
    for i in range(runs):
        r = fn()
        if best is None or r["rate"] > best["rate"]:
            best = dict(r, maxrss_kb=max(r["maxrss_kb"], best["maxrss_kb"] if best else 0),
                        hwm_kb=max(r["hwm_kb"], best["hwm_kb"] if best else 0))
        else:
            best["maxrss_kb"] = max(best["maxrss_kb"], r["maxrss_kb"])
            best["hwm_kb"] = max(best["hwm_kb"], r["hwm_kb"])
    return best


def run_all(args, server, binary, small_url, big_path, big_size, big_sha):
    load_at_start = os.getloadavg()[0]
    n = args.requests
    expected = len(SMALL_BODY)
    cores = os.cpu_count()
    rows = []  # dicts: tool, workload, conns, amount, elapsed, rate, unit, cpu, rss, ref, server, errors, wall

    def note(r, label):
        print("  %-34s %9.0f %s  elapsed %.2f s  conns %d  client CPU %.2f s  peak %.1f MiB  server CPU %.0f%%" % (
            label, r["rate"], r["unit"], r["elapsed"], r["conns"], r["cpu"], r["maxrss_kb"] / 1024,
            100 * r["server_cpu"] / max(r["elapsed"], 1e-9)), flush=True)

    def wrk(conns, threads):
        def once():
            r = run_client(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % args.duration, small_url], server, False)
            w = parse_wrk(r["text"])
            if w["non2xx"] or w["socket_errors"] or not w["requests"]:
                sys.exit("wrk reported errors:\n" + r["text"])
            r.update(rate=w["rate"], unit="req/s", elapsed=args.duration, amount=w["requests"], errors=0)
            return r
        r = best_of(args.runs, once)
        r.update(tool="wrk", workload="GET %d B, -t%d -c%d, %d s" % (expected, threads, conns, args.duration))
        note(r, "wrk -c%d" % conns)
        return r

    def client(tool, workload, cmd):
        def once():
            r = run_client(cmd, server, True)
            f = r["fields"]
            ok, errors = int(f["ok"]), int(f["errors"])
            if errors or ok != n:
                sys.exit("%s: %d ok, %d errors of %d" % (tool, ok, errors, n))
            r.update(rate=n / r["work"], unit="req/s", elapsed=r["work"], amount=n, errors=errors,
                     retried=int(f.get("retried", 0)))
            return r
        r = best_of(args.runs, once)
        r.update(tool=tool, workload=workload)
        note(r, "%s %s" % (tool, workload))
        return r

    py = [sys.executable, os.path.abspath(__file__), "--python-child", small_url]
    mp = [binary, "run", LUA_BENCH, "gets", small_url, str(n)]

    print("small GETs of %s (%d bytes) on %d cores" % (small_url, expected, cores), flush=True)
    groups = []
    ref1 = wrk(1, 1)
    g1 = [ref1, client("python requests", "%d GETs, Session, 1 thread" % n, py + [str(n), "1", str(expected)]),
          client("moonport", "%d GETs, task.map concurrency=1" % n, mp + ["1", str(expected)])]
    groups.append((ref1, g1))
    ref64 = wrk(64, min(2, cores) if cores else 2)
    g64 = [ref64]
    if args.python_threads:
        g64.append(client("python requests", "%d GETs, %d threads, Session each" % (n, args.python_threads),
                          py + [str(n), str(args.python_threads), str(expected)]))
    g64.append(client("moonport", "%d GETs, task.map concurrency=64" % n, mp + ["64", str(expected)]))
    groups.append((ref64, g64))
    # The floor under moonport's GETs (Sources/TransportFloor): the same
    # requests through async-http-client alone, then with the hop to one
    # waiting thread, then through moonport's transport without Lua. The
    # moonport rows are compared with each (all.py's table).
    if args.floor:
        for conc, group in ((1, g1), (64, g64)):
            for mode, what in FLOOR_MODES:
                group.append(client("floor: " + what, "%d GETs, %d in flight" % (n, conc),
                                    [args.floor, mode, small_url, str(n), str(conc), str(expected)]))
                group[-1]["floor"] = True

    fsync_notes = []
    dl_groups = []
    if big_path:
        mb = big_size / MB
        url = server.url(os.path.basename(big_path))
        print("download of %s (%d bytes = %.1f MB)" % (url, big_size, mb), flush=True)
        for dest in download_dirs(args):
            dl_out = os.path.join(dest, "moonport-http-bench-download.tmp")
            where = "tmpfs" if fs_type(dest) == "tmpfs" else "disk"

            def verify(label):
                size = os.path.getsize(dl_out)
                if size != big_size:
                    sys.exit("%s: downloaded %d bytes, expected %d" % (label, size, big_size))
                digest = sha256_of(dl_out)
                if digest != big_sha:
                    sys.exit("%s: SHA-256 %s differs from the source's %s" % (label, digest, big_sha))
                print("  %s: %d bytes, SHA-256 %s... matches the source" % (label, size, digest[:16]), flush=True)

            def curl_once():
                if os.path.exists(dl_out):
                    os.remove(dl_out)
                os.sync()
                r = run_client(["curl", "-sS", "--fail", "-o", dl_out, url], server, False)
                t0 = time.perf_counter()
                fd = os.open(dl_out, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
                synced = time.perf_counter() - t0
                fsync_notes.append((dest, synced))
                verify("curl")
                os.remove(dl_out)
                # On disk the reference is curl + sync FILE: the durability
                # moonport's fsync gives (on tmpfs the fsync costs nothing).
                elapsed = r["wall"] + (synced if where == "disk" else 0.0)
                r.update(rate=mb / elapsed, unit="MB/s", elapsed=elapsed, amount=big_size, errors=0,
                         curl_wall=r["wall"], sync_s=synced)
                return r

            def moonport_once():
                if os.path.exists(dl_out):
                    os.remove(dl_out)
                os.sync()
                r = run_client([binary, "run", LUA_BENCH, "download", url, dl_out], server, True)
                f = r["fields"]
                if int(f["status"]) != 200 or int(f["bytes"]) != big_size:
                    sys.exit("moonport download: status %s, %s bytes of %d" % (f["status"], f["bytes"], big_size))
                verify("moonport")
                os.remove(dl_out)
                r.update(rate=mb / r["work"], unit="MB/s", elapsed=r["work"], amount=big_size, errors=0,
                         retried=int(f.get("resumes", 0)))
                return r

            print("  to %s (%s)" % (dest, where), flush=True)
            refd = best_of(args.runs, curl_once)
            members = [refd]
            if where == "disk":
                refd.update(tool="curl", workload="-o FILE + sync FILE on disk, %d MiB" % (big_size // MIB))
                note(refd, "curl -o + sync (disk)")
                # curl alone, from the same run (shown and compared, not the goal's reference).
                plain = dict(refd, tool="curl", workload="-o FILE (no sync) on disk, %d MiB" % (big_size // MIB),
                             rate=mb / refd["curl_wall"], elapsed=refd["curl_wall"])
                members.append(plain)
            else:
                refd.update(tool="curl", workload="-o FILE on %s, %d MiB" % (where, big_size // MIB))
                note(refd, "curl -o (%s)" % where)
            mpd = best_of(args.runs, moonport_once)
            mpd.update(tool="moonport", workload="http.get stream_to on %s, %d MiB" % (where, big_size // MIB))
            note(mpd, "moonport stream_to (%s)" % where)
            groups.append((refd, members + [mpd]))
            dl_groups.append((refd, mpd, where))

    # ---------------------------------------------------------------- table
    header = ("tool", "workload", "conns", "rate", "vs ref", "elapsed s", "client CPU s", "peak RSS MiB",
              "VmHWM MiB", "server CPU", "errors")
    table = []
    for ref, members in groups:
        for r in members:
            table.append((
                r["tool"] + (" (ref)" if r is ref else ""), r["workload"], "%d" % r["conns"],
                "%.0f %s" % (r["rate"], r["unit"]) if r["unit"] == "req/s" else "%.1f %s" % (r["rate"], r["unit"]),
                "1.00x" if r is ref else "%.2fx" % (r["rate"] / ref["rate"]),
                "%.2f" % r["elapsed"], "%.2f" % r["cpu"], "%.1f" % (r["maxrss_kb"] / 1024),
                "%.1f" % (r["hwm_kb"] / 1024),
                "%.0f%%" % (100 * r["server_cpu"] / max(r["elapsed"], 1e-9)), "%d" % r["errors"]))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print()
    print("server: nginx, worker_processes 2, 127.0.0.1; %d cores shared by server and client; "
          "load average at start %.2f, now %.2f" % (cores, load_at_start, os.getloadavg()[0]))
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print(line(row))
    print()

    # ---------------------------------------------------------------- goals and moonport's own numbers
    mp_rows = [r for _, members in groups for r in members if r["tool"] == "moonport"]
    for r in mp_rows:
        print("moonport %s: %.2f s of work, %.2f s process wall (start and exit included), %d errors, %d retried/resumed"
              % (r["workload"], r["elapsed"], r["wall"], r["errors"], r.get("retried", 0)))
    for dest, seconds in fsync_notes:
        print("moonport fsyncs its download before renaming it; an fsync of curl's output in %s took %.2f s more "
              "(%s)" % (dest, seconds, "in the disk reference, curl + sync" if fs_type(dest) != "tmpfs"
                        else "not in curl's time"))
    print()
    verdicts = []
    mp64 = next(r for r in g64 if r["tool"] == "moonport")
    ratio = mp64["rate"] / ref64["rate"]
    verdicts.append(("64-task rate >= 50%% of wrk -c64's", "%.0f%%" % (100 * ratio), ratio >= 0.5))
    for refd, mpd, where in dl_groups:
        ratio = mpd["rate"] / refd["rate"]
        if where == "disk":
            verdicts.append(("download >= 90%% of curl + sync's rate (disk)", "%.0f%%" % (100 * ratio), ratio >= 0.9))
        else:
            verdicts.append(("download >= 80%% of curl's rate (" + where + ")", "%.0f%%" % (100 * ratio), ratio >= 0.8))
    peak = max(r["maxrss_kb"] for r in mp_rows) / 1024
    verdicts.append(("moonport peak memory < 64 MiB (every row)", "%.1f MiB" % peak, peak < 64))
    print("goals:")
    for text, value, ok in verdicts:
        print("  %-44s %-10s %s" % (text.replace("%%", "%"), value, "met" if ok else "MISSED"))

    if args.json_out:
        write_json_out(args, groups, verdicts)


def write_json_out(args, groups, verdicts):
    """--json-out: the table's numbers, and moonport's rows beside each reference."""
    def row(r, ref):
        return {"tool": r["tool"], "workload": r["workload"], "reference": r is ref, "conns": r["conns"],
                "rate": r["rate"], "unit": r["unit"], "elapsed_s": r["elapsed"], "client_cpu_s": r["cpu"],
                "peak_rss_mib": r["maxrss_kb"] / 1024, "vmhwm_mib": r["hwm_kb"] / 1024,
                "server_cpu_pct": 100 * r["server_cpu"] / max(r["elapsed"], 1e-9), "errors": r["errors"]}
    rows, comparisons = [], []
    for ref, members in groups:
        rows.extend(row(r, ref) for r in members)
        mine = next((r for r in members if r["tool"] == "moonport"), None)
        if mine is None:
            continue
        what = mine["workload"]
        others = [ref] + [r for r in members if r is not ref and r["tool"] != "moonport"]
        for other in others:
            label = "%s %s" % (other["tool"], other["workload"])
            comparisons.append({"measure": what, "unit": mine["unit"], "better": "higher",
                                "moonport": mine["rate"], "moonport_label": "moonport " + what,
                                "reference": other["rate"], "reference_label": label})
            if other["tool"] != "wrk" and not other.get("floor"):  # wrk's memory is not a client's
                comparisons.append({"measure": what + ": client peak memory (VmHWM)", "unit": "MiB",
                                    "better": "lower", "moonport": mine["hwm_kb"] / 1024,
                                    "moonport_label": "moonport " + what,
                                    "reference": other["hwm_kb"] / 1024, "reference_label": label})
    out = {"bench": "http", "script": "scripts/bench/http.py", "argv": sys.argv[1:],
           "settings": {"requests": args.requests, "size_mib": None if args.skip_download else args.size_mb,
                        "duration_s": args.duration, "runs": args.runs, "cores": os.cpu_count()},
           "rows": rows, "comparisons": comparisons,
           "goals": [{"goal": t.replace("%%", "%"), "value": v, "met": ok} for t, v, ok in verdicts]}
    with open(args.json_out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
