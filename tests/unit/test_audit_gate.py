"""The CI dependency audit (.ci/audit.py): a finding fails, no network only warns."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit.py")
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)

LOCK = Path("requirements.lock")
CLEAN = {"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": []}]}
VULNERABLE = {"dependencies": [{"name": "werkzeug", "version": "3.0.0", "vulns": [
    {"id": "GHSA-xxxx-yyyy-zzzz", "fix_versions": ["3.0.6"]}]}]}
NOT_FOUND = {"dependencies": [{"name": "flask", "skip_reason":
                               "Dependency not found on PyPI and could not be audited: flask"}]}
NO_DNS = "requests.exceptions.ConnectionError: ... NameResolutionError(...)"


def runner(answers):
    calls = []

    def run(lock, service):
        calls.append(service)
        return answers[service]

    run.calls = calls
    return run


def test_a_known_vulnerability_fails_and_names_the_fix(capsys):
    run = runner({"pypi": (VULNERABLE, "")})
    assert audit.gate(LOCK, run) == 1
    out = capsys.readouterr().out
    assert "werkzeug 3.0.0: GHSA-xxxx-yyyy-zzzz (fixed in 3.0.6)" in out


def test_a_clean_audit_passes():
    assert audit.gate(LOCK, runner({"pypi": (CLEAN, "")})) == 0


def test_the_second_service_is_asked_when_the_first_answers_for_nothing():
    run = runner({"pypi": (NOT_FOUND, ""), "osv": (VULNERABLE, "")})
    assert audit.gate(LOCK, run) == 1
    assert run.calls == ["pypi", "osv"]


@pytest.mark.parametrize("answers", [
    {"pypi": (NOT_FOUND, ""), "osv": (None, NO_DNS)},
    {"pypi": (None, NO_DNS), "osv": (None, NO_DNS)},
], ids=["mirror-without-json-api", "no-network"])
def test_no_reachable_database_warns_loudly_and_does_not_fail(capsys, answers):
    assert audit.gate(LOCK, runner(answers)) == 0
    out = capsys.readouterr().out
    assert "WARNING: dependency audit SKIPPED" in out
    assert "NOT checked" in out


def test_a_broken_pip_audit_is_not_mistaken_for_no_network():
    assert audit.gate(LOCK, runner({"pypi": (None, "error: unrecognized arguments")})) == 2
