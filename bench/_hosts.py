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


def mitogen_env() -> dict[str, str]:
    """The variables scripts/mitogen.sh exports (opt-in Mitogen strategy), read back from bash."""
    out = subprocess.run(["bash", "-c", f". {ROOT}/scripts/mitogen.sh && env -0"], check=True, capture_output=True,
                         env=dict(os.environ, PATH=f"{VENV_BIN}:{os.environ['PATH']}")).stdout.decode()
    env = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {k: env[k] for k in ("ANSIBLE_STRATEGY_PLUGINS", "ANSIBLE_STRATEGY", "ANSIBLE_SSH_ARGS")}


def sh(cmd: list[str], check: bool = True, quiet: bool = True, extra_env: dict[str, str] | None = None,
       **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), **(extra_env or {}))
    res = subprocess.run(cmd, cwd=ROOT, env=env, text=True,
                         stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None, **kw)
    if check and res.returncode != 0:
        print(res.stdout[-4000:] if res.stdout else "", file=sys.stderr)
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}")
    return res


def timed(cmd: list[str], extra_env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.monotonic()
    res = sh(cmd, extra_env=extra_env)
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
