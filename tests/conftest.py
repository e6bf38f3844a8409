"""Test fixtures: one schema per run (built by the migrations), a clean database per test.

PostgreSQL and Redis on 127.0.0.1 are used when they answer; otherwise SQLite and a private
Redis server. With REQUIRE_SERVICES=1 (CI) a missing service fails the run instead.
TEST_DATABASE_URL and TEST_REDIS_URL point the suite elsewhere.
"""

from __future__ import annotations

import contextvars
import os
import re
import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from flask.testing import FlaskClient
from flask_migrate import upgrade
from redis import Redis
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from portal import create_app
from portal.clock import clock
from portal.extensions import db, limiter
from portal.localredis import PrivateRedis
from portal.sandbox.mailbox import Mailbox
from portal.sandbox.razorpay import SandboxServer as RazorpayServer
from portal.sandbox.razorpay import create_sandbox_app
from portal.sandbox.smtp import SmtpSink
from portal.sandbox.twilio import SandboxServer as TwilioServer
from portal.sandbox.twilio import create_twilio_sandbox
from tests import factories

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# One database per test run, so runs side by side (several developers' shells) never share one.
PG_TEST_DB = f"portal_test_{os.getpid()}"
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _postgres_url() -> str | None:
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    if not _port_open("127.0.0.1", 5432):
        if REQUIRE_SERVICES:
            pytest.exit("REQUIRE_SERVICES=1 but PostgreSQL is not reachable on 127.0.0.1:5432", 3)
        return None
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEST_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_TEST_DB}"))
    engine.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_TEST_DB}"


def _drop_postgres_test_database() -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEST_DB} WITH (FORCE)"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """PostgreSQL when reachable, else a SQLite file (not :memory:, threads share it)."""
    url = _postgres_url()
    if url is None:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal-test.db'}"
        return
    yield url
    if not os.environ.get("TEST_DATABASE_URL"):
        _drop_postgres_test_database()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """Database 15 of the local Redis when it answers, else a private redis-server."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    if _port_open("127.0.0.1", 6379):
        # Databases 1-11 by process, so concurrent runs rarely flush each other's queues;
        # 12-15 are left to the benchmarks.
        yield f"redis://127.0.0.1:6379/{1 + os.getpid() % 11}"
        return
    if REQUIRE_SERVICES:
        pytest.exit("REQUIRE_SERVICES=1 but Redis is not reachable on 127.0.0.1:6379", 3)

    with PrivateRedis() as server:
        yield server.url


