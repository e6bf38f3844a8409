"""`python -m bench`: run every benchmark in turn and print their figures.

`python -m bench` runs all of MODULES with no arguments; `python -m bench NAME ARGS...` runs
only bench.NAME with ARGS (e.g. `python -m bench slot_generation --doctors 50 --days 7`).
"""

from __future__ import annotations

import importlib
import sys

# Each exposes main(argv) -> int and prints a table plus one line of JSON with its figures.
MODULES = [
    "bench.slot_generation",
    "bench.reservations",
]


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
    for name in modules:
        print(f"== {name}", flush=True)
        code = importlib.import_module(name).main(list(args))
        if code:
            print(f"{name} failed with exit code {code}", file=sys.stderr)
            status = status or code
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
