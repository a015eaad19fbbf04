"""Senex-shaped fixture: a Django project served by Daphne, with Celery for background work."""
from .celery import app as celery_app

__all__ = ["celery_app"]
