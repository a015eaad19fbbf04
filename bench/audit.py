#!/usr/bin/env python3
"""Lynis hardening index of a fresh sandbox host before and after site.yml.

Lynis comes from Debian's package inside the host. The host is a container, so some
controls (kernel sysctls, auditd, separate partitions) cannot apply: see README.
"""
from __future__ import annotations

import argparse
import re

from _hosts import VENV_BIN, down, host_names, recap, sh, up


def lynis(name: str) -> tuple[int, list[str]]:
    res = sh(["podman", "exec", name, "lynis", "audit", "system", "--quick", "--no-colors"], check=False)
    match = re.search(r"Hardening index : (\d+)", res.stdout)
    if not match:
        raise SystemExit("Lynis printed no hardening index:\n" + res.stdout[-2000:])
    report = sh(["podman", "exec", name, "cat", "/var/log/lynis-report.dat"]).stdout
    suggestions = [ln.split("=", 1)[1] for ln in report.splitlines() if ln.startswith("suggestion[]=")]
    return int(match.group(1)), suggestions


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefix", default="tradeops-audit")
    p.add_argument("--keep", action="store_true", help="keep the host afterwards")
    p.add_argument("--suggestions", action="store_true", help="list Lynis' remaining suggestions")
    args = p.parse_args()
    inv = up(args.prefix)
    name = host_names(inv)[0]
    try:
        print("[audit] installing lynis in the host (apt) ...", flush=True)
        sh(["podman", "exec", name, "sh", "-c",
            "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q lynis >/dev/null"])
        before, _ = lynis(name)
        print(f"[audit] Lynis hardening index, stock host: {before}", flush=True)
        print("[audit] running site.yml ...", flush=True)
        out = sh([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), "site.yml"]).stdout
        print(f"[audit] site.yml: {recap(out)}")
        after, suggestions = lynis(name)
        print(f"[audit] Lynis hardening index, after site.yml: {after}")
        if args.suggestions:
            print("\n".join(f"  - {s}" for s in suggestions))
    finally:
        if not args.keep:
            down(args.prefix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
