"""Signal worker: the singleton that turns new signals into (simulated) orders.

Startup order matters to systemd (Type=notify): the ``worker.<side>`` lock is
taken and the database opened *before* READY=1 is sent, so a duplicate worker
never reports ready; it exits 3 instead.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import threading
from contextlib import closing
from typing import Any

from . import db, notify
from .config import ENV_HELP, EXIT_OK, Config, load_or_exit
from .locks import acquire_or_exit
from .runtime import redact_secrets, setup_logging, stop_event, write_heartbeat

log = logging.getLogger("trader.worker")


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m trader.worker",
        description=(
            "Process new trading signals, one worker per TRADE_SIDE. Holds the lock "
            "<data>/locks/worker.<side>.lock, sends READY=1 and then WATCHDOG=1 every loop "
            "via $NOTIFY_SOCKET, and writes <data>/heartbeat/worker.<side>.json."
        ),
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def place_order(cfg: Config, signal: dict[str, Any]) -> None:
    """Stand-in for an exchange call: there is no real connector, so only log."""
    order = f"{signal['action']} {signal['qty']:g} {signal['symbol']} (signal {signal['id']})"
    if cfg.mode == "LIVE":
        log.info("LIVE order: %s [no exchange connector configured; logged only]", order)
    else:
        log.info("%s: would place order: %s", cfg.mode, order)


def run(store: db.Store, cfg: Config, stop: threading.Event) -> int:
    """Take new signals until ``stop`` is set; return how many were processed."""
    label = f"worker.{cfg.side_lower}"
    processed_total = 0
    while not stop.is_set():
        waited = False
        try:
            for signal in store.claim_new_signals(cfg.side, cfg.worker_interval):
                place_order(cfg, signal)
                processed_total += 1
            waited = store.blocks
        except (sqlite3.OperationalError, db.StoreUnavailable) as exc:
            log.warning("database unavailable, retrying next loop: %s", exc)
        write_heartbeat(cfg.data_dir, label, processed_total=processed_total)
        notify.watchdog()
        if not waited:  # a queue-backed store already waited for work
            stop.wait(cfg.worker_interval)
    return processed_total


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    setup_logging()
    cfg = load_or_exit()
    redact_secrets(cfg.secrets)
    stop = stop_event()
    lock = acquire_or_exit(cfg.data_dir, "worker", cfg.side)
    with lock, closing(db.open_store(cfg)) as store:
        log.info(
            "worker.%s started: mode=%s sha=%s data=%s",
            cfg.side_lower,
            cfg.mode,
            cfg.release_sha,
            cfg.data_dir,
        )
        notify.ready(f"worker.{cfg.side_lower} processing signals ({cfg.mode})")
        total = run(store, cfg, stop)
        notify.stopping()
        log.info("worker.%s stopped after processing %d signal(s)", cfg.side_lower, total)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
