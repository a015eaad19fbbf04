"""Behaviour tests for the sample trading service in examples/trader.

Every test drives real processes (``python -m trader.*``) on loopback with a
private data directory, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

try:  # the service's one dependency; the spawned processes use this interpreter
    import dotenv  # noqa: F401
except ImportError:
    pytest.fail(
        "python-dotenv is not installed: pip install -r examples/trader/requirements.txt",
        pytrace=False,
    )

APP_DIR = Path(__file__).resolve().parents[2] / "examples" / "trader"
WAIT = 10.0  # upper bound for anything we wait on, seconds

API_KEY = "test_key_Zq81xKEY"
API_SECRET = "S3cr3t-Vq93mPa7"

# Never let the developer's own settings leak into a test process.
_SCRUBBED_PREFIXES = ("TRADER_", "EXCHANGE_", "NOTIFY_SOCKET", "WATCHDOG_", "JOURNAL_STREAM")
_SCRUBBED_NAMES = ("EXECUTION_MODE", "TRADE_SIDE", "PYTHONPATH")


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_pid() -> int:
    """A pid that has certainly exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=WAIT)
    return proc.pid


@dataclass
class Response:
    status: int
    body: Any
    raw: str
    headers: dict[str, str]


def http(method: str, url: str, body: bytes | str | dict | None = None) -> Response:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    if isinstance(data, str):
        data = data.encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as reply:
            status, raw, headers = reply.status, reply.read().decode(), dict(reply.headers)
    except urllib.error.HTTPError as error:
        status, raw, headers = error.code, error.read().decode(), dict(error.headers)
    return Response(status, json.loads(raw) if raw else None, raw, headers)


class Trader:
    """Starts trader processes against one data directory and cleans up after them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.data = tmp_path / "data"
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def env(self, **overrides: str | None) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(_SCRUBBED_PREFIXES) and key not in _SCRUBBED_NAMES
        }
        env.update(
            PYTHONPATH=str(APP_DIR),
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
            TRADER_ENV_FILE=str(self.tmp / "absent.env"),
            TRADER_DATA_DIR=str(self.data),
            TRADER_RELEASE_SHA="abc1234",
            TRADER_WORKER_INTERVAL="0.05",
            EXECUTION_MODE="DRY_RUN",
            TRADE_SIDE="SHORT",
            EXCHANGE_API_KEY=API_KEY,
            EXCHANGE_API_SECRET=API_SECRET,
        )
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def start(self, module: str, *args: str, **env: str | None) -> subprocess.Popen[bytes]:
        log = self.logs / f"{module}-{len(self.procs)}.stderr"
        with log.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"trader.{module}", *args],
                cwd=self.tmp,
                env=self.env(**env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self.procs.append((proc, log))
        return proc

    def run(self, module: str, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", f"trader.{module}", *args],
            cwd=self.tmp,
            env=self.env(**env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )

    def stderr(self, proc: subprocess.Popen[bytes]) -> str:
        return next(log for p, log in self.procs if p is proc).read_text()

    def all_stderr(self) -> str:
        return "".join(log.read_text() for _, log in self.procs)

    def start_api(self, **env: str | None) -> str:
        port = free_port()
        proc = self.start("api", TRADER_PORT=str(port), **env)
        base = f"http://127.0.0.1:{port}"

        def listening() -> bool:
            assert proc.poll() is None, f"api exited {proc.returncode}: {self.stderr(proc)}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(listening, what="api to listen")
        self.api_proc = proc
        return base

    def lock_file(self, name: str, side: str = "short") -> Path:
        return self.data / "locks" / f"{name}.{side}.lock"

    def lock_pid(self, name: str, side: str = "short") -> int | None:
        try:
            return json.loads(self.lock_file(name, side).read_text())["pid"]
        except (OSError, ValueError, KeyError):
            return None

    def start_worker(self, side: str = "SHORT", **env: str | None) -> subprocess.Popen[bytes]:
        proc = self.start("worker", TRADE_SIDE=side, **env)

        def holds_lock() -> bool:
            assert proc.poll() is None, f"worker exited {proc.returncode}: {self.stderr(proc)}"
            return self.lock_pid("worker", side.lower()) == proc.pid

        wait_until(holds_lock, what=f"worker.{side.lower()} to hold its lock")
        return proc

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=WAIT)


@pytest.fixture
def trader(tmp_path: Path) -> Iterator[Trader]:
    instance = Trader(tmp_path)
    try:
        yield instance
    finally:
        instance.stop_all()


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Trader, str]]:
    """One api process (SIM, LONG) for the read-mostly endpoint tests."""
    instance = Trader(tmp_path_factory.mktemp("shared-api"))
    try:
        yield instance, instance.start_api(EXECUTION_MODE="SIM", TRADE_SIDE="LONG")
    finally:
        instance.stop_all()


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """An abstract-namespace datagram socket standing in for systemd's."""
    name = f"trader-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(WAIT)
    try:
        yield sock, "@" + name
    finally:
        sock.close()


