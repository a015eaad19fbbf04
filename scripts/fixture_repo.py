#!/usr/bin/env python3
"""Make a throwaway git repository of the Node fixture app (examples/trader-node) with a
short history, for the Node runtime's deploy, build and rollback tests.

  a            main, the fixture as it is in this checkout
  b            main (HEAD), a UI-only change on top of a (same package-lock.json: node_modules reused)
  c            branch bad-build, on top of b: src/main.js does not parse (vite build fails)
  d            branch bad-health, on top of b: /api/trading/settings answers 503 {ok: false}
  e            branch new-lock, on top of b: a dependency added (package-lock.json changes)

Usage: node_repo.py DEST [--force]

Commit e's lockfile is made with `npm install --package-lock-only` (the npm registry must be
reachable from this machine). Only files tracked by git in examples/trader-node are copied.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "trader-node"
TAGS = ("a", "b", "c", "d", "e")
IDENTITY = ["-c", "user.name=tradeops test", "-c", "user.email=test@tradeops.invalid"]
HEALTHY = "const healthy = process.env.TRADER_FAIL_HEALTH !== '1';"
LABEL = "export const RELEASE_LABEL = 'release A';"


def git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", "-C", str(repo), *IDENTITY, *args], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"node_repo: git {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout.strip()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        sys.exit(f"node_repo: {path.name} no longer has {old!r}")
    path.write_text(text.replace(old, new))


def has_tags(repo: Path) -> bool:
    if not (repo / ".git").is_dir():
        return False
    res = subprocess.run(["git", "-C", str(repo), "tag", "--list"], capture_output=True, text=True)
    return set(TAGS) <= set(res.stdout.split())


def build(dest: Path) -> None:
    tracked = subprocess.run(["git", "-C", str(APP), "ls-files", "-z", "."], capture_output=True,
                             check=True).stdout.decode().split("\0")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for rel in filter(None, tracked):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(APP / rel, target)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "A: the Node fixture")
    git(dest, "tag", "a")

    edit(dest / "src" / "main.js", LABEL, LABEL.replace("release A", "release B"))
    git(dest, "commit", "-qam", "B: a UI-only change")
    git(dest, "tag", "b")

    git(dest, "checkout", "-q", "-b", "bad-build")
    (dest / "src" / "main.js").write_text("export const = ;\n")
    git(dest, "commit", "-qam", "C: the UI does not build")
    git(dest, "tag", "c")

    git(dest, "checkout", "-q", "-b", "bad-health", "b")
    edit(dest / "server" / "index.js", HEALTHY, "const healthy = false;")
    git(dest, "commit", "-qam", "D: the health check fails")
    git(dest, "tag", "d")

    git(dest, "checkout", "-q", "-b", "new-lock", "b")
    res = subprocess.run(["npm", "install", "--package-lock-only", "--no-audit", "--no-fund", "--save-exact",
                          "is-number@7.0.0"], cwd=dest, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"node_repo: npm install --package-lock-only failed: {res.stderr.strip()[-500:]}")
    git(dest, "commit", "-qam", "E: a new dependency (package-lock.json changes)")
    git(dest, "tag", "e")
    git(dest, "checkout", "-q", "main")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--force", action="store_true", help="rebuild even if DEST has the tags")
    args = parser.parse_args()
    dest = args.dest.resolve()
    if has_tags(dest) and not args.force:
        print(f"[node-repo] {dest} has tags {', '.join(TAGS)}; kept")
        return 0
    build(dest)
    shas = " ".join(f"{t}={git(dest, 'rev-parse', '--short=12', t)}" for t in TAGS)
    print(f"[node-repo] {dest}: {shas}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
