"""Runtime configuration, read from the environment.

A ``.env`` file is loaded first (path from ``TRADER_ENV_FILE``, default
``./.env``; a missing file is fine).  Variables already present in the process
environment win over the file, so systemd ``Environment=`` lines override it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from dotenv import load_dotenv

APP_ROOT = Path(__file__).resolve().parent.parent

EXECUTION_MODES = ("LIVE", "DRY_RUN", "SIM")
TRADE_SIDES = ("SHORT", "LONG")
STORES = ("sqlite", "postgres")
LIVE_KEY_PREFIX = "live_"

# Process exit codes shared by every entry point.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_LOCKED = 3

ENV_HELP = """\
environment (a .env file at $TRADER_ENV_FILE, default ./.env, is loaded first;
real environment variables take precedence):
  EXECUTION_MODE            LIVE | DRY_RUN | SIM (default DRY_RUN)
  TRADE_SIDE                SHORT | LONG (default SHORT)
  TRADER_DATA_DIR           data directory (default ./data): trader.db, locks/, heartbeat/
  TRADER_RELEASE_SHA        release id (default: REVISION file in the app root, else "unknown")
  TRADER_BIND, TRADER_PORT  api listen address (default 127.0.0.1:3081)
  TRADER_FAIL_HEALTH        "1" makes /api/health answer 503 (simulates a bad release)
  TRADER_WORKER_INTERVAL    worker poll interval in seconds (default 1.0)
  TRADER_SCHEDULER_INTERVAL scheduler interval in seconds (default 60)
  TRADER_RETENTION_DAYS     processed signals older than this are deleted (default 7)
  TRADER_LOG_LEVEL          DEBUG | INFO | WARNING | ERROR (default INFO)
  TRADER_STORE              sqlite (default: <data>/trader.db) | postgres (PostgreSQL from
                            PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, with a Redis
                            job queue at REDIS_URL, e.g. redis://redis:6379/0)
  EXCHANGE_API_KEY, EXCHANGE_API_SECRET
                            exchange credentials; never logged or returned.
                            A key starting with "live_" is refused unless EXECUTION_MODE=LIVE.

exit codes: 0 clean stop, 1 runtime failure, 2 configuration refused, 3 lock held
"""


class ConfigError(Exception):
    """The environment describes a configuration the service refuses to run."""


@dataclass(frozen=True)
class Config:
    mode: str
    side: str
    data_dir: Path
    release_sha: str
    bind: str
    port: int
    fail_health: bool
    worker_interval: float
    scheduler_interval: float
    retention_days: float
    store: str = "sqlite"
    redis_url: str = field(default="", repr=False)
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)
    db_password: str = field(default="", repr=False)

    @property
    def side_lower(self) -> str:
        return self.side.lower()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Credential values that must never appear in output."""
        return tuple(value for value in (self.api_key, self.api_secret, self.db_password) if value)


def load_env_file(environ: Mapping[str, str] = os.environ) -> None:
    """Load the .env file into ``os.environ`` without overriding set variables."""
    path = environ.get("TRADER_ENV_FILE", "./.env")
    if path:
        load_dotenv(path, override=False)


def data_dir_from_env(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("TRADER_DATA_DIR") or "./data").expanduser().resolve()


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    """Build a validated :class:`Config` from ``environ`` (no .env handling)."""
    mode = _choice(environ, "EXECUTION_MODE", EXECUTION_MODES, default="DRY_RUN")
    api_key = environ.get("EXCHANGE_API_KEY", "")
    if mode != "LIVE" and api_key.startswith(LIVE_KEY_PREFIX):
        raise ConfigError(
            f"EXCHANGE_API_KEY is a LIVE key ({LIVE_KEY_PREFIX}...) but EXECUTION_MODE={mode}; "
            "refusing to start: live credentials must never reach a non-LIVE environment"
        )
    store = _choice(environ, "TRADER_STORE", STORES, default="sqlite")
    redis_url = environ.get("REDIS_URL", "").strip()
    if store == "postgres" and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("TRADER_STORE=postgres needs REDIS_URL (e.g. redis://redis:6379/0) for the job queue")
    return Config(
        mode=mode,
        side=_choice(environ, "TRADE_SIDE", TRADE_SIDES, default="SHORT"),
        data_dir=data_dir_from_env(environ),
        release_sha=_release_sha(environ),
        bind=environ.get("TRADER_BIND") or "127.0.0.1",
        port=_port(environ, "TRADER_PORT", default=3081),
        fail_health=environ.get("TRADER_FAIL_HEALTH", "") == "1",
        worker_interval=_number(environ, "TRADER_WORKER_INTERVAL", default=1.0),
        scheduler_interval=_number(environ, "TRADER_SCHEDULER_INTERVAL", default=60.0),
        retention_days=_number(environ, "TRADER_RETENTION_DAYS", default=7.0),
        store=store,
        redis_url=redis_url,
        api_key=api_key,
        api_secret=environ.get("EXCHANGE_API_SECRET", ""),
        db_password=environ.get("PGPASSWORD", ""),
    )


def load_or_exit() -> Config:
    """Entry-point helper: load .env + environment, or exit 2 with a clear message."""
    load_env_file()
    try:
        return load_config()
    except ConfigError as exc:
        print(f"trader: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = environ.get(name, "").strip() or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is invalid; expected one of {', '.join(choices)}")
    return value


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name}={raw!r} is not a TCP port (1-65535)")
    return int(raw)


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} must be a finite number >= 0")
    return value


def _release_sha(environ: Mapping[str, str]) -> str:
    sha = environ.get("TRADER_RELEASE_SHA", "").strip()
    if sha:
        return sha
    try:
        sha = (APP_ROOT / "REVISION").read_text(encoding="utf-8").strip()
    except OSError:
        sha = ""
    return sha or "unknown"
