#!/usr/bin/env python3
"""Time site.yml on a fresh sandbox host: the first converge and an idempotent re-run.

Prints wall times and the recap of each run, then the idempotent re-run of the hardening
part alone (--tags hardening: base + firewall, the scope of dev-sec's os + ssh hardening
that issue 3 compares with), each with Ansible's own strategy and then with Mitogen's
(opt-in: scripts/mitogen.sh, MITOGEN=1). Uses its own throwaway host (prefix
tradeops-bench) and removes it at the end.
"""
from __future__ import annotations

import argparse

from _hosts import VENV_BIN, down, mitogen_env, recap, timed, up


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefix", default="tradeops-bench", help="container name prefix (default tradeops-bench)")
    p.add_argument("--reruns", type=int, default=2, help="idempotent re-runs to time (default 2)")
    p.add_argument("--keep", action="store_true", help="keep the host afterwards")
    args = p.parse_args()
    inv = up(args.prefix)
    try:
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inv), "site.yml"]
        print("[bench] first converge of a fresh host (as root, with package installs) ...", flush=True)
        first, out = timed(cmd)
        print(f"[bench] first converge: {first:6.1f} s   {recap(out)}")
        for label, env in (("", None), (" with Mitogen", mitogen_env())):
            for tags, part in (([], "site.yml"), (["--tags", "hardening"], "--tags hardening (base + firewall)")):
                for i in range(args.reruns):
                    again, out = timed(cmd + tags, extra_env=env)
                    print(f"[bench] idempotent re-run {i + 1}{label}, {part}: {again:6.1f} s   {recap(out)}", flush=True)
    finally:
        if not args.keep:
            down(args.prefix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