def receive_until(sock: socket.socket, wanted: str) -> list[str]:
    """Collect notify messages until one contains the line ``wanted``."""
    messages: list[str] = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            message = sock.recv(4096).decode()
        except socket.timeout:
            break
        messages.append(message)
        if wanted in message.splitlines():
            return messages
    raise AssertionError(f"no {wanted} among notify messages {messages}")


# ----------------------------------------------------------------- api


def test_health_reports_release_mode_side_and_pid(shared_api: tuple[Trader, str]) -> None:
    trader, base = shared_api
    reply = http("GET", f"{base}/api/health")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.body == {
        "ok": True,
        "sha": "abc1234",
        "mode": "SIM",
        "side": "LONG",
        "pid": trader.api_proc.pid,
    }


def test_fail_health_answers_503(trader: Trader) -> None:
    base = trader.start_api(TRADER_FAIL_HEALTH="1")
    reply = http("GET", f"{base}/api/health")
    assert reply.status == 503
    assert reply.body["ok"] is False
    assert reply.body["sha"] == "abc1234"


def test_trading_settings(shared_api: tuple[Trader, str]) -> None:
    _, base = shared_api
    reply = http("GET", f"{base}/api/trading/settings")
    assert reply.status == 200
    assert reply.body == {"ok": True, "pending_cancel_age_min": 0, "side": "LONG", "mode": "SIM"}


def test_only_api_routes_exist(shared_api: tuple[Trader, str]) -> None:
    _, base = shared_api
    for path in ("/x", "/", "/index.html", "/api", "/api/nope"):
        reply = http("GET", base + path)
        assert (reply.status, reply.body["ok"]) == (404, False), path
    wrong_method = http("DELETE", f"{base}/api/health")
    assert wrong_method.status == 405
    assert wrong_method.headers["Allow"] == "GET"


BAD_SIGNALS: list[Any] = [
    "not json",
    "[1, 2]",
    {"action": "buy", "qty": 1},
    {"symbol": "btc usdt", "action": "buy", "qty": 1},
    {"symbol": "BTCUSDT", "action": "hold", "qty": 1},
    {"symbol": "BTCUSDT", "action": "buy", "qty": "1"},
    {"symbol": "BTCUSDT", "action": "buy", "qty": True},
    {"symbol": "BTCUSDT", "action": "sell", "qty": 0},
    {"symbol": "BTCUSDT", "action": "sell", "qty": -2.5},
    '{"symbol": "BTCUSDT", "action": "sell", "qty": NaN}',
    '{"symbol": "BTCUSDT", "action": "sell", "qty": 1' + "0" * 400 + "}",
]


def test_bad_signals_are_rejected_with_400(shared_api: tuple[Trader, str]) -> None:
    _, base = shared_api
    for body in BAD_SIGNALS:
        reply = http("POST", f"{base}/api/signals", body)
        assert reply.status == 400, body
        assert reply.body["ok"] is False and reply.body["error"], body
    assert http("GET", f"{base}/api/signals?status=bogus").status == 400
    assert http("GET", f"{base}/api/signals").body == {"ok": True, "signals": []}


