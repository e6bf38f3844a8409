"""wrk, the load generator of the HTTP benchmarks, driven by bench/lua/portal.lua.

Debian's wrk 4.1 (`apt-get install wrk`; `make bench` and .ci/run install it when missing) is an
event-loop client in C: at the request rates of these benchmarks it needs a small share of one
core, where the Python threads of the old client competed with the server for the two cores
and for the GIL. Every phase runs wrk with as many threads as connections (-t N -c N): each
thread is one keep-alive connection, so the Lua script keeps per-connection state (its own
patients with their bearer tokens, its own slots, the request in flight) and pairs each answer
with its request. The script records every answer's status (and a problem's title), latency and
monotonic time; this module reads them from the JSON line it prints at the end.

The client's own CPU comes from the kernel's accounting of the wrk process (the rusage that
wait4 returns for it: user + system time), against the wall time times the cores.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

WRK = "/usr/bin/wrk"
SCRIPT = Path(__file__).resolve().parent / "lua" / "portal.lua"
MARKER = "BENCH-WRK "


class WrkMissing(RuntimeError):
    """wrk is not installed (`apt-get install -y wrk`)."""


def wrk_path() -> str:
    found = WRK if os.access(WRK, os.X_OK) else shutil.which("wrk")
    if not found:
        raise WrkMissing("wrk is not installed: apt-get install -y wrk (make bench does it)")
    return found


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def percentile(ordered: list[float], q: float) -> float | None:
    """The q-th (0-1) value of an ascending list, nearest-rank; None when empty."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class WrkRun:
    """One wrk run: what it sent, what came back, and what it cost the client."""

    name: str
    connections: int
    seconds: float  # wrk's own measured run time
    requests: int
    statuses: Counter
    titles: Counter
    socket_errors: dict
    latencies_ms: list[float]  # ascending
    answered_at: list[float]  # time.monotonic() seconds of each answer, ascending
    client_cpu_s: float
    cores: int
    machine_busy: float
    wrk_latency_ms: dict = field(default_factory=dict)
    started_at: float = 0.0  # time.monotonic() when wrk was started
    samples: list[tuple[float, float]] = field(default_factory=list)  # (answered_at, ms)

    def latencies_between(self, start: float, end: float) -> list[float]:
        """Latencies (ms, ascending) of the answers that came between two monotonic times."""
        return sorted(ms for at, ms in self.samples if start <= at <= end)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def client_share(self) -> float:
        """The client's CPU time over the machine's (wall time x cores)."""
        return self.client_cpu_s / (self.seconds * self.cores) if self.seconds else 0.0

    def p(self, q: float) -> float | None:
        return percentile(self.latencies_ms, q)

    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("5"))

    def figures(self) -> dict:
        return {"requests": self.requests, "seconds": round(self.seconds, 2),
                "requests_per_s": round(self.rps, 1), "connections": self.connections,
                "p50_ms": _r(self.p(0.50)), "p90_ms": _r(self.p(0.90)),
                "p99_ms": _r(self.p(0.99)), "max_ms": _r(self.p(1.0)),
                "statuses": dict(self.statuses), "titles": dict(self.titles),
                "socket_errors": self.socket_errors,
                "client_cpu_s": round(self.client_cpu_s, 2),
                "client_share": round(self.client_share, 3),
                "machine_busy": round(self.machine_busy, 3), "wrk_latency_ms": self.wrk_latency_ms}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def start(base_url: str, name: str, *, mode: str, connections: int, duration: float,
          env: dict[str, str] | None = None, timeout_s: int = 30) -> Running:
    """Start wrk in the background; `.wait()` on the result collects it."""
    argv = [wrk_path(), "-t", str(connections), "-c", str(connections),
            "-d", f"{max(1, math.ceil(duration))}s", "--timeout", f"{timeout_s}s",
            "-s", str(SCRIPT), base_url]
    # The JSON of every latency can be megabytes: a file, closed by Running.wait().
    out = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115
    run_env = {**os.environ, "BENCH_MODE": mode, "BENCH_CONNECTIONS": str(connections),
               **(env or {})}
    busy = cpu_times()
    started = time.monotonic()
    process = subprocess.Popen(argv, env=run_env, stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    return Running(name, connections, process, out, busy, started)


@dataclass
class Running:
    name: str
    connections: int
    process: subprocess.Popen
    out: object
    busy_before: tuple[int, int]
    started: float

    def wait(self) -> WrkRun:
        """Wait for wrk to end; its CPU time comes from wait4's rusage of the process."""
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        busy_after = cpu_times()
        self.out.seek(0)
        text = self.out.read().decode("utf-8", "replace")
        self.out.close()
        line = next((row for row in reversed(text.splitlines()) if row.startswith(MARKER)), None)
        if self.process.returncode != 0 or line is None:
            raise RuntimeError(f"wrk ({self.name}) exited with {self.process.returncode}:\n"
                               + text[-2000:])
        data = json.loads(line[len(MARKER):])
        busy = busy_after[0] - self.busy_before[0]
        total = busy_after[1] - self.busy_before[1]
        latency = data.get("wrk_latency_us") or {}
        # The script appends each answer's latency and time together: pairs, in that order.
        samples = [(at / 1e6, us / 1000) for at, us in zip(
            data.get("answered_at_us") or [], data.get("latencies_us") or [], strict=True)]
        # Lua's empty tables encode as [] where a dict was meant.
        statuses = data.get("statuses") or {}
        titles = data.get("titles") or {}
        return WrkRun(
            name=self.name, connections=self.connections,
            seconds=data["duration_us"] / 1e6, requests=data["requests"],
            statuses=Counter(statuses if isinstance(statuses, dict) else {}),
            titles=Counter(titles if isinstance(titles, dict) else {}),
            socket_errors={k: v for k, v in (data.get("errors") or {}).items()
                           if k != "status"},
            latencies_ms=sorted(ms for _, ms in samples),
            answered_at=sorted(at for at, _ in samples), samples=samples,
            client_cpu_s=usage.ru_utime + usage.ru_stime, cores=os.cpu_count() or 1,
            machine_busy=busy / total if total else 0.0,
            wrk_latency_ms={k: round(v / 1000, 2) for k, v in latency.items()},
            started_at=self.started)


def run(base_url: str, name: str, **options) -> WrkRun:
    """Run wrk to the end (see `start`)."""
    return start(base_url, name, **options).wait()


def write_lines(directory: Path, name: str, values) -> str:
    """A file of one value a line, for the Lua script; returns its path."""
    path = Path(directory) / name
    path.write_text("".join(f"{value}\n" for value in values))
    return str(path)
