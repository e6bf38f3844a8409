"""``python -m portal.devrun``: what ``make run`` executes -- the whole portal on one machine.

1. ``instance/`` is created; a private Redis is started unless ``REDIS_URL`` is set, and the SMTP
   sink (writing to ``MAILBOX_DIR``, default ``instance/mailbox``) unless ``MAIL_SERVER`` is set.
2. ``flask --app portal db upgrade`` and ``flask --app portal seed-demo`` run in the foreground (the
   seed prints the demo accounts); if either fails, everything stops.
3. The RQ worker (``flask --app portal worker``) and the web server (``flask --app portal run``) run
   as children, each in its own process group. ``PORT`` (default 5000) picks the web port,
   ``FLASK_DEBUG`` turns on debug mode (never the reloader).

Ctrl-C or SIGTERM stops every process started here; so does any child exiting on its own, after
which the exit status is non-zero.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from portal.config import load_config
from portal.localredis import LOOPBACK, PrivateRedis
from portal.sandbox.smtp import SmtpSink

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
DEFAULT_PORT = 5000
STOP_TIMEOUT = 10.0
WEB_READY_TIMEOUT = 30.0


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: stop everything."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StepFailed(Exception):
    """A foreground setup step (migrations, seed) exited non-zero."""

    def __init__(self, cmd: list[str], returncode: int) -> None:
        super().__init__(f"{' '.join(cmd[2:])} failed with exit code {returncode}")
        self.returncode = returncode


# -- small pieces, each testable on its own -------------------------------------------------------


def is_truthy(value: str | None) -> bool:
    """Flask's reading of FLASK_DEBUG: set and not 0/false/no."""
    return bool(value) and value.strip().lower() not in ("0", "false", "no")


def flask_cmd(*args: str) -> list[str]:
    """``flask --app portal <args>`` run with this interpreter, so the virtualenv is used."""
    return [sys.executable, "-m", "flask", "--app", "portal", *args]


def web_cmd(port: int, debug: bool) -> list[str]:
    """The development web server: loopback only, never the reloader (it forks a second one)."""
    return flask_cmd(
        *(["--debug"] if debug else []),
        "run", "--host", LOOPBACK, "--port", str(port), "--no-reload",
    )  # fmt: skip


def build_child_env(
    base: Mapping[str, str], *, redis_url: str, mailbox_dir: Path, mail_port: int | None
) -> dict[str, str]:
    """The environment for every child: ours plus where Redis, the SMTP sink and the mailbox are.

    ``mail_port=None`` means an external mail server is configured; MAIL_* are then left alone.
    """
    env = dict(base)
    env["REDIS_URL"] = redis_url
    env["MAILBOX_DIR"] = str(mailbox_dir)
    if mail_port is not None:
        env["MAIL_SERVER"] = LOOPBACK
        env["MAIL_PORT"] = str(mail_port)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def razorpay_env(sandbox_port: int) -> dict[str, str]:
    """Point the portal's razorpay client and checkout page at the local stand-in."""
    root = f"http://{LOOPBACK}:{sandbox_port}"
    return {"RAZORPAY_BASE_URL": root, "RAZORPAY_CHECKOUT_URL": f"{root}/checkout"}


def razorpay_cmd(sandbox_port: int, web_port: int) -> list[str]:
    """The Razorpay stand-in; its state survives restarts in instance/."""
    return [sys.executable, "-m", "portal.sandbox.razorpay", "--port", str(sandbox_port),
            "--webhook-url", f"http://{LOOPBACK}:{web_port}/api/v1/payments/webhook",
            "--state-file", str(INSTANCE / "razorpay-sandbox.json")]


def twilio_cmd(sandbox_port: int, mailbox_dir: Path) -> list[str]:
    """The Twilio stand-in with the portal's sandbox credentials (portal/config.py)."""

    config = load_config({})
    return [sys.executable, "-m", "portal.sandbox.twilio", "--port", str(sandbox_port),
            "--account-sid", config["TWILIO_ACCOUNT_SID"],
            "--auth-token", config["TWILIO_AUTH_TOKEN"], "--mailbox", str(mailbox_dir)]


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True if a server could listen on host:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, timeout: float, alive=lambda: True, host: str = LOOPBACK) -> bool:
    """Wait until something accepts connections on host:port; False on timeout or if not alive()."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def run_step(cmd: list[str], env: Mapping[str, str]) -> None:
    """Run a setup command in the foreground; raise StepFailed if it exits non-zero."""
    returncode = subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode
    if returncode != 0:
        raise StepFailed(cmd, returncode)


def start_child(cmd: list[str], env: Mapping[str, str], cwd: Path = ROOT) -> subprocess.Popen:
    """Start a long-running child in its own process group (a terminal Ctrl-C reaches only us)."""
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)


def stop_processes(processes: Iterable[subprocess.Popen], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM each live process (the group leader only, so an RQ worker can finish its job), then
    SIGKILL the whole process group of any still alive after ``timeout`` seconds."""
    alive = [p for p in processes if p.poll() is None]
    for process in alive:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in alive:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def supervise(
    watched: Mapping[str, subprocess.Popen], poll_interval: float = 0.2
) -> tuple[str, int]:
    """Block until one watched process exits; return its name and exit code."""
    while True:
        for name, process in watched.items():
            returncode = process.poll()
            if returncode is not None:
                return name, returncode
        time.sleep(poll_interval)