def test_signal_is_processed_by_the_worker(trader: Trader) -> None:
    base = trader.start_api()
    created = http(
        "POST", f"{base}/api/signals", {"symbol": "BTCUSDT", "action": "buy", "qty": 0.5}
    )
    assert created.status == 201
    assert created.body["ok"] is True
    signal_id = created.body["id"]

    pending = http("GET", f"{base}/api/signals?status=new").body["signals"]
    assert [s["id"] for s in pending] == [signal_id]
    assert pending[0] | {"created": None} == {
        "id": signal_id,
        "created": None,
        "symbol": "BTCUSDT",
        "action": "buy",
        "qty": 0.5,
        "status": "new",
        "processed": None,
    }

    worker = trader.start_worker()

    def processed() -> list[dict[str, Any]]:
        return http("GET", f"{base}/api/signals?status=processed").body["signals"]

    done = wait_until(processed, what="the signal to be processed")
    assert done[0]["id"] == signal_id
    assert done[0]["processed"]
    assert http("GET", f"{base}/api/signals?status=new").body["signals"] == []
    assert "would place order: buy 0.5 BTCUSDT" in trader.stderr(worker)

    heartbeat = trader.data / "heartbeat" / "worker.short.json"
    beat = wait_until(
        lambda: heartbeat.exists() and json.loads(heartbeat.read_text()), what="heartbeat"
    )
    assert beat["pid"] == worker.pid
    assert beat["processed_total"] >= 1
    assert beat["ts"]


def test_sigterm_finishes_in_flight_request_and_exits_0(trader: Trader) -> None:
    base = trader.start_api()
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as conn:
        conn.sendall(b"GET /api/health HTTP/1.0\r\n")  # request not finished yet
        time.sleep(0.3)  # let the server accept it
        trader.api_proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        conn.sendall(b"Host: localhost\r\n\r\n")
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.0 200")
    assert trader.api_proc.wait(timeout=WAIT) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_api_sends_ready_once_listening(trader: Trader, notify_socket) -> None:
    sock, address = notify_socket
    base = trader.start_api(NOTIFY_SOCKET=address)
    receive_until(sock, "READY=1")
    assert http("GET", f"{base}/api/health").status == 200


# ------------------------------------------------------ configuration


@pytest.mark.parametrize("module", ["api", "worker", "scheduler"])
def test_invalid_execution_mode_exits_2(trader: Trader, module: str) -> None:
    result = trader.run(module, EXECUTION_MODE="YOLO")
    assert result.returncode == 2
    assert "EXECUTION_MODE" in result.stderr and "YOLO" in result.stderr
    assert not trader.lock_file(module).exists()


@pytest.mark.parametrize("module", ["api", "worker"])
def test_live_key_outside_live_mode_is_refused(trader: Trader, module: str) -> None:
    live_key = "live_k7Hq2mX9"
    result = trader.run(module, EXECUTION_MODE="DRY_RUN", EXCHANGE_API_KEY=live_key)
    assert result.returncode == 2
    assert "live_" in result.stderr and "EXECUTION_MODE=DRY_RUN" in result.stderr
    assert live_key not in result.stderr


def test_live_key_is_accepted_in_live_mode(trader: Trader) -> None:
    base = trader.start_api(EXECUTION_MODE="LIVE", EXCHANGE_API_KEY="live_k7Hq2mX9")
    assert http("GET", f"{base}/api/health").body["mode"] == "LIVE"


def test_env_file_is_loaded_and_environment_wins(trader: Trader) -> None:
    env_file = trader.tmp / "trader.env"
    env_file.write_text("EXECUTION_MODE=SIM\nTRADE_SIDE=LONG\nTRADER_RELEASE_SHA=fromfile\n")
    base = trader.start_api(
        TRADER_ENV_FILE=str(env_file),
        EXECUTION_MODE=None,
        TRADE_SIDE=None,
        TRADER_RELEASE_SHA="fromenv",
    )
    body = http("GET", f"{base}/api/health").body
    assert (body["mode"], body["side"], body["sha"]) == ("SIM", "LONG", "fromenv")


def test_release_sha_defaults_to_revision_file(trader: Trader) -> None:
    app = trader.tmp / "app"
    shutil.copytree(
        APP_DIR / "trader", app / "trader", ignore=shutil.ignore_patterns("__pycache__")
    )
    (app / "REVISION").write_text("0123abcd\n")
    base = trader.start_api(PYTHONPATH=str(app), TRADER_RELEASE_SHA=None)
    assert http("GET", f"{base}/api/health").body["sha"] == "0123abcd"


@pytest.mark.parametrize("module", ["api", "worker", "scheduler", "locks"])
def test_help_describes_environment(trader: Trader, module: str) -> None:
    result = trader.run(module, "--help")
    assert result.returncode == 0
    for variable in ("EXECUTION_MODE", "TRADE_SIDE", "TRADER_DATA_DIR"):
        assert variable in result.stdout


