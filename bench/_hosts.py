"""Shared helpers for the bench scripts: a throwaway sandbox host and timed commands."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from sandbox import read_inventory, write_inventory  # noqa: E402 (scripts/ is not a package)
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


def up(prefix: str, hosts: int = 1, all_web: bool = False) -> Path:
    """Start `hosts` fresh sandbox hosts; with all_web, every one is also in group web.

    sandbox.py spreads several hosts over web, workers and db; site.yml gives the app
    (nginx, the services units) to web only, so a bench of the app on every host needs
    them all there (each keeps its own group too).
    """
    inv = ROOT / ".sandbox" / prefix / "hosts.yml"
    sh(["python3", "scripts/sandbox.py", "up", "--prefix", prefix, "--hosts", str(hosts), "--inventory", str(inv)],
       quiet=False)
    if all_web:
        write_inventory(inv, [{"name": name, "ssh": h["ansible_port"], "http": h["sandbox_http_port"],
                               "https": h["sandbox_https_port"], "groups": sorted({"web", *h["groups"]})}
                              for name, h in read_inventory(inv).items()])
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
    """The PLAY RECAP's host lines (one per host, joined with " | ")."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("PLAY RECAP"):
            hosts = []
            for host_line in lines[i + 1:]:
                if not host_line.strip() or ": ok=" not in host_line:
                    break
                hosts.append(host_line.strip())
            if len(hosts) > 1:  # several hosts: name and the counts that matter, on one line
                hosts = [" ".join([h.split()[0], *re.findall(r"(?:ok|changed|unreachable|failed)=[0-9]+", h)])
                         for h in hosts]
            return " | ".join(hosts) or "(no recap)"
    return "(no recap)"
