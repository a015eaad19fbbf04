"""Minimal sd_notify(3): tell systemd about readiness, liveness and shutdown.

Every call is a no-op returning False when ``$NOTIFY_SOCKET`` is unset, so the
processes run the same way outside systemd.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("trader.notify")

SEND_TIMEOUT_S = 2.0


def sd_notify(state: str) -> bool:
    """Send ``state`` (newline-separated ``KEY=value`` pairs) to ``$NOTIFY_SOCKET``."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        log.debug("unsupported NOTIFY_SOCKET address %r", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(SEND_TIMEOUT_S)  # never stall the caller on a full queue
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)
        return False
    return True


def ready(status: str | None = None) -> bool:
    return sd_notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def watchdog() -> bool:
    return sd_notify("WATCHDOG=1")


def stopping() -> bool:
    return sd_notify("STOPPING=1")