# -------------------------------------------------------------- locks


def test_second_worker_on_same_side_exits_3_naming_the_holder(trader: Trader) -> None:
    first = trader.start_worker()
    second = trader.run("worker")
    assert second.returncode == 3
    assert f"worker.short is already running as pid {first.pid}" in second.stderr
    assert first.poll() is None
    assert trader.lock_pid("worker") == first.pid


def test_short_and_long_workers_run_side_by_side(trader: Trader) -> None:
    short = trader.start_worker("SHORT")
    long = trader.start_worker("LONG")
    time.sleep(0.3)
    assert short.poll() is None and long.poll() is None
    lock = json.loads(trader.lock_file("worker", "long").read_text())
    assert lock["pid"] == long.pid
    assert lock["tradeSide"] == "LONG"
    assert lock["processName"] == "worker"
    assert datetime.fromisoformat(lock["started"].replace("Z", "+00:00")).tzinfo is not None


def test_stale_lock_is_replaced(trader: Trader) -> None:
    stale_pid = dead_pid()
    lock = trader.lock_file("worker")
    lock.parent.mkdir(parents=True)
    lock.write_text(
        json.dumps(
            {
                "pid": stale_pid,
                "started": "2020-01-01T00:00:00.000Z",
                "tradeSide": "SHORT",
                "processName": "worker",
            }
        )
    )
    worker = trader.start_worker()
    assert trader.lock_pid("worker") == worker.pid
    assert re.search(rf"stale lock .*pid {stale_pid}", trader.stderr(worker))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_releases_the_lock(trader: Trader, signum: int) -> None:
    worker = trader.start_worker()
    assert trader.lock_file("worker").exists()
    worker.send_signal(signum)
    assert worker.wait(timeout=WAIT) == 0
    assert not trader.lock_file("worker").exists()


def test_locks_check_and_clear(trader: Trader) -> None:
    assert "no locks" in trader.run("locks", "check").stdout
    worker = trader.start_worker()
    stale_pid = dead_pid()
    trader.lock_file("scheduler", "long").write_text(
        json.dumps(
            {
                "pid": stale_pid,
                "started": "2020-01-01T00:00:00.000Z",
                "tradeSide": "LONG",
                "processName": "scheduler",
            }
        )
    )

    check = trader.run("locks", "check")
    assert check.returncode == 0
    lines = {line.split()[0]: line for line in check.stdout.splitlines()}
    assert f"pid {worker.pid}" in lines["worker.short"] and "alive" in lines["worker.short"]
    assert f"pid {stale_pid}" in lines["scheduler.long"] and "DEAD" in lines["scheduler.long"]

    as_json = trader.run("locks", "check", "--json")
    assert as_json.returncode == 0
    holders = {item["lock"]: item for item in json.loads(as_json.stdout)}
    assert holders["worker.short"]["pid"] == worker.pid and holders["worker.short"]["alive"] is True
    assert holders["scheduler.long"]["alive"] is False
    assert holders["scheduler.long"]["tradeSide"] == "LONG"

    clear = trader.run("locks", "clear")
    assert clear.returncode == 0
    assert "worker.short.lock" in clear.stdout and "still running" in clear.stdout
    assert "scheduler.long.lock" in clear.stdout
    assert not list((trader.data / "locks").glob("*.lock"))
    assert worker.poll() is None  # clearing stops nothing
    assert json.loads(trader.run("locks", "check", "--json").stdout) == []


# ----------------------------------------------------------- sd_notify


def test_worker_notifies_ready_only_once_it_holds_the_lock(trader: Trader, notify_socket) -> None:
    sock, address = notify_socket
    worker = trader.start("worker", NOTIFY_SOCKET=address, TRADER_WORKER_INTERVAL="0.2")
    messages = receive_until(sock, "READY=1")
    assert trader.lock_pid("worker") == worker.pid  # lock already held when READY arrived
    assert (trader.data / "trader.db").exists()
    assert not any("READY=1" in m.splitlines() for m in messages[:-1])
    receive_until(sock, "WATCHDOG=1")

    # A duplicate worker must never report ready.
    duplicate = trader.run("worker", NOTIFY_SOCKET=address)
    assert duplicate.returncode == 3
    later: list[str] = []
    sock.setblocking(False)
    while True:  # drain what was queued while the duplicate ran
        try:
            later.append(sock.recv(4096).decode())
        except BlockingIOError:
            break
    assert all(m == "WATCHDOG=1" for m in later), later

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=WAIT) == 0


