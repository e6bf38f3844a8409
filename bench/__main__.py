"""`python -m bench`: run every benchmark in turn, then print one table of their figures.

`python -m bench` runs all of MODULES with no arguments; `python -m bench NAME ARGS...` runs
only bench.NAME with ARGS (e.g. `python -m bench slot_generation --doctors 50 --days 7`).

Each module prints its own table and one line of JSON with its figures; this collects those
lines from what it prints and ends with a summary table (Markdown, as in the README). A module
that fails or raises does not stop the others: its error is printed, the run goes on, and the
exit status is non-zero at the end.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime

# Each exposes main(argv) -> int and prints a table plus one line of JSON with its figures.
MODULES = [
    "bench.slot_generation",
    "bench.reservations",
    "bench.reminders",
    "bench.waitlist",
]


class Tee(io.TextIOBase):
    """Writes through to `out` and keeps every complete line it saw."""

    def __init__(self, out) -> None:
        self.out = out
        self.lines: list[str] = []
        self._partial = ""

    def write(self, text: str) -> int:
        self.out.write(text)
        *complete, self._partial = (self._partial + text).split("\n")
        self.lines.extend(complete)
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def figures_in(lines: list[str]) -> dict | None:
    """The last line of JSON naming a benchmark (`{"bench": ...}`) among `lines`."""
    for line in reversed(lines):
        if line.startswith('{"bench"'):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def run_module(name: str, args: list[str]) -> tuple[int, dict | None, float]:
    """Run one benchmark; (exit status, its figures or None, seconds). Never raises."""
    tee = Tee(sys.stdout)
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(tee):
            code = importlib.import_module(name).main(list(args))
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:  # argparse and friends
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - one broken benchmark must not hide the others
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    return code or 0, figures_in(tee.lines), time.perf_counter() - started


# --- the summary ---------------------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    memory_kib = 0
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    memory_kib = int(line.split()[1])
                    break
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gib": round(memory_kib / 2**20, 1),
            "python": platform.python_version(), "loadavg": os.getloadavg()}


def _n(value, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


def _seconds(ms) -> str:
    return "-" if ms is None else f"{ms / 1000:,.2f} s"


def _mib(kib) -> str:
    return "-" if not kib else f"{kib / 1024:,.0f} MiB"


def summary_rows(figures: dict[str, dict | None]) -> list[tuple[str, str]]:
    """(what, figure) rows from each benchmark's JSON line; a missing benchmark shows why."""
    rows: list[tuple[str, str]] = []
    res = figures.get("bench.reservations")
    if res:
        ceiling = res.get("ceiling_requests_per_s")
        rows.append((f"Reservations, {res['clients']} concurrent clients",
                     f"{_n(res['reservations_per_s'], 1)}/s; p50 {_n(res['reserve_p50_ms'])} ms, "
                     f"p99 {_n(res['reserve_p99_ms'])} ms; {_n(res['reserve_requests_per_s'], 1)}"
                     f" requests/s = {_n(res['ratio'], 2)} x ceiling"))
        if "listing_p50_ms" in res:
            rows.append(("Slot listing (14 days of a doctor's slots), same clients",
                         f"p50 {_n(res['listing_p50_ms'])} ms, p99 {_n(res['listing_p99_ms'])} ms;"
                         f" {_n(res['listing_requests_per_s'], 1)} requests/s = "
                         f"{_n(res['listing_ratio'], 2)} x ceiling"))
        rows.append(("Ceiling: GET /healthz, same clients",
                     f"{_n(ceiling, 1)} requests/s; p50 {_n(res['ceiling_p50_ms'])} ms, "
                     f"p99 {_n(res['ceiling_p99_ms'])} ms"))
    else:
        rows.append(("Reservations and slot listing", "failed (see above)"))
    gen = figures.get("bench.slot_generation")
    if gen:
        rows.append((f"Slot generation, {gen['doctors']:,} doctors x {gen['days']} days",
                     f"{gen['slots_created']:,} slots in {_n(gen['seconds'], 1)} s = "
                     f"{_n(gen['slots_per_second'])} slots/s"))
    else:
        rows.append(("Slot generation", "failed (see above)"))
    rem = figures.get("bench.reminders")
    if rem:
        lag = rem["lag_email"]
        rows.append((f"Reminders: {rem['reminders']:,} due within {rem['spread_s']:g} s, "
                     "one worker",
                     f"{_n(rem['emails_per_second'], 1)} emails/s delivered; lag due -> "
                     f"email p50 {_seconds(lag['p50_ms'])}, p99 {_seconds(lag['p99_ms'])}; "
                     f"{rem['emails']:,} emails, {rem['duplicate_emails']} duplicates"))
    else:
        rows.append(("Reminders", "failed (see above)"))
    wait = figures.get("bench.waitlist")
    if wait:
        lag = wait["lag_first_offer_email"]
        rows.append((f"Waitlist: {wait['cancellations']:,} cancellations at once, "
                     f"{wait['waiting']:,} waiting for {wait['doctors']} doctors, one worker",
                     f"cancellation -> first offer email p50 {_n(lag['p50_s'], 2)} s, p99 "
                     f"{_n(lag['p99_s'], 2)} s; {wait['offers_per_cancellation']['mean']:g} "
                     f"offers per cancellation; {wait['unoffered']} never offered"))
    else:
        rows.append(("Waitlist offers", "failed (see above)"))
    if res and res.get("web_worker_memory_kib"):
        peaks = [m.get("VmHWM") for m in res["web_worker_memory_kib"]]
        rows.append(("Memory of a web worker (gunicorn gthread, peak RSS after the run)",
                     " / ".join(_mib(k) for k in peaks)))
    if rem and rem.get("worker_memory_kib"):
        rows.append(("Memory of an RQ worker (peak RSS after the run)",
                     f"{_mib(rem['worker_memory_kib'].get('VmHWM'))} (its scheduler child "
                     f"{_mib(rem.get('scheduler_memory_kib', {}).get('VmHWM'))})"))
    if res:
        doubles = res["slots_with_two_active"] + res["overlapping_active_pairs"]
        rows.append(("Double bookings", f"{doubles} ({res['active_appointments']:,} "
                                        "active appointments checked)"))
    return rows


