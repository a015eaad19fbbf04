"""tradeops host conventions: how an app lives on a host, said once.

Installed by the host_conventions role as /usr/local/lib/tradeops/tradeops_conventions.py and
imported by every host-side helper (tradeops-release, tradeops-backup, tradeops-watchdog,
tradeops-alert), so the unit names, the release layout, the live-slot link, the deploy lock,
the health probe and the state files cannot drift apart between them.

A services app under its root (e.g. /srv/trader):

  releases/<UTC time>-<sha12>/   one directory per release (REVISION holds the full sha)
  current -> releases/...        the live release;  previous -> the one live before it
  slots/<port> -> releases/...   what each http slot runs;  slots/active -> "<port>" (live)
  shared/                        kept across releases (.env, data/, logs/)
  shared/deploy.lock             held (JSON: who, what, when) by a deploy, rollback, restore
  shared/logs/deploy-audit.jsonl one JSON line per deploy, rollback, restart, restore

Units: <app>-<process>@<port>.service for the http process (one per slot), <app>-<process>.service
for a singleton. The nginx upstream of a site: <upstream dir>/<app>.conf is the nginx role's
(the block and its keepalive), <upstream dir>/<app>.server the deploy's (the live server line).

API is raised when a change would break a helper written for an older one: a helper refuses to
run with a library whose API it does not know, and says to run site.yml.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

API = 1
DEFAULT_HEALTH_PATH = "/api/health"


def require(api: int, helper: str) -> None:
    """Stop a helper that was written for another API of this library."""
    if api != API:
        raise SystemExit(f"[{helper}] /usr/local/lib/tradeops/tradeops_conventions.py has API {API}, this helper "
                         f"needs {api}: run site.yml (or deploy.yml) so helpers and library match")


# --- units ---------------------------------------------------------------------------------
def http_unit_prefix(app: str, proc: str) -> str:
    """What the units of every slot of an http process start with (a template's instances)."""
    return f"{app}-{proc}@"


def http_unit(app: str, proc: str, port: int) -> str:
    """The system unit of an http process's slot on PORT."""
    return f"{http_unit_prefix(app, proc)}{int(port)}.service"


def singleton_unit(app: str, proc: str) -> str:
    """The system unit of a singleton process (and of a Quadlet stack's process, a user unit)."""
    return f"{app}-{proc}.service"


# --- layout --------------------------------------------------------------------------------
class Layout:
    """The paths of a services app under its root."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.releases = self.root / "releases"
        self.shared = self.root / "shared"
        self.slots = self.root / "slots"
        self.current = self.root / "current"
        self.previous = self.root / "previous"
        self.lock = self.shared / "deploy.lock"
        self.audit = self.shared / "logs" / "deploy-audit.jsonl"

    def active_port(self) -> int | None:
        """The port of the live http slot (slots/active), None before the first deploy."""
        try:
            return int(os.readlink(self.slots / "active"))
        except (OSError, ValueError):
            return None

    def deployed(self) -> bool:
        return self.current.exists()


def link_target(link: Path) -> Path | None:
    """The directory a symlink points at, None if it is not a link to a directory."""
    if not link.is_symlink():
        return None
    target = Path(os.path.realpath(link))
    return target if target.is_dir() else None


def relink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (symlink to a temp name, then rename over)."""
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it over (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def upstream_files(upstream_dir: str | Path, app: str) -> tuple[Path, Path]:
    """(the nginx role's upstream block <app>.conf, the deploy's server line <app>.server)."""
    base = Path(upstream_dir)
    return base / f"{app}.conf", base / f"{app}.server"


def upstream_server_line(port: int) -> str:
    """What <app>.server holds: the live slot, on loopback."""
    return f"server 127.0.0.1:{int(port)};\n"


# --- deploy lock ---------------------------------------------------------------------------
class LockHeld(Exception):
    """Someone else holds the lock; the message is what the holder wrote."""


class DeployLock:
    """shared/deploy.lock: created exclusively, holding a JSON object that says who holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def try_acquire(self, holder: dict[str, Any]) -> bool:
        """Take the lock for ``holder``. Raises LockHeld if it is held; False when the
        directory does not exist (an app never deployed: nothing to guard)."""
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise LockHeld(self.text() or "unknown") from None
        except FileNotFoundError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(holder, fh)
        return True

    def replace(self, holder: dict[str, Any]) -> None:
        """Write a new holder into a lock this process already owns (a phase 2 taking over)."""
        write_atomic(self.path, json.dumps(holder), 0o644)

    def text(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def holder(self) -> dict[str, Any]:
        try:
            held = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return held if isinstance(held, dict) else {}

    def held_for(self, now: float) -> float:
        """Seconds since the lock was taken, -1 when it is free."""
        try:
            return now - self.path.stat().st_mtime
        except OSError:
            return -1.0

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


# --- health --------------------------------------------------------------------------------
class Health:
    """An app's health contract: GET ``path`` on the loopback port answers one of ``status``
    (any 2xx when none is listed), and, when set, a JSON object holding ``json``'s keys with
    those values and, when ``sha`` is on and a sha is given, {"sha": <that sha>}."""

    def __init__(self, path: str = DEFAULT_HEALTH_PATH, status: list[int] | None = None,
                 expect_json: dict[str, Any] | None = None, sha: bool = True) -> None:
        self.path = path or DEFAULT_HEALTH_PATH
        self.status = [int(s) for s in status or []]
        self.json = dict(expect_json or {})
        self.sha = bool(sha)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "Health":
        """From a helper's app configuration: {"health": {path, status, json, sha}} and the
        older flat "health_path"."""
        health = cfg.get("health") or {}
        return cls(health.get("path") or cfg.get("health_path") or DEFAULT_HEALTH_PATH,
                   health.get("status"), health.get("json"), health.get("sha", True))

    def get(self, port: int, timeout: float = 2, path: str | None = None) -> tuple[int, str]:
        """(HTTP status, the first 4 kB of the body); status 0 and the error when nothing answered."""
        url = f"http://127.0.0.1:{int(port)}{path or self.path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback only)
                return resp.status, resp.read(4096).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(4096).decode("utf-8", "replace")
        except (OSError, ValueError) as exc:
            return 0, f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"

    @staticmethod
    def status_ok(status: int, accepted: list[int]) -> bool:
        """The listed statuses, or any 2xx when none are listed."""
        return status in accepted if accepted else 200 <= status < 300

    def verdict(self, status: int, body: str, sha: str = "") -> str:
        """Why an answer breaks the contract ("" when it keeps it)."""
        if not self.status_ok(status, self.status):
            return f"HTTP {status}" if status else f"no answer ({body.strip()})"
        if not self.json and not (self.sha and sha):
            return ""
        try:
            data = json.loads(body)
        except ValueError:
            return "the answer is not JSON"
        if not isinstance(data, dict):
            return "the answer is not a JSON object"
        for key, want in self.json.items():
            if data.get(key) != want:
                return f"{key}={json.dumps(data.get(key))}, expected {json.dumps(want)}"
        if self.sha and sha and data.get("sha") != sha:
            return f"sha={data.get('sha') or '-'}, expected {sha[:12]}"
        return ""

    def check(self, port: int, sha: str = "", timeout: float = 2) -> tuple[bool, str]:
        """(kept, what answered): one probe judged by the contract."""
        status, body = self.get(port, timeout)
        why = self.verdict(status, body, sha)
        return why == "", why or f"HTTP {status}"


# --- state files and the journal -----------------------------------------------------------
@contextmanager
def locked_json(path: Path) -> Iterator[dict[str, Any]]:
    """A helper's JSON state file (0600, its directory 0700), read and written back under an
    exclusive flock on <path>.lock, so two runs at once never lose each other's update."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        yield data
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def journal(unit: str, lines: int = 15, user_unit: bool = False) -> str:
    """The last lines a unit logged (a user unit of a Quadlet stack with ``user_unit``)."""
    match = [f"_SYSTEMD_USER_UNIT={unit}"] if user_unit else ["-u", unit]
    try:
        res = subprocess.run(["journalctl", *match, "-n", str(lines), "--no-pager", "-o", "cat"],
                             capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(no journal: {exc})"
    return res.stdout.strip()
