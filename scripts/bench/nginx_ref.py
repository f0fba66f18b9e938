"""nginx as the reference server of the benchmarks (http.py, sim.py).

Its own temporary configuration, as the current user, beside (never touching)
a system nginx: 127.0.0.1 on a free port only, worker_processes 2, access_log
off, gzip off, sendfile, keepalive (1,000,000 requests a connection).
Standard library only.
"""

import os
import socket
import subprocess
import sys
import time

# The commands of the nginx references and their Debian packages
# (common.ensure_commands installs the missing ones).
TOOLS = {"nginx": "nginx-light", "wrk": "wrk", "curl": "curl"}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, what, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("%s exited (%d)" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit("%s did not start listening on 127.0.0.1:%d" % (what, port))


def write_config(prefix, root, port):
    """Writes PREFIX/nginx.conf serving ROOT on 127.0.0.1:PORT; returns its path."""
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    user = ""
    if os.geteuid() == 0:  # the master would otherwise hand its workers to "nobody"
        import grp
        import pwd
        user = "user %s %s;" % (pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""%(user)s
worker_processes 2;
events { worker_connections 4096; }
http {
    access_log off;
    error_log %(p)s/error.log warn;
    client_body_temp_path %(p)s/tmp/body;
    proxy_temp_path %(p)s/tmp/proxy;
    fastcgi_temp_path %(p)s/tmp/fastcgi;
    uwsgi_temp_path %(p)s/tmp/uwsgi;
    scgi_temp_path %(p)s/tmp/scgi;
    types { application/json json; application/octet-stream bin; }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    gzip off;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:%(port)d;
        root %(root)s;
        location / { }
    }
}
""" % {"user": user, "p": prefix, "port": port, "root": root})
    return conf


def start(prefix, conf, port):
    """Starts nginx (not a daemon) and waits until it listens; returns the process."""
    cmd = ["nginx", "-c", conf, "-p", prefix + "/", "-e", prefix + "/error.log",
           "-g", "daemon off; pid %s/nginx.pid;" % prefix]
    print("server:", " ".join(cmd[:-1]), repr(cmd[-1]), flush=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    wait_listening(port, proc, "nginx (see %s/error.log)" % prefix)
    return proc
