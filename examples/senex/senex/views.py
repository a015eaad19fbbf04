"""The pages: / (server-rendered), /health/simple/, a small JSON API and an upload into MEDIA_ROOT."""
import json
import os

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.templatetags.static import static

from .models import Signal
from .tasks import process_signal

HEALTHY = os.environ.get("SENEX_FAIL_HEALTH", "") != "1"


def index(request):
    return HttpResponse(
        "<!doctype html><html><head><title>Senex Trader</title>"
        f'<link rel="stylesheet" href="{static("senex/app.css")}"></head>'
        f"<body><h1>Senex Trader</h1><p>release {settings.RELEASE_SHA[:12]}</p></body></html>"
    )


def health_simple(request):
    ok = HEALTHY
    try:
        connection.ensure_connection()
    except Exception:  # noqa: BLE001 - any database error means unhealthy
        ok = False
    return JsonResponse({"ok": ok, "sha": settings.RELEASE_SHA}, status=200 if ok else 503)


def signals(request):
    if request.method != "POST":
        return JsonResponse({"error": "POST a signal"}, status=405)
    body = json.loads(request.body or b"{}")
    signal = Signal.objects.create(symbol=body["symbol"], action=body.get("action", "buy"), qty=body.get("qty", 1))
    process_signal.delay(signal.pk)
    return JsonResponse({"id": signal.pk}, status=201)


def signal(request, pk):
    found = Signal.objects.filter(pk=pk).first()
    if found is None:
        return JsonResponse({"error": "no such signal"}, status=404)
    return JsonResponse({"id": found.pk, "status": found.status})


def upload(request, name):
    if request.method != "POST":
        return JsonResponse({"error": "POST the file"}, status=405)
    saved = default_storage.save(f"uploads/{name}.txt", ContentFile(request.body))
    return JsonResponse({"url": settings.MEDIA_URL + saved}, status=201)
