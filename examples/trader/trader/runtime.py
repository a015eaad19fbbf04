"""Process plumbing shared by the entry points: logging, signals, heartbeats."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

# journald reads a "<N>" syslog priority prefix on each stderr line.
_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def utc_iso(moment: datetime | None = None) -> str:
    """ISO-8601 UTC timestamp with milliseconds, e.g. ``2024-05-01T12:00:00.000Z``.

    Fixed width, so timestamps compare correctly as strings (SQLite included).
    """
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        return f"<{priority}>{super().format(record)}"


class _RedactSecrets(logging.Filter):
    """Defence in depth: blank out credential values should one slip into a message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self._secrets):
            for secret in self._secrets:
                message = message.replace(secret, "[redacted]")
            record.msg, record.args = message, None
        return True


def setup_logging() -> None:
    """Compact log lines on stderr; journald adds time, unit and pid itself."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("TRADER_LOG_LEVEL", "INFO").upper())


def redact_secrets(secrets: Iterable[str]) -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactSecrets(secrets))


def stop_event() -> threading.Event:
    """Return an event that SIGTERM and SIGINT set, for a graceful stop."""
    stop = threading.Event()

    def _request_stop(signum: int, _frame: object) -> None:
        logging.getLogger("trader").info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    return stop


def write_heartbeat(data_dir: Path, label: str, **fields: object) -> Path:
    """Atomically write ``<data>/heartbeat/<label>.json`` with pid, ts and ``fields``."""
    directory = data_dir / "heartbeat"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{label}.json"
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "ts": utc_iso(), **fields}), encoding="utf-8")
    os.replace(tmp, path)
    return path
