"""Shared helpers for the bench scripts: a throwaway sandbox host and timed commands."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from sandbox import read_inventory  # noqa: E402 (scripts/ is not a package)
VENV_BIN = ROOT / ".venv" / "bin"


def sh(cmd: list[str], check: bool = True, quiet: bool = True, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    res = subprocess.run(cmd, cwd=ROOT, env=env, text=True,
                         stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None, **kw)
    if check and res.returncode != 0:
        print(res.stdout[-4000:] if res.stdout else "", file=sys.stderr)
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}")
    return res


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.monotonic()
    res = sh(cmd)
    return time.monotonic() - t0, res.stdout


def up(prefix: str) -> Path:
    inv = ROOT / ".sandbox" / prefix / "hosts.yml"
    sh(["python3", "scripts/sandbox.py", "up", "--prefix", prefix, "--inventory", str(inv)], quiet=False)
    return inv


def down(prefix: str) -> None:
    sh(["python3", "scripts/sandbox.py", "down", "--prefix", prefix], check=False)


def host_names(inv: Path) -> list[str]:
    return list(read_inventory(inv))


def exit_code(audit: Callable[[], int]) -> int:
    """Run an audit that returns how many findings failed: exit 0 none, 1 some, 2 it could not run."""
    try:
        bad = audit()
    except (subprocess.CalledProcessError, SystemExit) as exc:
        print(f"[audit] ERROR: {exc}")
        return 2
    return 1 if bad else 0


def recap(output: str) -> str:
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("PLAY RECAP"):
            return lines[i + 1].strip()
    return "(no recap)"
