"""Dependency audit for CI and `make audit`: pip-audit over requirements.lock.

Fails (exit 1) on a known vulnerability in any pinned package. When no vulnerability database
can be reached (no network, or a registry mirror without PyPI's JSON API, where pip-audit
reports every package as "not found" and exits 0), it prints a clear warning and exits 0: a
missing network must not fail CI, and must not pass for a clean audit either. A pip-audit that
breaks for another reason exits 2.

    python .ci/audit.py [requirements.lock]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

SERVICES = ("pypi", "osv")  # PyPI's JSON API first (the registry), then OSV
UNREACHABLE_HINTS = ("ConnectionError", "NameResolutionError", "Max retries exceeded",
                     "ReadTimeout", "ConnectTimeout", "Temporary failure in name resolution",
                     "Network is unreachable")
NOT_AUDITED = "could not be audited"
TIME_LIMIT = 300  # seconds per service: a database that hangs is as good as unreachable


def run_pip_audit(lock: Path, service: str) -> tuple[dict | None, str]:
    """pip-audit's JSON report (None if it wrote none) and its stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        try:
            result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
                [sys.executable, "-m", "pip_audit", "-r", str(lock), "--no-deps",
                 "--disable-pip", "--progress-spinner", "off", "--timeout", "20", "-s", service,
                 "-f", "json", "-o", str(report)],
                capture_output=True, text=True, timeout=TIME_LIMIT, check=False)
        except subprocess.TimeoutExpired:
            return None, f"ReadTimeout: no answer within {TIME_LIMIT} s"
        try:
            return json.loads(report.read_text()), result.stderr
        except (OSError, ValueError):
            return None, result.stderr


def findings(report: dict) -> list[str]:
    return [f"{dep['name']} {dep.get('version', '?')}: {vuln['id']} "
            f"(fixed in {', '.join(vuln.get('fix_versions') or []) or 'no release yet'})"
            for dep in report.get("dependencies", []) for vuln in dep.get("vulns") or []]


def audited(report: dict) -> list[dict]:
    return [dep for dep in report.get("dependencies", [])
            if NOT_AUDITED not in (dep.get("skip_reason") or "")]


def gate(lock: Path, run=run_pip_audit) -> int:
    notes = []
    for service in SERVICES:
        report, stderr = run(lock, service)
        if report is None:
            if any(hint in stderr for hint in UNREACHABLE_HINTS):
                notes.append(f"{service}: unreachable ({stderr.strip().splitlines()[-1][:160]})")
                continue
            print(f"pip-audit failed with the {service} service:\n{stderr[-3000:]}")
            return 2
        vulnerable = findings(report)
        if vulnerable:
            print(f"pip-audit ({service}): known vulnerabilities in {lock}:")
            print("\n".join(f"  {line}" for line in vulnerable))
            print("Upgrade the pins (pyproject.toml and requirements.lock) and re-run the tests.")
            return 1
        checked = audited(report)
        if checked:
            skipped = len(report.get("dependencies", [])) - len(checked)
            print(f"pip-audit ({service}): no known vulnerabilities in {len(checked)} packages"
                  + (f" ({skipped} could not be audited)" if skipped else "") + ".")
            return 0
        notes.append(f"{service}: answered for none of the "
                     f"{len(report.get('dependencies', []))} packages (no JSON API here)")
    print("=" * 78)
    print("WARNING: dependency audit SKIPPED: no vulnerability database could be reached.")
    for note in notes:
        print(f"  {note}")
    print("The pins were NOT checked. Run `make audit` where PyPI or OSV is reachable.")
    print("=" * 78)
    return 0


if __name__ == "__main__":
    sys.exit(gate(Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock")))
