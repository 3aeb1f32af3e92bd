"""What the benchmark's parts share: the servers it starts (kluisd, nginx), the load generator's
driver, and the /proc readings behind the CPU figures. Used by bench.py (the run, the table) and
bench/scaleout.py (the PostgreSQL, deployment and allocation scenarios of issue 15).

Everything here listens on or connects to 127.0.0.1 only; every process it starts dies with the
harness (PR_SET_PDEATHSIG) if the harness dies first.
"""

import base64
import ctypes
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
API = "api-version=7.6"
VAULT = "default"
SUFFIX = "vault.localhost"
SECRET_VALUE = "bench-value-{seq}-0123456789abcdefghijklmnopqrstuvwxyz-0123456789ABCDEF"
DIGEST = base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()
PLAIN = base64.urlsafe_b64encode(bytes(range(100, 132))).rstrip(b"=").decode()
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A failure of the harness or of kluisd: the run exits 1."""


def log(msg):
    sys.stdout.flush()
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _die_with_parent():
    """In a child before exec: SIGKILL when the harness dies, so nothing outlives it."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def proc_status(pid):
    """VmRSS, VmHWM, RssAnon (heap, stacks) and RssFile (mapped files: the LMDB map) in kB."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def proc_cpu_s(pids):
    """User + system CPU seconds of the processes pids (and their threads)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / CLK_TCK


def thread_cpu(pid):
    """CPU ticks of each thread of pid."""
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                out[tid] = int(fields[11]) + int(fields[12])
            except OSError:
                pass
    except OSError:
        pass
    return out


def machine_cpu():
    """The machine's CPU tick counters: user nice system idle iowait irq softirq steal."""
    with open("/proc/stat", encoding="ascii") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def cpu_shares(mach, ours_s):
    """Shares of the machine's CPU over a /proc/stat delta: busy, idle, steal, and others (what
    neither the server nor the load generator, ours_s seconds together, used). Other work on
    the machine makes a figure unreliable."""
    total = sum(mach) or 1
    busy = mach[0] + mach[1] + mach[2] + mach[5] + mach[6]
    return {"busy": round(busy / total, 3), "idle": round((mach[3] + mach[4]) / total, 3),
            "steal": round(mach[7] / total, 3),
            "others": round(max(0.0, busy / CLK_TCK - ours_s) / (total / CLK_TCK), 3)}


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", encoding="ascii") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


# --- servers -------------------------------------------------------------------------------------

