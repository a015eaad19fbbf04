from django.db import models


class Signal(models.Model):
    """A trading signal; the Celery worker marks it processed."""

    symbol = models.CharField(max_length=32)
    action = models.CharField(max_length=8)
    qty = models.IntegerField(default=1)
    status = models.CharField(max_length=16, default="new")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "signals"
