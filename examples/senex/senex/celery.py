"""The Celery app: broker in the stack's Redis, settings from Django's (CELERY_*)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "senex.settings")

app = Celery("senex")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
