#!/usr/bin/env python3
"""Make a throwaway git repository of a fixture app with a short history, for the deploy,
build and rollback tests of the generalised app model (molecule/apps).

trader-node (examples/trader-node: a Node backend + worker with seed-style locks, a Vite UI
built on the host):
  a            main, the fixture as it is in this checkout
  b            main (HEAD), a UI-only change on top of a (same package-lock.json: node_modules reused)
  c            branch bad-build, on top of b: src/main.js does not parse (vite build fails)
  d            branch bad-health, on top of b: /api/trading/settings answers 503 {ok: false}
  e            branch new-lock, on top of b: a dependency added (package-lock.json changes)
  f            branch late-fail, on top of b: healthy for 10 s after start, then 503

delta (examples/delta: FastAPI under uvicorn, a Vite SPA built on the controller, and a
stdlib dashboard in board/):
  a            main, the fixture as it is in this checkout
  b            main (HEAD), an SPA-only change on top of a
  c            branch bad-build, on top of b: the SPA does not parse (the controller build fails)
  d            branch bad-health, on top of b: /api/health answers 503

scalper (examples/scalper: five Node services from one ES-module package, no dependencies):
  a            main, the fixture as it is in this checkout
  b            main (HEAD), a dashboard-only change on top of a
  c            branch bad-health, on top of b: the dashboard's /health answers 503
  d            branch bad-health, on top of c: fixed again, the dashboard says (D)

senex (examples/senex: Django under Daphne, Celery worker and beat; its image is built and
pushed to a registry by the test, as the team's CI would):
  a            main, the fixture as it is in this checkout
  b            main (HEAD), a static-only change on top of a (app.css: collectstatic must run)
  c            branch bad-health, on top of b: /health/simple/ answers 503

Usage: fixture_repo.py {trader-node,delta,scalper,senex} DEST [--force]

trader-node's commit e is made with `npm install --package-lock-only` (the npm registry must
be reachable from this machine). Only files tracked by git in the fixture are copied.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from demo_repo import copy_tracked, git  # the same repository plumbing as the demo's

ROOT = Path(__file__).resolve().parents[1]
TAGS = {"trader-node": ("a", "b", "c", "d", "e", "f"), "delta": ("a", "b", "c", "d"), "scalper": ("a", "b", "c", "d"),
        "senex": ("a", "b", "c")}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        sys.exit(f"fixture_repo: {path.name} no longer has {old!r}")
    path.write_text(text.replace(old, new))


def has_tags(repo: Path, tags: tuple[str, ...]) -> bool:
    if not (repo / ".git").is_dir():
        return False
    res = subprocess.run(["git", "-C", str(repo), "tag", "--list"], capture_output=True, text=True)
    return set(tags) <= set(res.stdout.split())


def start(app: str, dest: Path) -> None:
    """Commit a: the fixture's tracked files as they are in this checkout."""
    copy_tracked(ROOT / "examples" / app, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", f"A: the {app} fixture")
    git(dest, "tag", "a")


def build_trader_node(dest: Path) -> None:
    start("trader-node", dest)
    label = "export const RELEASE_LABEL = 'release A';"
    edit(dest / "src" / "main.js", label, label.replace("release A", "release B"))
    git(dest, "commit", "-qam", "B: a UI-only change")
    git(dest, "tag", "b")

    git(dest, "checkout", "-q", "-b", "bad-build")
    (dest / "src" / "main.js").write_text("export const = ;\n")
    git(dest, "commit", "-qam", "C: the UI does not build")
    git(dest, "tag", "c")

    git(dest, "checkout", "-q", "-b", "bad-health", "b")
    edit(dest / "server" / "index.js", "const healthy = process.env.TRADER_FAIL_HEALTH !== '1';",
         "const healthy = false;")
    git(dest, "commit", "-qam", "D: the health check fails")
    git(dest, "tag", "d")

    git(dest, "checkout", "-q", "-b", "late-fail", "b")
    edit(dest / "server" / "index.js", "const healthy = process.env.TRADER_FAIL_HEALTH !== '1';",
         "const startedAt = Date.now();\nconst healthyNow = () => Date.now() - startedAt < 10000;")
    edit(dest / "server" / "index.js", "send(res, healthy ? 200 : 503, { ok: healthy,", "send(res, healthyNow() ? 200 : 503, { ok: healthyNow(),")
    git(dest, "commit", "-qam", "F: healthy at first, failing 10 s after start (the post-switch watch must roll it back)")
    git(dest, "tag", "f")

    git(dest, "checkout", "-q", "-b", "new-lock", "b")
    res = subprocess.run(["npm", "install", "--package-lock-only", "--no-audit", "--no-fund", "--save-exact",
                          "is-number@7.0.0"], cwd=dest, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"fixture_repo: npm install --package-lock-only failed: {res.stderr.strip()[-500:]}")
    git(dest, "commit", "-qam", "E: a new dependency (package-lock.json changes)")
    git(dest, "tag", "e")
    git(dest, "checkout", "-q", "main")


def build_delta(dest: Path) -> None:
    start("delta", dest)
    label = "export const BUILD_LABEL = 'delta spa 1';"
    edit(dest / "frontend" / "src" / "main.js", label, label.replace("spa 1", "spa 2"))
    git(dest, "commit", "-qam", "B: an SPA-only change")
    git(dest, "tag", "b")

    git(dest, "checkout", "-q", "-b", "bad-build")
    (dest / "frontend" / "src" / "main.js").write_text("export const = ;\n")
    git(dest, "commit", "-qam", "C: the SPA does not build")
    git(dest, "tag", "c")

    git(dest, "checkout", "-q", "-b", "bad-health", "b")
    edit(dest / "backend" / "app.py", 'HEALTHY = os.environ.get("DELTA_FAIL_HEALTH", "") != "1"', "HEALTHY = False")
    git(dest, "commit", "-qam", "D: the health check fails")
    git(dest, "tag", "d")
    git(dest, "checkout", "-q", "main")


def build_scalper(dest: Path) -> None:
    start("scalper", dest)
    edit(dest / "src" / "dashboard.js", "<h1>scalper ${MODE}</h1>", "<h1>scalper ${MODE} (B)</h1>")
    git(dest, "commit", "-qam", "B: a dashboard-only change")
    git(dest, "tag", "b")

    git(dest, "checkout", "-q", "-b", "bad-health")
    edit(dest / "src" / "dashboard.js", "send(res, 200, { ok: true, mode: MODE", "send(res, 503, { ok: false, mode: MODE")
    git(dest, "commit", "-qam", "C: the dashboard's health check fails")
    git(dest, "tag", "c")
    edit(dest / "src" / "dashboard.js", "send(res, 503, { ok: false, mode: MODE", "send(res, 200, { ok: true, mode: MODE")
    edit(dest / "src" / "dashboard.js", "<h1>scalper ${MODE} (B)</h1>", "<h1>scalper ${MODE} (D)</h1>")
    git(dest, "commit", "-qam", "D: the health check fixed again")
    git(dest, "tag", "d")
    git(dest, "checkout", "-q", "main")


def build_senex(dest: Path) -> None:
    start("senex", dest)
    edit(dest / "senex" / "static" / "senex" / "app.css", "color: #1f4e79;", "color: #7a1f1f;")
    git(dest, "commit", "-qam", "B: a static-only change")
    git(dest, "tag", "b")

    git(dest, "checkout", "-q", "-b", "bad-health")
    edit(dest / "senex" / "views.py", 'HEALTHY = os.environ.get("SENEX_FAIL_HEALTH", "") != "1"', "HEALTHY = False")
    git(dest, "commit", "-qam", "C: the health check fails")
    git(dest, "tag", "c")
    git(dest, "checkout", "-q", "main")


BUILDERS = {"trader-node": build_trader_node, "delta": build_delta, "scalper": build_scalper, "senex": build_senex}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("app", choices=sorted(BUILDERS))
    parser.add_argument("dest", type=Path)
    parser.add_argument("--force", action="store_true", help="rebuild even if DEST has the tags")
    args = parser.parse_args()
    dest, tags = args.dest.resolve(), TAGS[args.app]
    if has_tags(dest, tags) and not args.force:
        print(f"[fixture-repo] {dest} has tags {', '.join(tags)}; kept")
        return 0
    BUILDERS[args.app](dest)
    shas = " ".join(f"{t}={git(dest, 'rev-parse', '--short=12', t)}" for t in tags)
    print(f"[fixture-repo] {args.app} in {dest}: {shas}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