def _ignore_stop_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _raise_interrupted(signum, frame) -> None:
    # Once is enough: further Ctrl-Cs must not interrupt the (bounded) clean-up.
    _ignore_stop_signals()
    raise Interrupted(signum)


def _say(text: str) -> None:
    print(f"[devrun] {text}", flush=True)


# -- the whole thing ------------------------------------------------------------------------------


def run(environ: Mapping[str, str]) -> int:
    """Start everything, supervise, stop everything; return the exit status."""
    INSTANCE.mkdir(parents=True, exist_ok=True)
    mailbox_dir = Path(environ.get("MAILBOX_DIR") or INSTANCE / "mailbox")
    port = int(environ.get("PORT") or DEFAULT_PORT)
    debug = is_truthy(environ.get("FLASK_DEBUG"))
    if not port_is_free(port):
        _say(f"port {port} on {LOOPBACK} is already in use; set PORT to another one")
        return 2

    with contextlib.ExitStack() as stack:
        try:
            return _start_and_supervise(stack, environ, mailbox_dir, port, debug)
        finally:
            # Clean-up (the ExitStack unwinding) must not be cut short by a second Ctrl-C.
            _ignore_stop_signals()


def _start_and_supervise(
    stack: contextlib.ExitStack,
    environ: Mapping[str, str],
    mailbox_dir: Path,
    port: int,
    debug: bool,
) -> int:
    watched: dict[str, subprocess.Popen] = {}

    redis_url = environ.get("REDIS_URL")
    if redis_url:
        _say(f"using Redis at {redis_url}")
    else:
        redis = stack.enter_context(PrivateRedis())
        redis_url = redis.url
        watched["redis-server"] = redis.process
        _say(f"private Redis at {redis_url}")

    mail_port = None
    if environ.get("MAIL_SERVER"):
        _say(f"using mail server {environ['MAIL_SERVER']}:{environ.get('MAIL_PORT', '')}")
    else:
        sink = stack.enter_context(SmtpSink(mailbox_dir))
        mail_port = sink.port
        _say(f"SMTP sink on {LOOPBACK}:{mail_port}, mailbox {mailbox_dir}")

    env = build_child_env(
        environ, redis_url=redis_url, mailbox_dir=mailbox_dir, mail_port=mail_port
    )
    twilio_port = None
    if not environ.get("TWILIO_ACCOUNT_SID"):
        # No real Twilio account: the stand-in, whose SMS land in the dev mailbox too.
        twilio_port = free_port()
        env["TWILIO_BASE_URL"] = f"http://{LOOPBACK}:{twilio_port}"
    razorpay_port = None
    if not environ.get("RAZORPAY_KEY_ID"):
        # No real keys: the Razorpay stand-in, its webhooks aimed at our own endpoint.
        razorpay_port = free_port()
        env.update(razorpay_env(razorpay_port))
    children: list[subprocess.Popen] = []
    stack.callback(stop_processes, children)
    if razorpay_port is not None:
        # Before the demo data: seed-demo onboards the demo doctors' linked accounts in it.
        razorpay = start_child(razorpay_cmd(razorpay_port, port), env)
        children.append(razorpay)
        watched["razorpay-sandbox"] = razorpay
        _say(f"Razorpay sandbox on {LOOPBACK}:{razorpay_port}")
        wait_for_port(razorpay_port, WEB_READY_TIMEOUT, alive=lambda: razorpay.poll() is None)
    run_step(flask_cmd("db", "upgrade"), env)
    run_step(flask_cmd("seed-demo"), env)
    # Bring every rolling window up to today (the cron job does it daily after this).
    run_step(flask_cmd("regenerate-slots"), env)

    if twilio_port is not None:
        twilio = start_child(twilio_cmd(twilio_port, mailbox_dir), env)
        children.append(twilio)
        watched["twilio-sandbox"] = twilio
        _say(f"Twilio sandbox on {LOOPBACK}:{twilio_port}")
    worker = start_child(flask_cmd("worker"), env)
    children.append(worker)
    cron = start_child(flask_cmd("cron"), env)
    children.append(cron)
    web = start_child(web_cmd(port, debug), env)
    children.append(web)
    watched.update(worker=worker, cron=cron, web=web)

    if wait_for_port(port, WEB_READY_TIMEOUT, alive=lambda: web.poll() is None):
        base_url = f"http://{LOOPBACK}:{port}"
        print(
            "\n"
            f"  Clinic portal  {base_url}/\n"
            f"  Dev mailbox    {base_url}/dev/mailbox\n"
            "  Demo accounts  see the seed-demo output above\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )

    name, returncode = supervise(watched)
    _say(f"{name} exited unexpectedly (exit code {returncode}); stopping everything")
    return returncode if returncode > 0 else 1


def main() -> int:
    """Entry point: run() with signal handling and readable failures."""
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        return run(os.environ)
    except Interrupted as stop:
        _say(f"{stop} received; stopped everything")
        return 0
    except StepFailed as failed:
        _say(str(failed))
        return failed.returncode or 1


if __name__ == "__main__":
    raise SystemExit(main())