@pytest.fixture(scope="session")
def smtp_sink(tmp_path_factory) -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on a free loopback port; messages land in a Mailbox."""
    with SmtpSink(tmp_path_factory.mktemp("mailbox")) as sink:
        yield sink


@pytest.fixture(scope="session")
def app(database_url, redis_url, smtp_sink, tmp_path_factory):
    """The app on the test database, with the schema built by running the migrations."""

    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_sink.port,
        "MAIL_SUPPRESS_SEND": False,
        "MAILBOX_DIR": str(smtp_sink.mailbox.directory),
        "PASSWORD_HASH_PROFILE": "test",
        "VAPID_DEV_KEY_FILE": str(tmp_path_factory.mktemp("vapid") / "vapid.json"),
        "SERVER_NAME": None,
    })
    app.test_client_class = PortalClient
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():

        db.engine.dispose()


def _clean_database(app) -> None:
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # The access log is append-only by trigger; emptying the test database between
                # tests is not the application changing it (this session's triggers are off).
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            # Children first; DELETE takes ~10 ms where TRUNCATE takes ~300 ms on PostgreSQL.
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
        db.session.remove()


@pytest.fixture(autouse=True)
def _isolation(request):
    """Every test starts from a clean database, mailbox, queue, rate limit and clock.

    Unit tests (tests/unit) need none of the services, so they do not start them.
    """
    if "unit" in request.node.path.parts:
        yield
        return

    app = request.getfixturevalue("app")
    redis_url = request.getfixturevalue("redis_url")
    smtp_sink = request.getfixturevalue("smtp_sink")
    _clean_database(app)
    smtp_sink.mailbox.clear()
    Redis.from_url(redis_url).flushdb()
    with app.app_context():
        limiter.reset()
    clock.unfreeze()
    yield
    clock.unfreeze()


@pytest.fixture
def app_ctx(app):
    """An app context for service-level tests."""
    with app.app_context():
        yield app


@pytest.fixture
def client(app) -> PortalClient:
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def mailbox(smtp_sink) -> Mailbox:
    return smtp_sink.mailbox


@pytest.fixture
def frozen_clock():
    """The shared clock, for tests that move time (call .freeze / .advance)."""
    return clock


CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


class PortalClient(FlaskClient):
    """The Flask test client plus the steps a browser does: CSRF tokens and logging in."""

    def open(self, *args, **kwargs):
        # Each request in a context of its own, as in production: a test holding an app
        # context (factory, app_ctx) would otherwise share g and the db session with it.
        return contextvars.Context().run(super().open, *args, **kwargs)

    def csrf_token(self) -> str:
        page = self.get("/doctors/").get_data(as_text=True)
        match = CSRF_RE.search(page)
        assert match, "the base layout must carry the CSRF token for HTMX"
        return match.group(1)

    def post_form(self, url: str, data: dict | None = None, **kwargs):
        """POST a form as the browser would, CSRF token included."""
        return self.post(url, data={**(data or {}), "csrf_token": self.csrf_token()}, **kwargs)

    def login(self, email: str, password: str = "correct-horse-9"):
        response = self.post_form("/account/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def api_token(self, email: str, password: str = "correct-horse-9") -> str:
        response = self.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["access_token"]


@pytest.fixture
def factory(app_ctx):
    """Builders for users and doctors (see tests/factories.py)."""

    return factories


class LiveServer:
    def __init__(self, app) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[LiveServer]:
    """The app served over HTTP on a free loopback port, for browsers and concurrency tests."""
    server = LiveServer(app).start()
    yield server
    server.stop()




class RazorpaySandbox:
    """The Razorpay stand-in on a free port, with the test app pointed at it."""

    def __init__(self, server, key_id: str, key_secret: str) -> None:
        self.server = server
        self.url = server.url
        self._http = requests.Session()
        self._http.auth = (key_id, key_secret)

    def control(self, method: str, path: str, json: dict | None = None) -> dict:
        response = self._http.request(method, f"{self.url}/_sandbox{path}", json=json,
                                      timeout=30)
        assert response.status_code < 400, response.text
        return response.json()

    def pay(self, order_id: str, outcome: str = "success", **extra) -> dict:
        """Pay an order as Checkout would; returns the three signed fields (or the error)."""
        return self.control("POST", f"/orders/{order_id}/pay", {"outcome": outcome, **extra})

    def deliver_webhooks(self) -> list[dict]:
        """Send every pending webhook now (delivery is manual in tests: deterministic)."""
        return self.control("POST", "/webhooks/deliver").get("items", [])

    def webhooks(self, **filters) -> list[dict]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        return self.control("GET", f"/webhooks?{query}").get("items", [])


@pytest.fixture(scope="session")
def _razorpay_server(app, live_server):
    config = app.config
    sandbox_app = create_sandbox_app(
        config["RAZORPAY_KEY_ID"], config["RAZORPAY_KEY_SECRET"],
        f"{live_server.url}/api/v1/payments/webhook", config["RAZORPAY_WEBHOOK_SECRET"],
        retry_delays=(0.05, 0.1), background_delivery=False)
    with RazorpayServer(sandbox_app) as server:
        previous = {k: config[k] for k in ("RAZORPAY_BASE_URL", "RAZORPAY_CHECKOUT_URL")}
        config["RAZORPAY_BASE_URL"] = server.base_url
        config["RAZORPAY_CHECKOUT_URL"] = f"{server.url}/checkout"
        yield server
        config.update(previous)


@pytest.fixture
def razorpay(app, _razorpay_server) -> RazorpaySandbox:
    """The Razorpay sandbox, emptied for this test; webhooks go out when the test says."""
    sandbox = RazorpaySandbox(_razorpay_server, app.config["RAZORPAY_KEY_ID"],
                              app.config["RAZORPAY_KEY_SECRET"])
    sandbox.control("POST", "/reset")
    return sandbox


@pytest.fixture(scope="session")
def _twilio_server(app, live_server, smtp_sink):
    config = app.config
    sandbox_app = create_twilio_sandbox(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
                                        str(smtp_sink.mailbox.directory),
                                        background_callbacks=False)
    with TwilioServer(sandbox_app) as server:
        previous = config["TWILIO_BASE_URL"]
        config["TWILIO_BASE_URL"] = server.base_url
        yield server
        config["TWILIO_BASE_URL"] = previous


@pytest.fixture
def twilio(app, _twilio_server, live_server):
    """The Twilio stand-in, emptied for this test; status callbacks go out when asked."""

    # Status callbacks are sent to PUBLIC_URL: the live server, for this test only.
    previous_public_url = app.config["PUBLIC_URL"]
    app.config["PUBLIC_URL"] = live_server.url

    session = requests.Session()
    session.auth = (app.config["TWILIO_ACCOUNT_SID"], app.config["TWILIO_AUTH_TOKEN"])

    def control(method: str, path: str, json: dict | None = None) -> dict:
        response = session.request(method, f"{_twilio_server.base_url}/_sandbox{path}",
                                    json=json, timeout=30)
        assert response.status_code < 400, response.text
        return response.json()

    control("POST", "/reset")
    yield control
    app.config["PUBLIC_URL"] = previous_public_url
