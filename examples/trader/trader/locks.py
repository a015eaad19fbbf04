"""Process locks: at most one running instance per (process name, trade side).

Compatible with the seed system's lock files::

    <data>/locks/<name>.<side>.lock
    {"pid": 1234, "started": "2024-05-01T12:00:00.000Z",
     "tradeSide": "SHORT", "processName": "worker"}

A lock whose pid is no longer alive is stale and is taken over.  Acquisition is
serialised with ``flock`` on the locks directory, so two processes cannot both
decide that the same stale lock is theirs; the lock file itself is still
created with ``O_CREAT | O_EXCL`` so tools that only know the file format stay
safe.

CLI (emergency tooling)::

    python -m trader.locks check [--json]   # list holders and whether they are alive
    python -m trader.locks clear            # delete every lock file (stops nothing)
"""

from __future__ import annotations

import argparse
import atexit
import errno
import fcntl
import json
import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Iterator

from .config import ENV_HELP, EXIT_LOCKED, data_dir_from_env, load_env_file
from .runtime import utc_iso

log = logging.getLogger("trader.locks")

PROCESS_NAMES = ("worker", "backend", "scheduler")
LOCK_SUFFIX = ".lock"


class LockError(RuntimeError):
    """The lock could not be acquired."""


class LockHeldError(LockError):
    """Another live process holds the lock."""

    def __init__(self, label: str, pid: int, path: Path) -> None:
        super().__init__(f"{label} is already running as pid {pid}")
        self.label = label
        self.pid = pid
        self.path = path


def lock_dir(data_dir: Path) -> Path:
    return data_dir / "locks"


def lock_path(data_dir: Path, name: str, side: str) -> Path:
    return lock_dir(data_dir) / f"{name}.{side.lower()}{LOCK_SUFFIX}"


def pid_alive(pid: int) -> bool:
    """True if a process with ``pid`` exists (even one we may not signal)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class LockInfo:
    """What a lock file says; fields are None when the file is unreadable."""

    path: Path
    pid: int | None
    started: str | None
    trade_side: str | None
    process_name: str | None

    @property
    def label(self) -> str:
        return self.path.name.removesuffix(LOCK_SUFFIX)

    @property
    def alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lock": self.label,
            "path": str(self.path),
            "pid": self.pid,
            "started": self.started,
            "tradeSide": self.trade_side,
            "processName": self.process_name,
            "alive": self.alive,
        }


def read_lock(path: Path) -> LockInfo | None:
    """Parse a lock file; None if it does not exist."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        pid = data.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool):
            pid = None
        return LockInfo(
            path, pid, data.get("started"), data.get("tradeSide"), data.get("processName")
        )
    except (ValueError, AttributeError):
        return LockInfo(path, None, None, None, None)


def list_locks(data_dir: Path) -> list[LockInfo]:
    directory = lock_dir(data_dir)
    if not directory.is_dir():
        return []
    infos = (read_lock(path) for path in sorted(directory.glob(f"*{LOCK_SUFFIX}")))
    return [info for info in infos if info is not None]


@contextmanager
def _directory_guard(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the flock


class ProcessLock:
    """The ``<name>.<side>`` lock of this process.

    Released on normal exit, uncaught exceptions (``with`` block and atexit),
    SIGINT (KeyboardInterrupt) and SIGTERM, and only while the file still names
    this pid.  Use as ``with ProcessLock(...).acquire() as lock: ...``.
    """

    def __init__(self, data_dir: Path, name: str, side: str) -> None:
        if name not in PROCESS_NAMES:
            raise ValueError(f"unknown process name {name!r}; expected one of {PROCESS_NAMES}")
        self.name = name
        self.side = side.upper()
        self.path = lock_path(data_dir, name, side)
        self._held = False

    @property
    def label(self) -> str:
        return f"{self.name}.{self.side.lower()}"

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> ProcessLock:
        """Take the lock or raise :class:`LockHeldError` naming the live holder."""
        with _directory_guard(self.path.parent):
            holder = read_lock(self.path)
            if holder is not None:
                if holder.pid is not None and holder.pid != os.getpid() and pid_alive(holder.pid):
                    raise LockHeldError(self.label, holder.pid, self.path)
                log.warning("removing stale lock %s (pid %s is not running)", self.path, holder.pid)
                self.path.unlink(missing_ok=True)
            self._create()
        self._held = True
        atexit.register(self.release)
        _exit_on_sigterm()
        log.info("acquired lock %s", self.path)
        return self

    def release(self) -> bool:
        """Remove the lock file if it is still ours; True if removed."""
        if not self._held:
            return False
        self._held = False
        holder = read_lock(self.path)
        if holder is None or holder.pid != os.getpid():
            log.warning("lock %s is no longer ours; leaving it alone", self.path)
            return False
        self.path.unlink(missing_ok=True)
        log.info("released lock %s", self.path)
        return True

    def _create(self) -> None:
        payload = {
            "pid": os.getpid(),
            "started": utc_iso(),
            "tradeSide": self.side,
            "processName": self.name,
        }
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o644)
        except FileExistsError:
            raise LockError(f"{self.path} appeared while acquiring; retry") from None
        try:
            os.write(fd, json.dumps(payload).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> ProcessLock:
        if not self._held:
            self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def acquire_or_exit(data_dir: Path, name: str, side: str) -> ProcessLock:
    """Entry-point helper: take the lock, or report the holder and exit 3."""
    try:
        return ProcessLock(data_dir, name, side).acquire()
    except LockHeldError as exc:
        log.error("%s", exc)
        raise SystemExit(EXIT_LOCKED) from None


def _exit_on_sigterm() -> None:
    """Turn a default (fatal) SIGTERM into SystemExit so atexit releases the lock.

    Processes that install their own graceful SIGTERM handler keep it.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def _raise_exit(signum: int, _frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _raise_exit)


# --------------------------------------------------------------------- CLI


def _check(data_dir: Path, as_json: bool) -> int:
    locks = list_locks(data_dir)
    if as_json:
        print(json.dumps([info.as_dict() for info in locks], indent=2))
        return 0
    if not locks:
        print(f"no locks in {lock_dir(data_dir)}")
        return 0
    for info in locks:
        state = "alive" if info.alive else "DEAD (stale)"
        print(f"{info.label:<20} pid {info.pid}  {state}  started {info.started}  {info.path}")
    return 0


def _clear(data_dir: Path) -> int:
    directory = lock_dir(data_dir)
    if not directory.is_dir():
        print(f"no locks in {directory}")
        return 0
    removed = 0
    with _directory_guard(directory):
        for info in list_locks(data_dir):
            alive = info.alive
            try:
                info.path.unlink()
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    print(f"could not remove {info.path}: {exc}", file=sys.stderr)
                continue
            removed += 1
            note = "  (process still running; clearing does not stop it)" if alive else ""
            print(f"removed {info.path} (pid {info.pid}){note}")
    if not removed:
        print(f"no locks in {directory}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trader.locks",
        description="Inspect or reset the process locks under $TRADER_DATA_DIR/locks.",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, help="data directory (default $TRADER_DATA_DIR)")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="list lock holders and whether they are alive")
    check.add_argument("--json", action="store_true", help="print a JSON list")
    commands.add_parser("clear", help="remove every lock file (emergency reset; stops nothing)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    load_env_file()
    data_dir = args.data_dir.resolve() if args.data_dir else data_dir_from_env()
    if args.command == "check":
        return _check(data_dir, args.json)
    return _clear(data_dir)


if __name__ == "__main__":
    sys.exit(main())