def summary_lines(figures: dict[str, dict | None], host: dict, failed: list[str]) -> list[str]:
    rows = summary_rows(figures)
    width = max(len(what) for what, _ in rows)
    lines = [f"| {'What':<{width}} | Figure |", f"| {'-' * width} | --- |"]
    lines += [f"| {what:<{width}} | {value} |" for what, value in rows]
    load = host["loadavg"]
    postgres = next((f["postgres"].split()[0] for f in figures.values() if f and "postgres" in f),
                    "?")
    lines += ["", f"Machine: {host['nproc']} x {host['cpu']}, {host['memory_gib']:g} GiB; "
                  f"Python {host['python']}, PostgreSQL {postgres}; load average at the end "
                  f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min; the machine "
                  f"is shared). {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `make bench`."]
    if failed:
        lines.append("Failed: " + ", ".join(failed))
    return lines


def main(argv: list[str]) -> int:
    modules, args = MODULES, []
    if argv:
        wanted = argv[0] if argv[0].startswith("bench.") else f"bench.{argv[0]}"
        if wanted not in MODULES:
            print(f"unknown benchmark {argv[0]!r}; choose from: "
                  + ", ".join(name.removeprefix("bench.") for name in MODULES), file=sys.stderr)
            return 2
        modules, args = [wanted], argv[1:]
    status = 0
    figures: dict[str, dict | None] = {}
    failed: list[str] = []
    for name in modules:
        print(f"== {name}", flush=True)
        code, found, seconds = run_module(name, args)
        figures[name] = found
        print(f"== {name}: exit {code} in {seconds:.0f} s", flush=True)
        if code:
            print(f"{name} failed with exit code {code}", file=sys.stderr, flush=True)
            failed.append(f"{name} (exit {code})")
            status = status or code
    if len(modules) > 1:
        print("\n== summary", flush=True)
        for line in summary_lines(figures, machine(), failed):
            print(line)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