def test_worker_notifies_filesystem_socket(trader: Trader) -> None:
    path = Path(f"/tmp/trader-notify-{uuid.uuid4().hex[:12]}.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        try:
            trader.start("worker", NOTIFY_SOCKET=str(path))
            receive_until(sock, "READY=1")
        finally:
            path.unlink()


# ----------------------------------------------------------- scheduler


def test_scheduler_once_purges_old_processed_signals(trader: Trader) -> None:
    trader.start_api()  # creates the schema

    def stamp(days: int) -> str:
        moment = datetime.now(timezone.utc) - timedelta(days=days)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    with closing(sqlite3.connect(trader.data / "trader.db")) as conn, conn:
        conn.executemany(
            "INSERT INTO signals (created, symbol, action, qty, status, processed) VALUES (?,?,?,?,?,?)",
            [
                (stamp(30), "OLDUSDT", "buy", 1, "processed", stamp(30)),
                (stamp(1), "NEWUSDT", "sell", 1, "processed", stamp(1)),
                (stamp(30), "PENDING", "buy", 1, "new", None),
            ],
        )
    result = trader.run("scheduler", "--once")
    assert result.returncode == 0, result.stderr
    with closing(sqlite3.connect(trader.data / "trader.db")) as conn:
        symbols = {row[0] for row in conn.execute("SELECT symbol FROM signals")}
    assert symbols == {"NEWUSDT", "PENDING"}
    beat = json.loads((trader.data / "heartbeat" / "scheduler.short.json").read_text())
    assert beat["purged_total"] == 1
    assert not trader.lock_file("scheduler").exists()


def test_scheduler_is_a_singleton_per_side(trader: Trader) -> None:
    first = trader.start("scheduler", TRADER_SCHEDULER_INTERVAL="60")
    wait_until(lambda: trader.lock_pid("scheduler") == first.pid, what="scheduler lock")
    second = trader.run("scheduler", "--once")
    assert second.returncode == 3
    assert f"scheduler.short is already running as pid {first.pid}" in second.stderr
    assert trader.run("scheduler", "--once", TRADE_SIDE="LONG").returncode == 0
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=WAIT) == 0
    assert not trader.lock_file("scheduler").exists()


# ------------------------------------------------------------- secrets


def test_secrets_never_appear_in_responses_or_logs(trader: Trader) -> None:
    base = trader.start_api()
    trader.start_worker()
    replies = [
        http("GET", f"{base}/api/health"),
        http("GET", f"{base}/api/trading/settings"),
        http("POST", f"{base}/api/signals", {"symbol": "ETHUSDT", "action": "sell", "qty": 2}),
        http("POST", f"{base}/api/signals", "{broken"),
        http("GET", f"{base}/api/signals"),
        http("GET", f"{base}/nope"),
    ]
    wait_until(
        lambda: http("GET", f"{base}/api/signals?status=processed").body["signals"],
        what="the signal to be processed",
    )
    outputs = [r.raw + json.dumps(r.headers) for r in replies]
    outputs += [trader.run("locks", "check").stdout, trader.run("locks", "check", "--json").stdout]
    trader.stop_all()
    outputs.append(trader.all_stderr())
    assert "access" in outputs[-1]  # the logs were actually captured
    for text in outputs:
        assert API_KEY not in text and API_SECRET not in text


# ---------------------------------------------------------- static UI


def test_static_ui_references_existing_hashed_assets() -> None:
    index = (APP_DIR / "dist" / "index.html").read_text()
    assets = re.findall(r'(?:src|href)="(assets/[^"]+)"', index)
    assert {Path(a).suffix for a in assets} == {".js", ".css"}
    for asset in assets:
        path = APP_DIR / "dist" / asset
        assert path.is_file(), asset
        assert re.fullmatch(r"app\.[0-9a-f]{6}\.(js|css)", path.name)
    script = next(APP_DIR.glob("dist/assets/app.*.js")).read_text()
    assert "/api/health" in script and "sha" in script and "mode" in script
