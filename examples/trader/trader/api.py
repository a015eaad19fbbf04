"""JSON HTTP API (stdlib ``http.server``).

Routes::

    GET  /api/health            liveness + release info (503 if unhealthy)
    GET  /api/trading/settings  trading settings for the UI
    POST /api/signals           {"symbol": "BTCUSDT", "action": "buy"|"sell", "qty": 0.5}
    GET  /api/signals[?status=new|processed]   most recent 100 signals

Everything else answers 404 JSON; the static UI is served by the web server,
not by this process.  SIGTERM stops accepting connections, lets in-flight
requests finish and exits 0.  READY=1 goes to $NOTIFY_SOCKET once listening.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import socket
import sys
import threading
import time
from contextlib import closing
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from . import __version__, db, notify
from .config import ENV_HELP, EXIT_FAILURE, EXIT_OK, Config, load_or_exit
from .runtime import redact_secrets, setup_logging, stop_event

log = logging.getLogger("trader.api")
access_log = logging.getLogger("trader.access")

MAX_BODY_BYTES = 64 * 1024
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")
ACTIONS = ("buy", "sell")

JsonBody = dict[str, Any]
Reply = tuple[int, JsonBody]


class BadRequest(ValueError):
    """Client error answered with 400 and the message."""


def parse_signal(payload: object) -> tuple[str, str, float]:
    """Validate a signal body; return ``(symbol, action, qty)`` or raise BadRequest."""
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    symbol, action, qty = payload.get("symbol"), payload.get("action"), payload.get("qty")
    if not isinstance(symbol, str) or not SYMBOL_RE.match(symbol):
        raise BadRequest("symbol must be 2-20 upper-case letters or digits, e.g. BTCUSDT")
    if action not in ACTIONS:
        raise BadRequest('action must be "buy" or "sell"')
    if isinstance(qty, bool) or not isinstance(qty, (int, float)):
        raise BadRequest("qty must be a number")
    try:
        value = float(qty)
    except OverflowError:
        raise BadRequest("qty is out of range") from None
    if not math.isfinite(value) or value <= 0:
        raise BadRequest("qty must be a finite number > 0")
    return symbol, action, value


class TraderServer(ThreadingHTTPServer):
    # Non-daemon handler threads are joined by server_close(): in-flight
    # requests finish before the process exits.
    daemon_threads = False
    block_on_close = True

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        if ":" in cfg.bind:
            self.address_family = socket.AF_INET6
        super().__init__((cfg.bind, cfg.port), TraderHandler)


class TraderHandler(BaseHTTPRequestHandler):
    server: TraderServer
    server_version = f"trader/{__version__}"
    sys_version = ""
    timeout = 15  # seconds a client may idle; bounds how long shutdown can wait

    # ----------------------------------------------------------- routes

    def health(self, _query: dict[str, list[str]]) -> Reply:
        cfg = self.server.cfg
        body: JsonBody = {
            "ok": True,
            "sha": cfg.release_sha,
            "mode": cfg.mode,
            "side": cfg.side,
            "pid": os.getpid(),
        }
        if cfg.fail_health:
            return 503, {**body, "ok": False, "error": "unhealthy (TRADER_FAIL_HEALTH=1)"}
        with closing(db.open_store(cfg, init=False)) as store:
            store.ping()
        return 200, body

    def settings(self, _query: dict[str, list[str]]) -> Reply:
        cfg = self.server.cfg
        return 200, {"ok": True, "pending_cancel_age_min": 0, "side": cfg.side, "mode": cfg.mode}

    def create_signal(self, _query: dict[str, list[str]]) -> Reply:
        symbol, action, qty = parse_signal(self._read_json())
        cfg = self.server.cfg
        with closing(db.open_store(cfg, init=False)) as store:
            signal_id = store.insert_signal(symbol, action, qty, cfg.side)
        log.info("signal %d accepted: %s %g %s", signal_id, action, qty, symbol)
        return 201, {"ok": True, "id": signal_id}

    def list_signals(self, query: dict[str, list[str]]) -> Reply:
        status = query.get("status", [None])[-1]
        if status is not None and status not in db.SIGNAL_STATUSES:
            raise BadRequest(f"status must be one of {', '.join(db.SIGNAL_STATUSES)}")
        with closing(db.open_store(self.server.cfg, init=False)) as store:
            signals = store.list_signals(status)
        return 200, {"ok": True, "signals": signals}

    ROUTES: dict[str, dict[str, Callable[[TraderHandler, dict[str, list[str]]], Reply]]] = {
        "/api/health": {"GET": health},
        "/api/trading/settings": {"GET": settings},
        "/api/signals": {"GET": list_signals, "POST": create_signal},
    }

    # --------------------------------------------------------- plumbing

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def version_string(self) -> str:
        return self.server_version

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        methods = self.ROUTES.get(url.path.rstrip("/"))
        if methods is None:
            self._send_json(404, {"ok": False, "error": "not found"})
            return
        route = methods.get("GET" if self.command == "HEAD" else self.command)
        if route is None:
            self._send_json(
                405, {"ok": False, "error": "method not allowed"}, {"Allow": ", ".join(methods)}
            )
            return
        try:
            status, body = route(self, parse_qs(url.query))
        except BadRequest as exc:
            status, body = 400, {"ok": False, "error": str(exc)}
        except db.STORE_ERRORS as exc:
            log.error("database error on %s %s: %s", self.command, url.path, exc)
            status, body = 503, {"ok": False, "error": "database unavailable"}
        self._send_json(status, body)

    def _read_json(self) -> object:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise BadRequest("a JSON body with Content-Length is required")
        if int(length) > MAX_BODY_BYTES:
            raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("body is not valid JSON") from None

    def _send_json(
        self, status: int, body: JsonBody, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON instead of the stdlib HTML page (malformed requests, unknown methods)."""
        self.close_connection = True
        self._send_json(code, {"ok": False, "error": message or HTTPStatus(code).phrase})

    def handle_one_request(self) -> None:
        self._started = time.monotonic()
        super().handle_one_request()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        elapsed_ms = (time.monotonic() - getattr(self, "_started", time.monotonic())) * 1000
        path = urlsplit(self.path).path if getattr(self, "path", None) else "-"
        access_log.info(
            "%s %s %s %s %.1fms",
            self.client_address[0],
            self.command or "-",
            path,
            int(code),
            elapsed_ms,
        )

    def log_message(self, format: str, *args: Any) -> None:
        access_log.warning("%s %s", self.client_address[0], format % args)


