"""devrun's process management, without the app: stopping children, building their environment."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from portal.config import load_config
from portal.devrun import (
    build_child_env,
    razorpay_cmd,
    razorpay_env,
    start_child,
    stop_processes,
    supervise,
    twilio_cmd,
    web_cmd,
)

IGNORES_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout():
    stubborn = subprocess.Popen(
        [sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE, start_new_session=True
    )
    polite = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True
    )
    assert stubborn.stdout.readline() == b"ready\n"

    started = time.monotonic()
    stop_processes([stubborn, polite], timeout=0.3)

    assert stubborn.returncode == -9
    assert polite.returncode == -15
    assert time.monotonic() - started < 1.5
    stubborn.stdout.close()


def test_supervise_reports_the_first_child_that_exits():
    sleeper = start_child([sys.executable, "-c", "import time; time.sleep(30)"], {}, cwd=Path.cwd())
    quitter = start_child([sys.executable, "-c", "raise SystemExit(3)"], {}, cwd=Path.cwd())
    try:
        assert supervise({"web": sleeper, "worker": quitter}, poll_interval=0.02) == ("worker", 3)
    finally:
        stop_processes([sleeper, quitter], timeout=1)


def test_children_get_redis_smtp_sink_and_mailbox_settings(tmp_path):
    env = build_child_env(
        {"PATH": "/bin"}, redis_url="redis://127.0.0.1:6400/0", mailbox_dir=tmp_path, mail_port=2525
    )

    assert env["REDIS_URL"] == "redis://127.0.0.1:6400/0"
    assert (env["MAIL_SERVER"], env["MAIL_PORT"]) == ("127.0.0.1", "2525")
    assert env["MAILBOX_DIR"] == str(tmp_path)
    assert env["PATH"] == "/bin"


def test_an_external_mail_server_is_left_alone(tmp_path):
    base = {"MAIL_SERVER": "smtp.example.test", "MAIL_PORT": "587"}

    env = build_child_env(base, redis_url="redis://x", mailbox_dir=tmp_path, mail_port=None)

    assert (env["MAIL_SERVER"], env["MAIL_PORT"]) == ("smtp.example.test", "587")


def test_the_web_server_never_uses_the_reloader():
    assert "--no-reload" in web_cmd(5000, debug=True)
    assert "--debug" in web_cmd(5000, debug=True)
    assert "--debug" not in web_cmd(5000, debug=False)


def test_without_real_keys_the_portal_talks_to_the_razorpay_sandbox():
    env = razorpay_env(5099)
    assert env == {"RAZORPAY_BASE_URL": "http://127.0.0.1:5099",
                   "RAZORPAY_CHECKOUT_URL": "http://127.0.0.1:5099/checkout"}
    cmd = razorpay_cmd(5099, 5000)
    assert cmd[1:3] == ["-m", "portal.sandbox.razorpay"]
    assert "http://127.0.0.1:5000/api/v1/payments/webhook" in cmd


def test_without_a_twilio_account_sms_go_to_the_stand_in_and_the_mailbox(tmp_path):
    cmd = twilio_cmd(5098, tmp_path)
    assert cmd[1:3] == ["-m", "portal.sandbox.twilio"]
    assert cmd[cmd.index("--account-sid") + 1] == load_config({})["TWILIO_ACCOUNT_SID"]
    assert cmd[cmd.index("--mailbox") + 1] == str(tmp_path)
