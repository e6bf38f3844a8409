"""The portal served by gunicorn for the HTTP benchmarks, as in production.

`start_server` runs `gunicorn -k gthread 'portal:create_app()'` on a free loopback port,
configured through the environment (DATABASE_URL, REDIS_URL, SECRET_KEY, ...), and waits until
every worker is up; `Server.stop()` ends it (SIGTERM, then SIGKILL to its process group).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def connections_per_worker(self) -> list[int]:
        """Established client connections each worker holds (gthread keeps them per worker)."""
        established = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == self.port and fields[3] == "01":
                established.add(fields[9])
        counts = []
        for pid in self.worker_pids():
            try:
                links = [os.readlink(f"/proc/{pid}/fd/{fd}")
                         for fd in os.listdir(f"/proc/{pid}/fd")]
            except OSError:
                continue
            counts.append(sum(link[8:-1] in established for link in links
                              if link.startswith("socket:[")))
        return counts

    def worker_memory_kib(self) -> list[dict[str, int]]:
        """Per worker, in KiB: VmHWM (peak resident) and VmRSS from /proc/<pid>/status, and
        Pss (its proportional share, pages shared with the master and siblings divided among
        them) from /proc/<pid>/smaps_rollup."""
        found = []
        for pid in self.worker_pids():
            memory: dict[str, int] = {}
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key in ("VmHWM", "VmRSS"):
                        memory[key] = int(value.split()[0])
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key == "Pss":
                        memory["Pss"] = int(value.split()[0])
            except OSError:
                continue
            found.append(memory)
        return found

    def stop(self) -> None:
        """SIGTERM to the master (graceful), then SIGKILL to its group if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group gunicorn leads
                self.process.wait(timeout=5)


def start_server(env: dict[str, str], *, workers: int, threads: int, connections: int,
                 log_dir: Path, preload: bool = False) -> Server:
    """gunicorn with `workers` gthread workers of `threads` threads, each accepting at most
    `connections` connections (so keep-alive clients spread over the workers).

    With `preload` the app is built once in the master and the workers are forked from it, as
    `gunicorn --preload` does in the Dockerfile: start-up work is done once and its memory is
    shared (copy-on-write) until a worker writes to it.
    """
    port = free_port()
    log_path = Path(log_dir) / "gunicorn.log"
    argv = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class",
            "gthread", "--threads", str(threads), "--worker-connections", str(connections),
            "--bind", f"127.0.0.1:{port}", "--keep-alive", "30", "--backlog", "2048",
            "--timeout", "60", "--graceful-timeout", "10", "--log-level", "warning"]
    if preload:
        argv.append("--preload")
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*argv, "portal:create_app()"], cwd=ROOT,
                                   env={**os.environ, **env}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, port, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{tail(log_path)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok and len(server.worker_pids()) == workers:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer within 60 s:\n{tail(log_path)}")
