"""Health checks of the containers: python3 -m senex.probe web|worker|beat (exit 0 = healthy)."""
import os
import socket
import sys
import time
import urllib.request


def web() -> bool:
    with urllib.request.urlopen("http://127.0.0.1:8000/health/simple/", timeout=3) as reply:
        return reply.status == 200


def worker() -> bool:
    from senex.celery import app

    return bool(app.control.ping(destination=[f"celery@{socket.gethostname()}"], timeout=3))


def beat(max_age: int = 60) -> bool:
    import redis

    from senex.tasks import HEARTBEAT_KEY

    beat_at = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379/0")).get(HEARTBEAT_KEY)
    return beat_at is not None and time.time() - int(beat_at) < max_age


if __name__ == "__main__":
    try:
        healthy = {"web": web, "worker": worker, "beat": beat}[sys.argv[1]]()
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not raise
        print(f"unhealthy: {exc}", file=sys.stderr)
        healthy = False
    sys.exit(0 if healthy else 1)
