"""Scheduler: periodic housekeeping, one instance per TRADE_SIDE.

Each pass deletes processed signals older than ``TRADER_RETENTION_DAYS`` and
writes ``<data>/heartbeat/scheduler.<side>.json``.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import threading
from contextlib import closing
from datetime import datetime, timedelta, timezone

from . import db, notify
from .config import ENV_HELP, EXIT_OK, Config, load_or_exit
from .locks import acquire_or_exit
from .runtime import redact_secrets, setup_logging, stop_event, utc_iso, write_heartbeat

log = logging.getLogger("trader.scheduler")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trader.scheduler",
        description=(
            "Every TRADER_SCHEDULER_INTERVAL seconds delete processed signals older than "
            "TRADER_RETENTION_DAYS. Holds <data>/locks/scheduler.<side>.lock and sends "
            "READY=1 (then WATCHDOG=1 each pass) via $NOTIFY_SOCKET."
        ),
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--once", action="store_true", help="run a single pass and exit")
    return parser


def run_pass(store: db.Store, cfg: Config) -> int:
    """Delete expired processed signals; return how many were removed."""
    cutoff = utc_iso(datetime.now(timezone.utc) - timedelta(days=cfg.retention_days))
    removed = store.purge_processed(cutoff)
    if removed:
        log.info("retention: deleted %d processed signal(s) older than %s", removed, cutoff)
    return removed


def run(store: db.Store, cfg: Config, stop: threading.Event, once: bool) -> None:
    label = f"scheduler.{cfg.side_lower}"
    purged_total = 0
    while not stop.is_set():
        try:
            purged_total += run_pass(store, cfg)
        except (sqlite3.OperationalError, db.StoreUnavailable) as exc:
            log.warning("database unavailable, retrying next pass: %s", exc)
        write_heartbeat(cfg.data_dir, label, purged_total=purged_total)
        notify.watchdog()
        if once:
            break
        stop.wait(cfg.scheduler_interval)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    cfg = load_or_exit()
    redact_secrets(cfg.secrets)
    stop = stop_event()
    lock = acquire_or_exit(cfg.data_dir, "scheduler", cfg.side)
    with lock, closing(db.open_store(cfg)) as store:
        notify.ready(f"scheduler.{cfg.side_lower} running")
        run(store, cfg, stop, once=args.once)
        notify.stopping()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
