#!/usr/bin/env python3
"""Run Molecule scenarios, several at a time (`make molecule`, `make test`).

  molecule_lanes.py [--jobs N] SCENARIO...

With --jobs 1 the scenarios run one after the other with Molecule's own output, as before.
With N > 1 they are spread over N lanes (longest first, each to the lane that frees up
first, by the durations measured in the last clean-clone CI run), each lane running its
scenarios in turn. A scenario spends much of its time waiting on SSH round trips, systemd
and package downloads, so two lanes on this project's 2-core machine kind finish well
before one. Each scenario's full output goes to .sandbox/logs/molecule-<scenario>.log;
the terminal gets one line per Molecule step and per result, and, when a scenario fails,
the last lines of its log. Scenarios do not share hosts, ports or state (their container
names carry the scenario and a hash of the checkout; ports are random).

Exit status: 0 when every scenario passed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".sandbox" / "logs"
MOLECULE = ROOT / ".venv" / "bin" / "molecule"

# Seconds each scenario took, two at a time (the CI's load): quadlet, senex, seeds, apps and
# deploy on 2026-12-08; hardening, ops and web in the clean-clone CI of 2026-12-07 (a slow day
# of this machine kind). Only order and rough size matter. A scenario not listed counts as
# UNKNOWN.
MEASURED = {"quadlet": 1055, "senex": 954, "seeds": 948, "apps": 437, "hardening": 453, "deploy": 333, "ops": 335,
            "web": 321}
UNKNOWN = 300
# A scenario that runs right after another in the same lane: senex reuses the base image
# tarball that quadlet builds (same recipe, cached on the controller) instead of building it again.
AFTER = {"senex": "quadlet"}

STEP = re.compile(r"\[(?P<scenario>[\w-]+) > (?P<step>[\w-]+)\] (?P<what>Executing|Executed: Failed)")
SUMMARY = re.compile(r"^\s*-?\s*(\d+ (passed|failed).*in [\d.]+s.*)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

print_lock = threading.Lock()
T0 = time.monotonic()


def molecule_test(name: str) -> list[str]:
    return [str(MOLECULE), "test", "-s", name]


def say(msg: str) -> None:
    with print_lock:
        print(f"[molecule {time.monotonic() - T0:5.0f}s] {msg}", flush=True)


def plan(scenarios: list[str], jobs: int) -> list[list[str]]:
    """Longest first, each to the lane with the least work so far; a scenario of AFTER goes
    with the one it follows (the pair counts as one piece of work)."""
    followers = {first: after for after, first in AFTER.items() if after in scenarios and first in scenarios}
    units = [[name, *([followers[name]] if name in followers else [])]
             for name in scenarios if name not in followers.values()]
    lanes: list[list[str]] = [[] for _ in range(min(jobs, len(units)))]
    load = [0] * len(lanes)
    for unit in sorted(units, key=lambda u: -sum(MEASURED.get(s, UNKNOWN) for s in u)):
        i = load.index(min(load))
        lanes[i].extend(unit)
        load[i] += sum(MEASURED.get(s, UNKNOWN) for s in unit)
    return lanes


def run_logged(name: str, lane: int) -> bool:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"molecule-{name}.log"
    started = time.monotonic()
    say(f"{name}: started (lane {lane}); full output in {log.relative_to(ROOT)}")
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(molecule_test(name), cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            fh.flush()
            plain = ANSI.sub("", line)
            m = STEP.search(plain)
            if m and m.group("scenario") == name:
                say(f"{name}: {m.group('step')}" + (" FAILED" if "Failed" in m.group("what") else ""))
            s = SUMMARY.match(plain)
            if s:
                say(f"{name}: tests {s.group(1)}")
        rc = proc.wait()
    took = time.monotonic() - started
    if rc == 0:
        say(f"{name} passed in {took:.0f} s")
        return True
    tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-80:]
    with print_lock:
        print(f"\n----- last {len(tail)} lines of {log.relative_to(ROOT)} -----", flush=True)
        print("\n".join(tail), flush=True)
        print("-----", flush=True)
    say(f"{name} FAILED (exit {rc}) after {took:.0f} s; full output: {log.relative_to(ROOT)}")
    return False


DIGEST = re.compile(r"(FAILED |fatal: |Idempotence test failed|^\*  => |Executed: Failed|^E\s+\S|"
                    r"AssertionError|\d+ (passed|failed))")


def failure_digest(log: Path, most: int = 30) -> list[str]:
    """The lines of a scenario's log that say what failed: pytest's FAILED and E lines,
    Ansible's fatal ones, the idempotence culprits, the step that failed."""
    try:
        lines = ANSI.sub("", log.read_text(encoding="utf-8", errors="replace")).splitlines()
    except OSError:
        return [f"(no log at {log})"]
    hits = [line.rstrip()[:300] for line in lines if DIGEST.search(line.lstrip(" -"))]
    if len(hits) <= most:
        return hits
    return hits[:most // 2] + ["..."] + hits[-(most // 2):]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=2, help="scenarios at a time (default 2)")
    p.add_argument("scenarios", nargs="+")
    args = p.parse_args()
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    missing = [s for s in args.scenarios if not (ROOT / "molecule" / s / "molecule.yml").is_file()]
    if missing:
        p.error(f"no such scenario: {', '.join(missing)} (see molecule/)")

    if args.jobs == 1:
        for n, name in enumerate(args.scenarios, 1):
            print(f"[molecule] scenario {n}/{len(args.scenarios)}: {name}", flush=True)
            started = time.monotonic()
            if subprocess.run(molecule_test(name), cwd=ROOT, check=False).returncode != 0:
                print(f"[molecule] {name} FAILED", flush=True)
                return 1
            print(f"[molecule] {name} passed in {time.monotonic() - started:.0f} s", flush=True)
        return 0

    lanes = plan(args.scenarios, args.jobs)
    for i, lane in enumerate(lanes, 1):
        say(f"lane {i}: {' then '.join(lane)}")
    results: dict[str, bool] = {}

    def lane_worker(i: int, names: list[str]) -> None:
        # A failed scenario does not stop its lane: scenarios share no hosts or state, and one
        # CI run then reports every scenario's result, not the first failure's alone.
        for name in names:
            results[name] = run_logged(name, i)

    threads = [threading.Thread(target=lane_worker, args=(i, lane), daemon=True)
               for i, lane in enumerate(lanes, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [s for s in args.scenarios if not results.get(s, False)]
    # Again at the very end, where a CI page that shows only the last lines still has them.
    for name in failed:
        with print_lock:
            print(f"----- why {name} failed (from {os.path.relpath(LOGS / f'molecule-{name}.log', ROOT)}) -----",
                  flush=True)
            print("\n".join(failure_digest(LOGS / f"molecule-{name}.log")), flush=True)
    say(f"{len(args.scenarios) - len(failed)}/{len(args.scenarios)} scenarios passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
