#!/usr/bin/env python3
"""Make a throwaway git repository of the sample app (examples/trader) with a short history,
so deploy, rollback and the health gate's auto-rollback can be shown and tested.

  a            main, the sample app as it is in this checkout
  b            main (HEAD), a code-only change on top of a (same requirements: the venv is reused)
  c            branch bad-health, on top of b: /api/health answers 503 (the gate must refuse it)

Usage: demo_repo.py DEST [--force]

DEST is left alone if it already has these tags (unless --force), so a sandbox's deploys
keep referring to the same commits. Only files tracked by git in examples/trader are copied
(a local .env never travels).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "trader"
TAGS = ("a", "b", "c")
IDENTITY = ["-c", "user.name=tradeops demo", "-c", "user.email=demo@tradeops.invalid"]
# The health switch in trader/config.py: commit c flips its default so health fails.
HEALTH_OK = 'environ.get("TRADER_FAIL_HEALTH", "") == "1"'
HEALTH_BAD = 'environ.get("TRADER_FAIL_HEALTH", "1") == "1"'


def git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", "-C", str(repo), *IDENTITY, *args], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{Path(sys.argv[0]).stem}: git {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout.strip()


def copy_tracked(src: Path, dest: Path) -> None:
    """A fresh DEST with the files git tracks in SRC (a local .env never travels)."""
    tracked = subprocess.run(["git", "-C", str(src), "ls-files", "-z", "."], capture_output=True,
                             check=True).stdout.decode().split("\0")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for rel in filter(None, tracked):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, target)


def has_tags(repo: Path) -> bool:
    if not (repo / ".git").is_dir():
        return False
    res = subprocess.run(["git", "-C", str(repo), "tag", "--list"], capture_output=True, text=True)
    return set(TAGS) <= set(res.stdout.split())


def build(dest: Path) -> None:
    copy_tracked(APP, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "A: the sample trader service")
    git(dest, "tag", "a")

    init = dest / "trader" / "__init__.py"
    init.write_text(init.read_text() + "# release B: a code-only change\n")
    git(dest, "commit", "-qam", "B: a code-only change")
    git(dest, "tag", "b")

    git(dest, "checkout", "-q", "-b", "bad-health")
    config = dest / "trader" / "config.py"
    text = config.read_text()
    if HEALTH_OK not in text:
        sys.exit(f"demo_repo: {config.relative_to(dest)} no longer has the TRADER_FAIL_HEALTH switch")
    config.write_text(text.replace(HEALTH_OK, HEALTH_BAD))
    git(dest, "commit", "-qam", "C: /api/health fails (the health gate must refuse this)")
    git(dest, "tag", "c")
    git(dest, "checkout", "-q", "main")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--force", action="store_true", help="rebuild even if DEST has the tags")
    args = parser.parse_args()
    dest = args.dest.resolve()
    if has_tags(dest) and not args.force:
        print(f"[demo-repo] {dest} has tags a, b, c; kept")
        return 0
    build(dest)
    shas = {t: git(dest, "rev-parse", "--short=12", t) for t in TAGS}
    print(f"[demo-repo] {dest}: a={shas['a']} b={shas['b']} (main) c={shas['c']} (bad-health)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