def serve(server: TraderServer, stop: threading.Event) -> int:
    """Serve until ``stop`` is set, then drain in-flight requests."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="http"
    )
    thread.start()
    host, port = server.server_address[:2]
    cfg = server.cfg
    log.info(
        "api listening on %s:%s mode=%s side=%s sha=%s",
        host,
        port,
        cfg.mode,
        cfg.side,
        cfg.release_sha,
    )
    notify.ready(f"listening on {host}:{port}")
    while not stop.wait(1.0):
        pass
    notify.stopping()
    log.info("stopping: no new connections, finishing in-flight requests")
    server.shutdown()
    thread.join()
    server.server_close()  # joins the request threads
    log.info("api stopped")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m trader.api",
        description=(
            "JSON API on TRADER_BIND:TRADER_PORT (/api/health, /api/trading/settings, "
            "/api/signals). Sends READY=1 via $NOTIFY_SOCKET once listening; SIGTERM drains "
            "in-flight requests and exits 0."
        ),
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    setup_logging()
    cfg = load_or_exit()
    redact_secrets(cfg.secrets)
    stop = stop_event()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        db.open_store(cfg).close()  # create the schema up front
    except db.StoreUnavailable as exc:
        log.error("database unavailable: %s", exc)
        return EXIT_FAILURE
    try:
        server = TraderServer(cfg)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", cfg.bind, cfg.port, exc)
        return EXIT_FAILURE
    return serve(server, stop)


if __name__ == "__main__":
    sys.exit(main())
