"""Celery tasks: the worker processes signals; beat's heartbeat proves the schedule runs."""
import os
import time

import redis
from celery import shared_task

HEARTBEAT_KEY = "senex:heartbeat"


@shared_task
def process_signal(signal_id: int) -> None:
    from .models import Signal

    Signal.objects.filter(pk=signal_id).update(status="processed")


@shared_task
def heartbeat() -> None:
    redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379/0")).set(HEARTBEAT_KEY, int(time.time()))
