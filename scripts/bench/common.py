"""What the benchmark scripts of this folder share: the repository's path,
building moonport, installing missing tools with apt-get, running a measured
child process, and the command-line options they have in common.

Import it before a script takes its folder off the import path (json.py and
http.py do, so that `import json` is the standard library's). It imports no
module that a script of this folder is named after. Standard library only.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------- tools

def apt_install(packages):
    """Installs the Debian `packages` with apt-get (through sudo -n when not root)."""
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("installing:", " ".join(packages), flush=True)
    subprocess.run(prefix + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(prefix + ["apt-get", "install", "-y", "-qq"] + packages, check=True, env=env)


def ensure_commands(wanted, also=()):
    """Installs with apt-get the package of each command of `wanted`
    ({command: package}) that is not on PATH, and the packages `also`."""
    missing = [pkg for tool, pkg in wanted.items() if not shutil.which(tool)] + list(also)
    if missing:
        apt_install(missing)


def build_moonport(scratch=None, static=False):
    """Builds moonport with swift build -c release (--static-swift-stdlib when
    `static`, in --scratch-path `scratch` when given); returns the binary's path."""
    cmd = ["swift", "build", "-c", "release"] + (["--static-swift-stdlib"] if static else []) + ["--product", "moonport"]
    if scratch:
        cmd += ["--scratch-path", scratch]
    print("building:", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)
    out = subprocess.run(cmd + ["--show-bin-path"], cwd=REPO, check=True, capture_output=True, text=True)
    return os.path.join(out.stdout.strip(), "moonport")


# ---------------------------------------------------------------- measuring

def run_child(cmd, env=None):
    """Runs cmd in a fresh process (in the repository, with `env` or this
    process's environment); returns (the fields of its `RESULT k=v ...` line
    as numbers, ru_maxrss in kB, wall seconds, CPU seconds). Exits with its
    output when it fails or prints no RESULT line."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace")
        if code != 0:
            sys.exit("failed (%d): %s\n%s%s" % (code, " ".join(cmd), text, err.read().decode("utf-8", "replace")))
    for line in text.splitlines():
        if line.startswith("RESULT "):
            fields = {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}
            return fields, usage.ru_maxrss, wall, usage.ru_utime + usage.ru_stime
    sys.exit("no RESULT line from: %s\n%s" % (" ".join(cmd), text))


# ---------------------------------------------------------------- command line

def ran_python_child(python_child, nargs):
    """`SCRIPT --python-child ARG...` (how a script starts its Python
    reference in a process of its own): runs python_child(the next `nargs`
    arguments) and returns True; False for any other command line."""
    if len(sys.argv) >= 2 and sys.argv[1] == "--python-child":
        python_child(*sys.argv[2:2 + nargs])
        return True
    return False


def parser(doc):
    """The argument parser of json.py, records.py and http.py: described by
    the first paragraph of the script's `doc`, with --bin and --scratch-path."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    add_build_options(ap)
    return ap


def add_build_options(ap):
    """--bin and --scratch-path."""
    ap.add_argument("--bin", help="the moonport binary (default: build it with swift build -c release)")
    ap.add_argument("--scratch-path", help="swift build --scratch-path, when building")


def add_out_option(ap):
    """--out DIR, the folder of the generated data (default bench-out/)."""
    ap.add_argument("--out", default=os.path.join(REPO, "bench-out"), help="folder for the data (default bench-out/)")


def add_json_out_option(ap):
    """--json-out FILE (every script; all.py reads the files)."""
    ap.add_argument("--json-out", metavar="FILE",
                    help="also write the results as JSON (rows and moonport-vs-reference comparisons) to FILE")
