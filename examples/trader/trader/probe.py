"""Health probe for container health checks (Podman HealthCmd), no curl needed.

    python -m trader.probe http                 GET /api/health on 127.0.0.1:$TRADER_PORT
    python -m trader.probe heartbeat worker     <data>/heartbeat/worker.<side>.json is fresh

Exit 0 healthy, 1 unhealthy (the reason on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

from .config import data_dir_from_env


def http_ok(timeout: float) -> str | None:
    """None if /api/health answers 200, else why not."""
    port = os.environ.get("TRADER_PORT", "3081")
    url = f"http://127.0.0.1:{port}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return None if reply.status == 200 else f"{url}: HTTP {reply.status}"
    except urllib.error.HTTPError as exc:
        return f"{url}: HTTP {exc.code}"
    except OSError as exc:
        return f"{url}: {exc}"


def heartbeat_ok(name: str, max_age: float) -> str | None:
    """None if the process wrote its heartbeat within ``max_age`` seconds."""
    side = (os.environ.get("TRADE_SIDE") or "SHORT").lower()
    path = data_dir_from_env() / "heartbeat" / f"{name}.{side}.json"
    try:
        age = time.time() - path.stat().st_mtime
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{path}: {exc}"
    return None if age <= max_age else f"{path}: last beat {age:.0f} s ago"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trader.probe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    http = sub.add_parser("http", help="the api answers /api/health with 200")
    http.add_argument("--timeout", type=float, default=3.0)
    beat = sub.add_parser("heartbeat", help="a worker or scheduler heartbeat is fresh")
    beat.add_argument("name", choices=("worker", "scheduler"))
    beat.add_argument("--max-age", type=float, default=30.0, help="seconds (default 30)")
    args = parser.parse_args(argv)
    problem = http_ok(args.timeout) if args.kind == "http" else heartbeat_ok(args.name, args.max_age)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
