#!/usr/bin/env python3
"""`systemd-analyze security` exposure and `systemd-analyze verify` of every unit of an app.

The units are the ones the services role writes (/etc/systemd/system/<app>-*.service).
A template (`<app>-api@.service`) is analysed through its running instances, or
through the instance `@0` when none runs.

  unit_audit.py --host tradeops-sandbox-1 --app trader

Exit codes: 0 every unit at or under --max and verify silent, 1 otherwise, 2 a step could not run.
"""
from __future__ import annotations

import argparse
import re

from _hosts import exit_code, sh


def units(host: str, app: str) -> list[str]:
    files = sh(["podman", "exec", host, "systemctl", "list-unit-files", "--type=service", "--no-legend",
                f"{app}-*.service"]).stdout.split("\n")
    names = sorted(line.split()[0] for line in files if line.strip())
    result: list[str] = []
    for name in names:
        if not name.endswith("@.service"):
            result.append(name)
            continue
        loaded = sh(["podman", "exec", host, "systemctl", "list-units", "--type=service", "--no-legend", "--plain",
                     name.replace("@.service", "@*.service")]).stdout.split("\n")
        instances = sorted(line.split()[0] for line in loaded if line.strip())
        result += instances or [name.replace("@.service", "@0.service")]
    return result


def exposure(host: str, unit: str) -> tuple[float, str]:
    out = sh(["podman", "exec", host, "systemd-analyze", "security", "--no-pager", unit], check=False).stdout
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\S+)", out)
    if not match:
        raise SystemExit(f"systemd-analyze security {unit} printed no exposure:\n{out[-1500:]}")
    return float(match.group(1)), match.group(2)


def verify(host: str, unit: str) -> str:
    """systemd-analyze verify's complaints about this unit file (empty when none)."""
    res = sh(["podman", "exec", host, "systemd-analyze", "verify", unit], check=False)
    return res.stdout.strip()


def report(host: str, app: str, limit: float) -> int:
    found = units(host, app)
    if not found:
        raise SystemExit(f"no {app}-*.service units in {host}: run site.yml first")
    bad = 0
    print(f"[audit] systemd-analyze security (exposure, lower is better; limit {limit}):")
    for unit in found:
        level, word = exposure(host, unit)
        complaints = verify(host, unit)
        over = level > limit
        bad += over + bool(complaints)
        print(f"  {unit:32} {level:4.1f} {word}{'   OVER THE LIMIT' if over else ''}")
        for line in complaints.splitlines():
            print(f"      verify: {line}")
    return bad


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", required=True, help="sandbox container name, e.g. tradeops-sandbox-1")
    p.add_argument("--app", default="trader", help="app name from services_apps (default trader)")
    p.add_argument("--max", type=float, default=2.5, help="highest exposure allowed (default 2.5)")
    args = p.parse_args()
    return exit_code(lambda: report(args.host, args.app, args.max))


if __name__ == "__main__":
    raise SystemExit(main())