class Kluisd:
    def __init__(self, binary, data_dir, threads, log_path, wrapper=None, extra_args=None,
                 env=None):
        self.binary = binary
        self.data_dir = data_dir
        self.threads = threads
        self.log_path = log_path
        self.wrapper = wrapper or []
        self.extra_args = list(extra_args or [])  # e.g. --postgres CONNINFO
        self.env = env  # None: the harness's environment
        self.extra_pids = None
        self.port = None
        self.proc = None
        self.token = None
        self.ca = os.path.join(data_dir, "tls", "ca.pem")
        self.host = f"{VAULT}.{SUFFIX}"
        self._ctx = None

    @property
    def pids(self):
        """kluisd's pid first (its threads are read), then those of extra_pids(): processes that
        work for it (its PostgreSQL backends), whose CPU counts as the server's too."""
        if not self.proc:
            return []
        return [self.proc.pid] + (self.extra_pids() if self.extra_pids else [])

    def start(self, timeout=30.0):
        """Starts kluisd and returns the milliseconds from spawn to the first 200 on /health."""
        self.port = self.port or free_port()
        args = self.wrapper + [self.binary, "--data-dir", self.data_dir, "--listen",
                               f"127.0.0.1:{self.port}", "--log-level", "warn"]
        # kluisd's own default (four workers per CPU) unless a count was asked for
        if self.threads:
            args += ["--threads", str(self.threads)]
        args += self.extra_args
        logf = open(self.log_path, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     preexec_fn=_die_with_parent, env=self.env)
        logf.close()
        ms = self._wait_health(t0, timeout)
        with open(os.path.join(self.data_dir, "admin-token"), encoding="ascii") as f:
            self.token = f.read().strip()
        return ms

    def _wait_health(self, t0, timeout):
        last = "no answer"
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise BenchError(f"kluisd exited {self.proc.returncode} before serving; "
                                 f"log: {self.log_tail()}")
            if self._ctx is None and os.path.exists(self.ca):
                try:
                    self._ctx = ssl.create_default_context(cafile=self.ca)
                except (OSError, ssl.SSLError):
                    self._ctx = None  # written but not complete yet
            if self._ctx is not None:
                try:
                    if self.request("GET", "/health", auth=False, timeout=2)[0] == 200:
                        return (time.monotonic() - t0) * 1000.0
                except (OSError, http.client.HTTPException, ssl.SSLError) as e:
                    last = repr(e)
            time.sleep(0.001)
        raise BenchError(f"kluisd did not answer /health in {timeout} s ({last})")

    def request(self, method, path, body=None, auth=True, timeout=30, host=None, token=None):
        """One request; returns (status, parsed JSON body or None). host: the Host header's name
        (default the vault's); token: another bearer token than the admin token."""
        if self._ctx is None:
            self._ctx = ssl.create_default_context(cafile=self.ca)
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self._ctx)
        sock = socket.create_connection(("127.0.0.1", self.port), timeout)
        # Without TCP_NODELAY the first request on a new connection waits for a delayed ACK
        # (40 ms) that kluisd's TLS stack does not provoke: start-up times would measure it.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)
        headers = {"Host": f"{host or self.host}:{self.port}"}
        if auth:
            headers["Authorization"] = f"Bearer {token or self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode("utf-8", "replace")

    def get_raw(self, path):
        status, body = self.request("GET", path)
        return status, json.dumps(body, separators=(",", ":")) if body is not None else ""

    def stop(self, timeout=30.0):
        """SIGTERM; returns (exit code, milliseconds to exit)."""
        if self.proc is None:
            return None, 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise BenchError(f"kluisd did not stop within {timeout} s of SIGTERM")
        self.proc = None
        return code, (time.monotonic() - t0) * 1000.0

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def log_tail(self, n=1500):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    default_type application/json;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name _;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        root {dir}/www;
        location = /health {{ try_files /health.json =404; }}
        location = /secret {{ try_files /secret.json =404; }}
    }}
}}
"""


class Nginx:
    """nginx on loopback with a throwaway configuration in its own directory."""

    def __init__(self, work_dir, workers, cert, key, files):
        self.dir = work_dir
        self.workers = workers
        self.cert = cert
        self.key = key
        self.files = files  # name -> bytes, served from www/
        self.ca = os.path.join(os.path.dirname(cert), "ca.pem")
        self.port = None
        self.proc = None

    @property
    def pids(self):
        return [self.proc.pid] + children(self.proc.pid) if self.proc else []

    def start(self, timeout=15.0):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        for sub in ("www", "tmp"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        for name, data in self.files.items():
            with open(os.path.join(self.dir, "www", name), "wb") as f:
                f.write(data)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w", encoding="ascii") as f:
            f.write(NGINX_CONF.format(workers=self.workers, dir=self.dir, port=self.port,
                                      cert=self.cert, key=self.key,
                                      user="user root;" if os.geteuid() == 0 else ""))
        logf = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen([binary, "-c", conf, "-p", self.dir, "-e",
                                      os.path.join(self.dir, "error.log")],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     preexec_fn=_die_with_parent)
        logf.close()
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise BenchError(f"nginx exited {self.proc.returncode}: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                if len(children(self.proc.pid)) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.01)
        raise BenchError("nginx did not start listening")

    def log_tail(self):
        out = ""
        for name in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    out += f.read()[-800:].decode("utf-8", "replace")
            except OSError:
                pass
        return out

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish and exit
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            for pid in self.pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.wait()
        self.proc = None


# --- the load generator ----------------------------------------------------------------------

class Loadgen:
    def __init__(self, binary, tls_opts):
        self.binary = binary
        self.tls_opts = tls_opts  # extra args pinning the TLS suite and group

    def run(self, server, templates, host, token, conns, duration, requests=None, rate=None,
            new_conn=False, seq_start=0, pin_tls=True):
        """Runs one load against server (Kluisd or Nginx); returns loadgen's report plus the
        server's CPU seconds during the run."""
        args = [self.binary, "--port", str(server.port), "--sni", f"{VAULT}.{SUFFIX}",
                "--ca", server.ca, "--conns", str(conns), "--duration", str(duration),
                "-H", f"Host: {host}:{server.port}"]
        if token:
            args += ["-H", f"Authorization: Bearer {token}"]
        for t in templates:
            args += ["-r", t]
        if requests:
            args += ["--requests", str(requests), "--seq-start", str(seq_start)]
        if rate:
            args += ["--rate", f"{rate:.1f}"]
        if new_conn:
            args.append("--new-conn")
        if pin_tls:
            args += self.tls_opts
        pids = server.pids
        cpu0, threads0, mach0 = proc_cpu_s(pids), thread_cpu(pids[0]), machine_cpu()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            p = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60)
        except subprocess.TimeoutExpired as e:
            raise BenchError(f"loadgen did not finish: {' '.join(args)}") from e
        cpu = proc_cpu_s(pids) - cpu0
        threads = thread_cpu(pids[0])
        mach = [b - a for a, b in zip(mach0, machine_cpu())]
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime)
        try:
            res = json.loads(p.stdout)
        except ValueError as e:
            raise BenchError(f"loadgen failed ({p.returncode}): {p.stderr.strip()[:500]}") from e
        res["exit"] = p.returncode
        res["server_cpu_s"] = round(cpu, 3)
        res["server_cpu_us_per_op"] = round(cpu * 1e6 / res["ok"], 1) if res["ok"] else None
        # How the server's work spread over its threads (kluisd: one busy thread of two means
        # the connections landed on one worker), and what the whole machine did meanwhile
        # (steal: the hypervisor ran something else; idle: nobody was the bottleneck).
        res["server_thread_cpu_s"] = sorted(
            (round((t - threads0.get(tid, 0)) / CLK_TCK, 2) for tid, t in threads.items()
             if t - threads0.get(tid, 0) > 0), reverse=True)
        res["machine_cpu"] = cpu_shares(mach, cpu + client)
        return res


def is_clean(res):
    return res["ok"] > 0 and res["non_2xx"] == 0 and res["io_errors"] == 0 and res["exit"] == 0


def problem(res):
    if res["ok"] == 0 and res["non_2xx"] == 0:
        return f"no answers ({res['first_io_error'] or 'no error recorded'})"
    parts = []
    if res["non_2xx"]:
        parts.append(f"{res['non_2xx']} non-2xx answers, first {res['first_error_status']}: "
                     f"{res['first_error_body'][:160]}")
    if res["io_errors"]:
        parts.append(f"{res['io_errors']} I/O errors, first: {res['first_io_error']}")
    if res["exit"]:
        parts.append(f"loadgen exited {res['exit']}")
    return "; ".join(parts)
