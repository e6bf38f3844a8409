"""PostgreSQL restarted while the portal serves: requests fail cleanly for those seconds, then
succeed again without a restart of the portal.

The shared PostgreSQL is never touched: the portal here is a second app from `create_app` on a
private cluster (initdb in a temporary directory, its own port), with the schema built by the
migrations, served over HTTP by the suite's `LiveServer`. It runs as in production (not in
testing mode, so errors are handled the way users would see them). One client thread per page
keeps asking for: the doctor directory (HTML, read from the database), the same list from the
API (JSON), a logged-in patient's appointments page (the session's user is loaded from the
database), and /readyz (the readiness probe; /healthz asks nothing of the database, so it stays
200). Meanwhile the cluster is stopped ("fast": every session is cut, as
in a restart), left down for OUTAGE_SECONDS, and started again.

During the outage every answer must come within the client's timeout and be clean: the error
page, a problem+json document, or 503 from /readyz naming postgres, never a traceback or a
driver's message.
Every request that starts after the cluster is back must succeed, from the same app object:
SQLAlchemy's pool_pre_ping replaces the pooled connections the restart killed.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import pytest
import requests
from flask_migrate import upgrade

from portal import create_app
from portal.extensions import db
from tests import factories
from tests.conftest import LiveServer
from tests.factories import PASSWORD

OUTAGE_SECONDS = 3
HTTP_TIMEOUT = 10  # seconds: an answer later than this counts as a hang
SETTLE_SECONDS = 3  # polling after the cluster is back
LEAKS = re.compile(r"Traceback|psycopg|OperationalError|sqlalchemy|File \"", re.I)
CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')

# The suite's test settings that a second app needs (tests/conftest.py's `app`).
SHARED = ("SECRET_KEY", "REDIS_URL", "MAIL_SERVER", "MAIL_PORT", "MAIL_SUPPRESS_SEND",
          "MAILBOX_DIR", "PASSWORD_HASH_PROFILE", "SERVER_NAME")


@dataclass
class Sample:
    page: str
    started: float
    finished: float
    status: int | None = None
    content_type: str = ""
    body: str = ""
    error: str | None = None


class Poller:
    """One thread per page, each on its own keep-alive connection, asking again and again."""

    def __init__(self, pages: dict[str, tuple[requests.Session, str]]) -> None:
        self.pages = pages
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(name,), daemon=True)
                         for name in pages]

    def start(self) -> Poller:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=HTTP_TIMEOUT + 5)
        assert not any(t.is_alive() for t in self._threads), "a client is still waiting"

    def _run(self, name: str) -> None:
        http, url = self.pages[name]
        while not self._stop.is_set():
            sample = Sample(name, time.monotonic(), 0.0)
            try:
                response = http.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False)
                sample.status = response.status_code
                sample.content_type = response.headers.get("Content-Type", "")
                sample.body = response.text
            except requests.RequestException as exc:
                sample.error = f"{type(exc).__name__}: {exc}"
            sample.finished = time.monotonic()
            with self._lock:
                self.samples.append(sample)
            time.sleep(0.05)

    def successes(self, name: str) -> int:
        with self._lock:
            return sum(1 for s in self.samples if s.page == name and s.status == 200)


def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def bare_server_error(sample: Sample) -> bool:
    """The WSGI server's own "500 Internal Server Error" page: the app's handler failed too."""
    return sample.status == 500 and "<title>500 Internal Server Error</title>" in sample.body


def clean_failure(sample: Sample, *, straddling: bool = False) -> str | None:
    """Why a failed answer is not clean, or None when it is.

    Two known bugs outside this issue's files answer with the WSGI server's bare 500 page
    (still a 500 without internals, and the portal keeps serving), so it is accepted for them:
    - a logged-in page: the error page itself loads the session's user from the database
      (the xfail test below);
    - a request the stop cut in the middle (`straddling`): its query had succeeded, then the
      server ended the connection, and Flask-SQLAlchemy's teardown (session.remove()) raises
      when its ROLLBACK fails, after the page was rendered.
    """
    if sample.status not in (500, 503):
        return f"status {sample.status}"
    if LEAKS.search(sample.body):
        return "internals in the body"
    if bare_server_error(sample) and (straddling or sample.page == "my-appointments"):
        return None
    if sample.page == "readyz":
        ok = sample.status == 503 and '"postgres":"failed"' in sample.body.replace(" ", "")
        return None if ok else "not the 503 readiness answer"
    if sample.page == "api":
        ok = sample.content_type.startswith("application/problem+json") and \
            '"status":500' in sample.body.replace(" ", "")
        return None if ok else "not a problem+json document"
    ok = sample.content_type.startswith("text/html") and "Something went wrong" in sample.body
    return None if ok else "not the error page"


@pytest.fixture
def portal_on_private_postgres(app, private_postgres):
    """A second portal app on the private cluster, with a doctor and a patient, served."""

    portal = create_app({**{key: app.config[key] for key in SHARED},
                         "TESTING": False, "RATELIMIT_STORAGE_URI": "memory://",
                         "SQLALCHEMY_DATABASE_URI": private_postgres.url})
    with portal.app_context():
        upgrade()
        factories.create_doctor(hours=())
        patient = factories.create_patient()
        email = patient.email
        db.session.remove()
    server = LiveServer(portal).start()
    try:
        yield portal, server, email
    finally:
        server.stop()
        with portal.app_context():
            db.engine.dispose()


def logged_in(base_url: str, email: str) -> requests.Session:
    http = requests.Session()
    page = http.get(f"{base_url}/doctors/", timeout=HTTP_TIMEOUT).text
    token = CSRF_RE.search(page).group(1)
    response = http.post(f"{base_url}/account/login", timeout=HTTP_TIMEOUT,
                         allow_redirects=False,
                         data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text[:300]
    assert http.get(f"{base_url}/appointments/", timeout=HTTP_TIMEOUT,
                    allow_redirects=False).status_code == 200
    return http


@pytest.mark.faults
@pytest.mark.timeout(120)
def test_requests_fail_cleanly_while_postgres_restarts_and_recover_without_a_restart(
        private_postgres, portal_on_private_postgres):
    portal, server, email = portal_on_private_postgres
    with portal.app_context():
        assert portal.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
        assert db.engine.pool._pre_ping is True  # what the engine really does
        engine_before = db.engine

    poller = Poller({
        "directory": (requests.Session(), f"{server.url}/doctors/"),
        "api": (requests.Session(), f"{server.url}/api/v1/doctors"),
        "my-appointments": (logged_in(server.url, email), f"{server.url}/appointments/"),
        "readyz": (requests.Session(), f"{server.url}/readyz"),
    }).start()
    try:
        wait_for(lambda: all(poller.successes(p) >= 3 for p in poller.pages), 20)

        private_postgres.stop("fast")  # every session cut, no new ones accepted
        down_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        restarting_at = time.monotonic()
        private_postgres.start()  # -w: returns once it accepts connections
        up_at = time.monotonic()
        time.sleep(SETTLE_SECONDS)
    finally:
        poller.stop()

    samples = poller.samples
    assert [s for s in samples if s.error] == []  # every request got an answer in time
    assert max(s.finished - s.started for s in samples) < HTTP_TIMEOUT

    # While the cluster was down: only clean failures, and each page did fail.
    during = [s for s in samples if s.started >= down_at and s.finished <= restarting_at]
    for page in poller.pages:
        assert [s for s in during if s.page == page], f"{page} was not asked during the outage"
    unclean = [(s.page, s.status, reason, s.body[:300]) for s in during
               if (reason := clean_failure(s))]
    assert unclean == []
    # Around the stop and the start, each answer is a success or a clean failure.
    around = [s for s in samples if s not in during and s.status != 200]
    unclean = [(s.page, s.status, reason, s.body[:300]) for s in around
               if (reason := clean_failure(s, straddling=True))]
    assert unclean == []

    # Back: every request that started after the restart succeeded, on the same app.
    after = [s for s in samples if s.started >= up_at]
    for page in poller.pages:
        assert [s for s in after if s.page == page], f"{page} was not asked after the restart"
    assert [(s.page, s.status, s.body[:300]) for s in after if s.status != 200] == []
    assert "Dr. Test" in next(s.body for s in reversed(after) if s.page == "directory")
    with portal.app_context():
        assert db.engine is engine_before


@pytest.mark.faults
@pytest.mark.timeout(120)
def test_a_logged_in_patient_gets_the_portals_error_page_while_postgres_is_down(
        private_postgres, portal_on_private_postgres):
    _portal, server, email = portal_on_private_postgres
    http = logged_in(server.url, email)
    private_postgres.stop("fast")
    response = http.get(f"{server.url}/appointments/", timeout=HTTP_TIMEOUT,
                        allow_redirects=False)
    assert response.status_code == 500
    assert not LEAKS.search(response.text)
    assert "Something went wrong" in response.text, response.text[:300]
